//! Headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`).
//! [`Browser::start`] returns `None` (the test then skips with a message) when chromedriver
//! is not installed, except under CI (`CI=true`), where a missing browser is a failure.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// A window shape and language to run a page in.
#[derive(Clone, Copy, Debug)]
pub struct Viewport {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
    pub mobile: bool,
}

pub const DESKTOP: Viewport = Viewport { name: "desktop", width: 1280, height: 800, mobile: false };
/// Chromium switches for a fake camera and microphone, granted without a prompt, and WebRTC
/// over loopback with plain (not mDNS) host candidates.
pub const FAKE_MEDIA: &[&str] = &[
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
];

/// Tests that stream video hold this, so two of them never share this machine's two cores.
pub static MEDIA: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub const PHONE: Viewport = Viewport { name: "phone", width: 390, height: 844, mobile: true };

/// A chromedriver process and one browser session on it.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: TempProfile,
}

struct TempProfile(PathBuf);

impl Drop for Browser {
    /// A test that panics never reaches `close`: kill chromedriver's whole process group, or
    /// the browsers it started would keep running (and streaming video) after the test.
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill").args(["-KILL", &format!("-{pid}")]).status();
        }
    }
}

impl Drop for TempProfile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn chromedriver_path() -> Option<PathBuf> {
    let candidates = [std::env::var("CHROMEDRIVER").ok(), Some("/usr/bin/chromedriver".into())];
    candidates.into_iter().flatten().map(PathBuf::from).find(|p| p.exists())
}

