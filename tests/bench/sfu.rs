//! SFU load tool. Starts the release server as a child process (so its CPU and memory are its
//! own), fills one room with N participants that each publish about 1 Mbit/s of video in
//! 1100-byte packets and 50 audio packets a second and receive everyone else, and reports for
//! each N: forwarded packets per second, loss, the server's CPU (cores and packets per
//! core-second), send-to-receive latency p50/p99 and server memory per participant. In the same
//! run, the same traffic through a plain UDP relay (one thread, no SRTP) is the baseline.
//!
//! Run with `scripts/bench-sfu.sh [sizes] [seconds]` (builds the release server first).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use consilium_tests::webrtc_client::{Client, Rates};
use serde_json::{Value, json};

const PASSWORD: &str = "bench-password-123";

fn ticks_per_second() -> f64 {
    100.0 // USER_HZ on Linux
}

/// CPU seconds (user + system) from a `/proc/.../stat` line.
fn cpu_seconds(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 =
        fields.get(11..13).map(|f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()).unwrap_or(0.0);
    ticks / ticks_per_second()
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "an index within the slice")]
fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

struct Server {
    child: Child,
    addr: SocketAddr,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_binary() -> std::path::PathBuf {
    // target/release/deps/sfu-… → target/release/consilium
    let exe = std::env::current_exe().expect("own path");
    exe.parent().and_then(|d| d.parent()).map(|d| d.join("consilium")).expect("target dir")
}

async fn start_server(doctors: usize) -> Server {
    let bin = server_binary();
    assert!(bin.exists(), "{} is missing: run scripts/bench-sfu.sh, which builds it", bin.display());
    let dir = TempDir(std::env::temp_dir().join(format!("consilium-sfu-bench-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    for i in 0..doctors {
        let mut add = Command::new(&bin)
            .args([
                "user",
                "add",
                "--email",
                &format!("doctor{i}@bench.test"),
                "--name",
                &format!("Doctor {i}"),
            ])
            .args(["--role", "doctor", "--password-stdin"])
            .env("CONSILIUM_DATA_DIR", &dir.0)
            .env("CONSILIUM_DEMO", "false")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        writeln!(add.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        assert!(add.wait().unwrap().success());
    }
    let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new(&bin)
        .env("CONSILIUM_DATA_DIR", &dir.0)
        .env("CONSILIUM_BIND", addr.to_string())
        .env("CONSILIUM_DEMO", "false")
        .env("CONSILIUM_LOG", "warn")
        .env("CONSILIUM_LOGIN_BURST_ADDR", "10000")
        .env("CONSILIUM_MEDIA_ADDRS", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.get(format!("http://{addr}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Server { child, addr, _dir: dir }
}

async fn tokens(addr: SocketAddr, n: usize) -> Vec<String> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    for i in 0..n {
        let v: Value = http
            .post(format!("http://{addr}/api/v1/auth/token"))
            .json(&json!({"email": format!("doctor{i}@bench.test"), "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        out.push(v["access_token"].as_str().expect("a token").to_string());
    }
    out
}

struct Row {
    n: usize,
    pps: f64,
    loss: f64,
    cores: f64,
    per_core: f64,
    p50: f64,
    p99: f64,
    mib_per_participant: f64,
}

async fn sfu_round(server: &Server, tokens: &[String], n: usize, seconds: u64) -> Row {
    let http = reqwest::Client::new();
    let room: Value = http
        .post(format!("http://{}/api/v1/rooms", server.addr))
        .bearer_auth(&tokens[0])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let room = room["id"].as_str().unwrap().to_string();
    let pid = server.child.id();
    let rss_before = rss_mib(pid);
    let mut clients = Vec::new();
    for token in &tokens[..n] {
        let mut c = Client::join(server.addr, &room, token).await.unwrap();
        c.wait_for("welcome").await.unwrap();
        c.publish(Rates::REALISTIC).await.unwrap();
        clients.push(c);
    }
    // Negotiation and keyframes settle.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let stat = format!("/proc/{pid}/stat");
    let snapshot = |clients: &[Client]| -> (u64, u64) {
        clients.iter().fold((0, 0), |(s, r), c| {
            (s + c.stats.sent.load(Ordering::Relaxed), r + c.stats.received.load(Ordering::Relaxed))
        })
    };
    for c in &clients {
        c.stats.latencies_us.lock().unwrap().clear();
        c.stats.record_latency.store(true, Ordering::Relaxed);
    }
    let (sent0, recv0) = snapshot(&clients);
    let cpu0 = cpu_seconds(&stat);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (sent1, recv1) = snapshot(&clients);
    let cpu1 = cpu_seconds(&stat);
    let elapsed = t0.elapsed().as_secs_f64();
    for c in &clients {
        c.stats.record_latency.store(false, Ordering::Relaxed);
    }
    let rss = rss_mib(pid);
    let mut lat: Vec<u32> =
        clients.iter().flat_map(|c| c.stats.latencies_us.lock().unwrap().clone()).collect();
    lat.sort_unstable();
    // Each packet sent is due at the n - 1 others.
    let expected = (sent1 - sent0) as f64 * (n as f64 - 1.0);
    let forwarded = (recv1 - recv0) as f64;
    for c in clients {
        c.close().await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cores = (cpu1 - cpu0) / elapsed;
    Row {
        n,
        pps: forwarded / elapsed,
        loss: (1.0 - forwarded / expected).max(0.0),
        cores,
        per_core: forwarded / (cpu1 - cpu0).max(1e-9),
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        mib_per_participant: (rss - rss_before) / n as f64,
    }
}

fn now_us() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros())
        .unwrap_or(u64::MAX)
}

/// The baseline: one thread that sends every datagram it receives to every other participant.
fn relay_round(n: usize, seconds: u64) -> Row {
    let relay = UdpSocket::bind("127.0.0.1:0").unwrap();
    relay.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let relay_addr = relay.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let forwarded = Arc::new(AtomicU64::new(0));
    let relay_thread = {
        let (stop, forwarded) = (stop.clone(), forwarded.clone());
        std::thread::Builder::new()
            .name("udp-relay".into())
            .spawn(move || {
                let mut peers: Vec<SocketAddr> = Vec::new();
                let mut buf = [0u8; 1500];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((len, from)) = relay.recv_from(&mut buf) else { continue };
                    if !peers.contains(&from) {
                        peers.push(from);
                    }
                    for p in peers.iter().filter(|p| **p != from) {
                        if relay.send_to(&buf[..len], p).is_ok() {
                            forwarded.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
            .unwrap()
    };
    let sent = Arc::new(AtomicU64::new(0));
    let received = Arc::new(AtomicU64::new(0));
    let latencies: Arc<std::sync::Mutex<Vec<u32>>> = Arc::default();
    let recording = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for _ in 0..n {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(relay_addr).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let rx = socket.try_clone().unwrap();
        let (stop_tx, sent) = (stop.clone(), sent.clone());
        threads.push(std::thread::spawn(move || {
            let r = Rates::REALISTIC;
            let (video, audio) = (vec![0u8; r.video_bytes], vec![0u8; 160]);
            let start = Instant::now();
            let (mut v, mut a) = (0u64, 0u64);
            while !stop_tx.load(Ordering::Relaxed) {
                let t = start.elapsed().as_secs_f64();
                while (v as f64) < t * f64::from(r.video_pps) {
                    let mut p = video.clone();
                    p[..8].copy_from_slice(&now_us().to_be_bytes());
                    let _ = socket.send(&p);
                    sent.fetch_add(1, Ordering::Relaxed);
                    v += 1;
                }
                while (a as f64) < t * f64::from(r.audio_pps) {
                    let mut p = audio.clone();
                    p[..8].copy_from_slice(&now_us().to_be_bytes());
                    let _ = socket.send(&p);
                    sent.fetch_add(1, Ordering::Relaxed);
                    a += 1;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }));
        let (stop_rx, received, latencies, recording) =
            (stop.clone(), received.clone(), latencies.clone(), recording.clone());
        threads.push(std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !stop_rx.load(Ordering::Relaxed) {
                if let Ok(len) = rx.recv(&mut buf)
                    && len >= 8
                {
                    received.fetch_add(1, Ordering::Relaxed);
                    if recording.load(Ordering::Relaxed) {
                        let sent = u64::from_be_bytes(buf[..8].try_into().unwrap());
                        latencies
                            .lock()
                            .unwrap()
                            .push(u32::try_from(now_us().saturating_sub(sent)).unwrap_or(u32::MAX));
                    }
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(2));
    let relay_stat = || -> f64 {
        // The relay thread's own CPU time.
        std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|t| {
                let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
                (comm.trim() == "udp-relay")
                    .then(|| cpu_seconds(&t.path().join("stat").display().to_string()))
            })
            .sum()
    };
    let (s0, r0, f0, c0) = (
        sent.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed),
        forwarded.load(Ordering::Relaxed),
        relay_stat(),
    );
    recording.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let elapsed = t0.elapsed().as_secs_f64();
    recording.store(false, Ordering::Relaxed);
    let (s1, r1, f1, c1) = (
        sent.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed),
        forwarded.load(Ordering::Relaxed),
        relay_stat(),
    );
    stop.store(true, Ordering::Relaxed);
    relay_thread.join().unwrap();
    for t in threads {
        let _ = t.join();
    }
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort_unstable();
    let expected = (s1 - s0) as f64 * (n as f64 - 1.0);
    let got = (r1 - r0) as f64;
    // Only the relay thread's CPU is charged, as only the server's is for the SFU.
    Row {
        n,
        pps: (f1 - f0) as f64 / elapsed,
        loss: (1.0 - got / expected).max(0.0),
        cores: (c1 - c0) / elapsed,
        per_core: (f1 - f0) as f64 / (c1 - c0).max(1e-9),
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        mib_per_participant: f64::NAN,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let sizes: Vec<usize> = arg("--sizes")
        .unwrap_or_else(|| "2,4,6,8,10,12".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let seconds: u64 = arg("--seconds").and_then(|s| s.parse().ok()).unwrap_or(8);
    let max = sizes.iter().copied().max().unwrap_or(2);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let server = start_server(max).await;
        let tokens = tokens(server.addr, max).await;
        println!("SFU load: each participant publishes {:?}; {seconds} s per size", Rates::REALISTIC);
        println!(
            "{:>3} | {:>9} {:>7} {:>6} {:>10} {:>8} {:>8} {:>8} | relay {:>9} {:>7} {:>10} {:>8} {:>8} | per-core ratio",
            "N", "fwd pkt/s", "loss %", "cores", "pkt/core·s", "p50 ms", "p99 ms", "MiB/peer", "pkt/s", "loss %", "pkt/core·s", "p50 ms", "p99 ms"
        );
        let mut largest_ok = 0;
        let mut results: HashMap<usize, (f64, f64)> = HashMap::new();
        for &n in &sizes {
            let s = sfu_round(&server, &tokens, n, seconds).await;
            let r = tokio::task::spawn_blocking(move || relay_round(n, seconds)).await.unwrap();
            if s.loss < 0.005 {
                largest_ok = largest_ok.max(n);
            }
            results.insert(n, (s.per_core, r.per_core));
            println!(
                "{:>3} | {:>9.0} {:>7.2} {:>6.2} {:>10.0} {:>8.2} {:>8.2} {:>8.2} | relay {:>9.0} {:>7.2} {:>10.0} {:>8.2} {:>8.2} | {:.2}",
                s.n, s.pps, s.loss * 100.0, s.cores, s.per_core, s.p50, s.p99, s.mib_per_participant,
                r.pps, r.loss * 100.0, r.per_core, r.p50, r.p99, s.per_core / r.per_core
            );
        }
        println!("largest room forwarded with < 0.5 % loss: {largest_ok} participants");
        println!("server RSS at the end: {:.1} MiB", rss_mib(server.child.id()));
    });
}