/// axe-core's browser script, from the file `CONSILIUM_AXE` names (`.ci/run` installs the
/// pinned npm package); `None` outside CI when unset.
fn axe_source() -> Option<&'static str> {
    static AXE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    AXE.get_or_init(|| match std::env::var("CONSILIUM_AXE") {
        Ok(path) => {
            Some(std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("CONSILIUM_AXE={path}: {e}")))
        }
        Err(_) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CONSILIUM_AXE is not set: CI checks every page with axe-core")
        }
        Err(_) => {
            eprintln!("CONSILIUM_AXE not set (path of axe-core's axe.min.js): accessibility checks skipped");
            None
        }
    })
    .as_deref()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with the given language and viewport.
    pub async fn start(lang: &str, vp: Viewport) -> Option<Browser> {
        Browser::start_with(lang, vp, &[]).await
    }

    /// As [`start`](Self::start), with extra Chromium switches (e.g. fake media devices).
    pub async fn start_with(lang: &str, vp: Viewport, extra_args: &[&str]) -> Option<Browser> {
        let Some(driver_path) = chromedriver_path() else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("chromedriver is not installed; .ci/run installs Debian's chromium-driver");
            }
            eprintln!(
                "SKIPPED browser test: install chromium and chromium-driver (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = free_port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            // Its own process group, so a failed test can take chromium down with it.
            .process_group(0)
            .spawn()
            .expect("starting chromedriver");
        let profile =
            std::env::temp_dir().join(format!("consilium-chromium-{}", uuid::Uuid::now_v7().simple()));
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.push(format!("--lang={lang}"));
        args.push(format!("--window-size={},{}", vp.width, vp.height));
        args.extend(extra_args.iter().map(|s| s.to_string()));
        let mut chrome = json!({
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": args,
            "prefs": {"intl.accept_languages": lang},
        });
        if vp.mobile {
            chrome["mobileEmulation"] = json!({"deviceMetrics": {"width": vp.width, "height": vp.height, "pixelRatio": 2.0, "touch": true}});
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), chrome);
        let url = format!("http://127.0.0.1:{port}");
        let mut last_err = None;
        for _ in 0..50 {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return Some(Browser { client, driver, _profile: TempProfile(profile) }),
                Err(e) => {
                    last_err = Some(e);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        panic!("could not start a Chromium session: {last_err:?}");
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let el =
            self.client.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        el.clear().await.unwrap();
        el.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        let el =
            self.client.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        el.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Visible text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let el =
            self.client.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        el.text().await.unwrap()
    }

    /// Waits (up to 10 s) until the element's text contains `needle`, riding out page loads;
    /// returns the text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let mut last = String::new();
        for _ in 0..100 {
            if let Ok(el) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = el.text().await
            {
                if text.contains(needle) {
                    return text;
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never contained {needle:?}; last text: {last}");
    }

    pub async fn eval(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Frames decoded so far per remote stream (the room page's `getStats` probe).
    pub async fn frames_decoded(&self) -> serde_json::Map<String, Value> {
        let v = self.eval("return (window.consiliumCall || {}).framesDecoded || {}").await;
        v.as_object().cloned().unwrap_or_default()
    }

    /// Waits (20 s at most) until `streams` remote videos decode frames, then checks that each
    /// keeps decoding; returns the stream ids.
    pub async fn wait_decoding(&self, streams: usize) -> Vec<String> {
        let mut first = serde_json::Map::new();
        for _ in 0..200 {
            first = self.frames_decoded().await;
            if first.values().filter(|n| n.as_u64().unwrap_or(0) > 0).count() >= streams {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let decoding: Vec<String> =
            first.iter().filter(|(_, n)| n.as_u64().unwrap_or(0) > 0).map(|(k, _)| k.clone()).collect();
        if decoding.len() < streams {
            let state = self
                .eval("const c = (window.consiliumCall || {}).call; return c ? JSON.stringify({pub: c.pub && [c.pub.connectionState, c.pub.iceConnectionState, c.pub.signalingState], sub: c.sub && [c.sub.connectionState, c.sub.iceConnectionState, c.sub.signalingState], streams: [...c.trackStream.values()]}) : 'no call'")
                .await;
            panic!("{streams} remote videos decoding; saw {first:?}; connections {state}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let later = self.frames_decoded().await;
        for id in &decoding {
            let (a, b) = (first[id].as_u64().unwrap_or(0), later[id].as_u64().unwrap_or(0));
            assert!(b > a, "framesDecoded of {id} rises: {a} then {b}");
        }
        decoding
    }

    /// Runs axe-core (npm `axe-core`, an outside checker of WCAG 2.1 A/AA and best practice)
    /// on the page as it is now and fails on any critical or serious violation, naming each
    /// with the elements it found. `what` names the page and state in the message. Skipped with
    /// a message when axe-core is not installed, except under CI.
    pub async fn assert_accessible(&self, what: &str) {
        let Some(found) = self.accessibility_violations().await else { return };
        assert!(
            found.is_empty(),
            "{what}: {} critical or serious accessibility violations:\n{}",
            found.len(),
            found.join("\n")
        );
    }

    /// axe-core's critical and serious violations on the page as it is now, one line each with
    /// the elements found; `None` when axe-core is not installed (outside CI).
    pub async fn accessibility_violations(&self) -> Option<Vec<String>> {
        let axe = axe_source()?;
        let script = format!(
            r#"{axe}
            ;const done = arguments[arguments.length - 1];
            axe.run(document, {{ resultTypes: ["violations"] }}).then((r) => done(r.violations
              .filter((v) => v.impact === "critical" || v.impact === "serious")
              .map((v) => `${{v.impact}} ${{v.id}}: ${{v.help}}\n    ` + v.nodes.slice(0, 6)
                .map((n) => n.target.join(" ") + " | " + (n.failureSummary || "").replace(/\n/g, " ")).join("\n    "))),
              (e) => done(["axe failed: " + e]));"#
        );
        let found = self.client.execute_async(&script, vec![]).await.unwrap_or_else(|e| panic!("axe: {e}"));
        Some(serde_json::from_value(found).unwrap_or_else(|e| panic!("axe's answer: {e}")))
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_string()
    }

    /// Saves a PNG under `$CONSILIUM_SCREENSHOTS` (default `target/screenshots`).
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = std::env::var("CONSILIUM_SCREENSHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/screenshots")));
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}
