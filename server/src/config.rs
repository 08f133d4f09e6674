//! Runtime configuration: `CONSILIUM_*` environment variables, optionally preceded by a
//! `KEY=VALUE` file named by `CONSILIUM_CONFIG`. The environment wins over the file.
//! Every setting has a default so that a bare `consilium` starts on the embedded database.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

/// Output format of the structured logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default on a terminal).
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Everything the process needs to know at start. `Debug` never prints the secret.
#[derive(Clone)]
pub struct Config {
    /// Address the HTTP server binds (`CONSILIUM_BIND`, default 127.0.0.1:8080).
    pub bind: SocketAddr,
    /// Directory for the SQLite file, blobs and the generated secret (`CONSILIUM_DATA_DIR`, `./data`).
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://…` (`CONSILIUM_DATABASE_URL`); unset means SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// HS256 signing key for access tokens (`CONSILIUM_JWT_SECRET`); generated and kept under
    /// `data_dir` when unset.
    pub jwt_secret: Option<String>,
    /// Lifetime of an access token (`CONSILIUM_TOKEN_TTL_SECS`, 12 h).
    pub token_ttl: Duration,
    /// Whether the login cookie carries `Secure` (`CONSILIUM_COOKIE_SECURE`); `auto` means
    /// "when the request arrived over TLS, as told by `X-Forwarded-Proto` from a trusted proxy".
    pub cookie_secure: CookieSecure,
    /// Trust `X-Forwarded-For`/`X-Forwarded-Proto` from a reverse proxy (`CONSILIUM_TRUST_PROXY`).
    pub trust_proxy: bool,
    /// Failed-login budget per account: burst size (`CONSILIUM_LOGIN_BURST_ACCOUNT`, 5).
    pub login_burst_account: u32,
    /// Login budget per client address: burst size (`CONSILIUM_LOGIN_BURST_ADDR`, 20).
    pub login_burst_addr: u32,
    /// One login attempt is given back every this many seconds (`CONSILIUM_LOGIN_REFILL_SECS`, 30).
    pub login_refill: Duration,
    /// Database pool sizes and waiting bounds (`CONSILIUM_DB_POOL_SIZE`,
    /// `CONSILIUM_DB_ACQUIRE_TIMEOUT_MS`, `CONSILIUM_DB_WRITE_QUEUE`, `CONSILIUM_DB_GROUP_COMMIT`).
    pub db: crate::db::DbSettings,
    /// Requests in flight per class before new ones wait and then get 503
    /// (`CONSILIUM_MAX_IN_FLIGHT_API`, `_PAGES`, `_UPLOADS`, `_WEBSOCKETS`,
    /// `CONSILIUM_ADMISSION_WAIT_MS`).
    pub admission: crate::ops::admission::Limits,
    /// Largest accepted request body in bytes for JSON and forms (`CONSILIUM_MAX_BODY_BYTES`, 64 KiB).
    pub max_body_bytes: usize,
    /// Log format (`CONSILIUM_LOG_FORMAT`: `pretty` or `json`).
    pub log_format: LogFormat,
    /// Seed the demo clinic into an empty embedded database at first start
    /// (`CONSILIUM_DEMO`, default true; never applies to PostgreSQL).
    pub demo_on_first_start: bool,
    /// Address people use to reach this server, for links in emails and calendar feeds
    /// (`CONSILIUM_PUBLIC_URL`, default `http://` + the bind address).
    pub public_url: Option<String>,
    /// Outgoing mail server, e.g. `smtps://user:pass@mail.example.org` or `smtp://127.0.0.1:25`
    /// (`CONSILIUM_SMTP_URL`); unset means reminders are recorded, not emailed.
    pub smtp_url: Option<String>,
    /// Sender of reminder emails (`CONSILIUM_SMTP_FROM`).
    pub smtp_from: String,
    /// How often the reminder worker looks for due reminders (`CONSILIUM_REMINDER_INTERVAL_SECS`, 30).
    pub reminder_interval: Duration,
    /// Shared secret of the TURN server's REST API (coturn `static-auth-secret`,
    /// `CONSILIUM_TURN_SECRET`); unset means no TURN credentials are handed out.
    pub turn_secret: Option<String>,
    /// TURN/STUN URIs for browsers, comma-separated (`CONSILIUM_TURN_URLS`), e.g.
    /// `turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349`.
    pub turn_urls: Vec<String>,
    /// Lifetime of TURN credentials (`CONSILIUM_TURN_TTL_SECS`, 3600).
    pub turn_ttl: Duration,
    /// Media addresses, UDP port range and 1:1 NAT address (`CONSILIUM_MEDIA_ADDRS`,
    /// `CONSILIUM_MEDIA_PORTS`, `CONSILIUM_MEDIA_PUBLIC_IP`).
    pub media: crate::media::MediaConfig,
    /// Largest image upload in bytes (`CONSILIUM_MAX_UPLOAD_BYTES`, 20 MiB).
    pub max_upload_bytes: usize,
    /// Largest image decoded: pixels per side and in all (`CONSILIUM_MAX_IMAGE_SIDE`, 16384;
    /// `CONSILIUM_MAX_IMAGE_PIXELS`, 64 Mi).
    pub image_limits: crate::imaging::Limits,
    /// Images decoded at once, uploads and DICOM re-renders (`CONSILIUM_IMAGE_DECODERS`,
    /// default: the number of cores).
    pub image_decoders: usize,
    /// Decodes waiting for a slot before new ones get 503 (`CONSILIUM_IMAGE_DECODE_QUEUE`, 16).
    pub image_decode_queue: usize,
    /// Where the diagnosis models live, one folder each (`CONSILIUM_MODELS_DIR`, `./models`).
    pub models_dir: PathBuf,
    /// Load every model at start, in the background (`CONSILIUM_MODELS_PRELOAD`, false): the
    /// first analysis is then about a second faster, at about 250 MiB more resident memory
    /// from the start. Otherwise each model loads on first use.
    pub models_preload: bool,
    /// Inference engine: `tract` (default) or `ort` (`CONSILIUM_INFERENCE_ENGINE`).
    pub inference_engine: String,
    /// Path of `libonnxruntime.so` for the `ort` engine (`CONSILIUM_ORT_LIB`).
    pub ort_library: Option<PathBuf>,
    /// Inference threads (`CONSILIUM_INFERENCE_WORKERS`, default: the number of cores).
    pub inference_workers: usize,
    /// Analyses waiting for a thread before new ones get 503 (`CONSILIUM_INFERENCE_QUEUE`, 16).
    pub inference_queue: usize,
    /// Longest an analysis, explanation included, may take (`CONSILIUM_INFERENCE_TIMEOUT_SECS`, 120).
    pub inference_timeout: Duration,
}

/// See [`Config::cookie_secure`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieSecure {
    Always,
    Never,
    Auto,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_deref().map(redact_url))
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<redacted>"))
            .field("token_ttl", &self.token_ttl)
            .field("cookie_secure", &self.cookie_secure)
            .field("trust_proxy", &self.trust_proxy)
            .field("login_burst_account", &self.login_burst_account)
            .field("login_burst_addr", &self.login_burst_addr)
            .field("login_refill", &self.login_refill)
            .field("db", &self.db)
            .field("admission", &self.admission)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("log_format", &self.log_format)
            .field("demo_on_first_start", &self.demo_on_first_start)
            .field("public_url", &self.public_url)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("smtp_from", &self.smtp_from)
            .field("reminder_interval", &self.reminder_interval)
            .field("turn_secret", &self.turn_secret.as_ref().map(|_| "<redacted>"))
            .field("turn_urls", &self.turn_urls)
            .field("turn_ttl", &self.turn_ttl)
            .field("media", &self.media)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("image_limits", &self.image_limits)
            .field("image_decoders", &self.image_decoders)
            .field("image_decode_queue", &self.image_decode_queue)
            .field("models_dir", &self.models_dir)
            .field("models_preload", &self.models_preload)
            .field("inference_engine", &self.inference_engine)
            .field("ort_library", &self.ort_library)
            .field("inference_workers", &self.inference_workers)
            .field("inference_queue", &self.inference_queue)
            .field("inference_timeout", &self.inference_timeout)
            .finish()
    }
}

/// Hides the password of a `scheme://user:password@host/db` URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}://{}:<redacted>@{}", &url[..s], user, &url[at + 1..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            jwt_secret: None,
            token_ttl: Duration::from_secs(12 * 3600),
            cookie_secure: CookieSecure::Auto,
            trust_proxy: false,
            login_burst_account: 5,
            login_burst_addr: 20,
            login_refill: Duration::from_secs(30),
            db: Default::default(),
            admission: Default::default(),
            max_body_bytes: 64 * 1024,
            log_format: LogFormat::Pretty,
            demo_on_first_start: true,
            public_url: None,
            smtp_url: None,
            smtp_from: "Consilium <noreply@localhost>".into(),
            reminder_interval: Duration::from_secs(30),
            turn_secret: None,
            turn_urls: Vec::new(),
            turn_ttl: Duration::from_secs(3600),
            media: Default::default(),
            max_upload_bytes: 20 * 1024 * 1024,
            image_limits: Default::default(),
            image_decoders: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            image_decode_queue: 16,
            models_dir: PathBuf::from("models"),
            models_preload: false,
            inference_engine: "tract".into(),
            ort_library: None,
            inference_workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            inference_queue: 16,
            inference_timeout: Duration::from_secs(120),
        }
    }
}

impl Config {
    /// Reads the process environment (and the file it may name).
    pub fn from_env() -> anyhow::Result<Config> {
        let mut vars: HashMap<String, String> = HashMap::new();
        if let Ok(path) = std::env::var("CONSILIUM_CONFIG") {
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("reading config file {path}"))?;
            vars.extend(parse_env_file(&text)?);
        }
        vars.extend(std::env::vars().filter(|(k, _)| k.starts_with("CONSILIUM_")));
        Config::from_map(&vars)
    }

    /// Builds a configuration from `CONSILIUM_*` pairs; unknown keys are an error so that a
    /// typo does not silently fall back to a default.
    pub fn from_map(vars: &HashMap<String, String>) -> anyhow::Result<Config> {
        let mut c = Config::default();
        for (key, value) in vars {
            let v = value.trim();
            match key.as_str() {
                "CONSILIUM_CONFIG" => {}
                "CONSILIUM_BIND" => c.bind = parse(key, v)?,
                "CONSILIUM_DATA_DIR" => c.data_dir = PathBuf::from(v),
                "CONSILIUM_DATABASE_URL" => c.database_url = non_empty(v),
                "CONSILIUM_JWT_SECRET" => {
                    if !v.is_empty() && v.len() < 32 {
                        bail!("CONSILIUM_JWT_SECRET must be at least 32 characters");
                    }
                    c.jwt_secret = non_empty(v);
                }
                "CONSILIUM_TOKEN_TTL_SECS" => c.token_ttl = Duration::from_secs(parse(key, v)?),
                "CONSILIUM_COOKIE_SECURE" => {
                    c.cookie_secure = match v {
                        "true" | "1" | "always" => CookieSecure::Always,
                        "false" | "0" | "never" => CookieSecure::Never,
                        "auto" | "" => CookieSecure::Auto,
                        _ => bail!("CONSILIUM_COOKIE_SECURE must be true, false or auto"),
                    }
                }
                "CONSILIUM_TRUST_PROXY" => c.trust_proxy = parse_bool(key, v)?,
                "CONSILIUM_LOGIN_BURST_ACCOUNT" => c.login_burst_account = parse_positive(key, v)?,
                "CONSILIUM_LOGIN_BURST_ADDR" => c.login_burst_addr = parse_positive(key, v)?,
                "CONSILIUM_LOGIN_REFILL_SECS" => {
                    c.login_refill = Duration::from_secs(parse_positive(key, v)?.into())
                }
                "CONSILIUM_MAX_BODY_BYTES" => c.max_body_bytes = parse(key, v)?,
                "CONSILIUM_DB_POOL_SIZE" => c.db.pool_size = Some(parse_positive(key, v)?),
                "CONSILIUM_DB_ACQUIRE_TIMEOUT_MS" => {
                    c.db.acquire_timeout = Duration::from_millis(parse_positive(key, v)?.into())
                }
                "CONSILIUM_DB_WRITE_QUEUE" => c.db.write_queue = parse_positive(key, v)? as usize,
                "CONSILIUM_DB_GROUP_COMMIT" => c.db.group_commit = parse_positive(key, v)? as usize,
                "CONSILIUM_MAX_IN_FLIGHT_API" => c.admission.api = parse_positive(key, v)? as usize,
                "CONSILIUM_MAX_IN_FLIGHT_PAGES" => c.admission.pages = parse_positive(key, v)? as usize,
                "CONSILIUM_MAX_IN_FLIGHT_UPLOADS" => c.admission.uploads = parse_positive(key, v)? as usize,
                "CONSILIUM_MAX_IN_FLIGHT_WEBSOCKETS" => {
                    c.admission.websockets = parse_positive(key, v)? as usize
                }
                "CONSILIUM_ADMISSION_WAIT_MS" => c.admission.wait = Duration::from_millis(parse(key, v)?),
                "CONSILIUM_MAX_UPLOAD_BYTES" => c.max_upload_bytes = parse_positive(key, v)? as usize,
                "CONSILIUM_MAX_IMAGE_SIDE" => c.image_limits.max_side = parse_positive(key, v)?,
                "CONSILIUM_MAX_IMAGE_PIXELS" => c.image_limits.max_pixels = parse_positive(key, v)?.into(),
                "CONSILIUM_MODELS_DIR" => c.models_dir = PathBuf::from(v),
                "CONSILIUM_MODELS_PRELOAD" => c.models_preload = parse_bool(key, v)?,
                "CONSILIUM_INFERENCE_ENGINE" => {
                    if !matches!(v, "tract" | "ort") {
                        bail!("CONSILIUM_INFERENCE_ENGINE must be tract or ort");
                    }
                    c.inference_engine = v.to_string();
                }
                "CONSILIUM_ORT_LIB" => c.ort_library = non_empty(v).map(PathBuf::from),
                "CONSILIUM_IMAGE_DECODERS" => c.image_decoders = parse_positive(key, v)? as usize,
                "CONSILIUM_IMAGE_DECODE_QUEUE" => c.image_decode_queue = parse_positive(key, v)? as usize,
                "CONSILIUM_INFERENCE_WORKERS" => c.inference_workers = parse_positive(key, v)? as usize,
                "CONSILIUM_INFERENCE_QUEUE" => c.inference_queue = parse_positive(key, v)? as usize,
                "CONSILIUM_INFERENCE_TIMEOUT_SECS" => {
                    c.inference_timeout = Duration::from_secs(parse_positive(key, v)?.into())
                }
                "CONSILIUM_LOG_FORMAT" => {
                    c.log_format = match v {
                        "json" => LogFormat::Json,
                        "pretty" | "" => LogFormat::Pretty,
                        _ => bail!("CONSILIUM_LOG_FORMAT must be pretty or json"),
                    }
                }
                "CONSILIUM_DEMO" => c.demo_on_first_start = parse_bool(key, v)?,
                "CONSILIUM_PUBLIC_URL" => c.public_url = non_empty(v.trim_end_matches('/')),
                "CONSILIUM_SMTP_URL" => c.smtp_url = non_empty(v),
                "CONSILIUM_SMTP_FROM" => c.smtp_from = v.to_string(),
                "CONSILIUM_TURN_SECRET" => c.turn_secret = non_empty(v),
                "CONSILIUM_TURN_URLS" => {
                    c.turn_urls =
                        v.split(',').map(str::trim).filter(|u| !u.is_empty()).map(String::from).collect();
                    if let Some(bad) = c
                        .turn_urls
                        .iter()
                        .find(|u| !["turn:", "turns:", "stun:"].iter().any(|p| u.starts_with(p)))
                    {
                        bail!("CONSILIUM_TURN_URLS: {bad:?} is not a turn:, turns: or stun: URI");
                    }
                }
                "CONSILIUM_TURN_TTL_SECS" => c.turn_ttl = Duration::from_secs(parse_positive(key, v)?.into()),
                "CONSILIUM_MEDIA_ADDRS" => {
                    c.media.addrs = v
                        .split(',')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .map(|a| parse::<std::net::IpAddr>(key, a))
                        .collect::<anyhow::Result<_>>()?;
                    if c.media.addrs.iter().any(|a| a.is_unspecified()) {
                        bail!("CONSILIUM_MEDIA_ADDRS: name the addresses to bind, not 0.0.0.0 or ::");
                    }
                }
                "CONSILIUM_MEDIA_PORTS" => {
                    let range = v.split_once('-').and_then(|(a, b)| {
                        Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?))
                    });
                    match range {
                        Some((low, high)) if low > 0 && low <= high => c.media.ports = Some((low, high)),
                        _ => bail!("CONSILIUM_MEDIA_PORTS must be a range like 40000-40999"),
                    }
                }
                "CONSILIUM_MEDIA_PUBLIC_IP" => c.media.public_ip = Some(parse(key, v)?),
                "CONSILIUM_REMINDER_INTERVAL_SECS" => {
                    c.reminder_interval = Duration::from_secs(parse_positive(key, v)?.into())
                }
                // Read by the logger and by the test harness, not here.
                "CONSILIUM_LOG" | "CONSILIUM_TEST_DATABASE_URL" => {}
                other => bail!("unknown setting {other}: see the configuration table in README.md"),
            }
        }
        Ok(c)
    }

    /// The database URL in effect: the configured one, or the embedded SQLite file.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("consilium.db").display()),
        }
    }

    /// Where the models are. A directory set with `CONSILIUM_MODELS_DIR` is taken as it is.
    /// The default, `models`, is looked for in the working directory, then in the data
    /// directory, beside the executable and up to three folders above it (`target/release/`
    /// of a checkout), then in the checkout the binary was built from: the shipped models are
    /// found wherever the server is started from.
    pub fn models_dir_found(&self) -> PathBuf {
        if self.models_dir.is_dir() || self.models_dir != Path::new("models") {
            return self.models_dir.clone();
        }
        let beside_exe = std::env::current_exe()
            .ok()
            .into_iter()
            .flat_map(|exe| exe.ancestors().skip(1).take(4).map(|d| d.join("models")).collect::<Vec<_>>());
        let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        std::iter::once(self.data_dir.join("models"))
            .chain(beside_exe)
            .chain([built_from])
            .find(|d| d.is_dir())
            .unwrap_or_else(|| self.models_dir.clone())
    }

    /// Base URL for links that leave the browser (emails, calendar feeds).
    pub fn base_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.bind))
    }

    /// True when the embedded SQLite default is in use.
    pub fn is_embedded(&self) -> bool {
        self.database_url.as_deref().is_none_or(|u| u.starts_with("sqlite:"))
    }
}

fn non_empty(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_string())
}

fn parse<T: std::str::FromStr>(key: &str, v: &str) -> anyhow::Result<T> {
    v.parse().map_err(|_| anyhow::anyhow!("{key}: cannot read {v:?}"))
}

fn parse_positive(key: &str, v: &str) -> anyhow::Result<u32> {
    match v.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("{key} must be a positive whole number, got {v:?}"),
    }
}

fn parse_bool(key: &str, v: &str) -> anyhow::Result<bool> {
    match v {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => bail!("{key} must be true or false, got {v:?}"),
    }
}

/// Parses `KEY=VALUE` lines; `#` starts a comment line; values may be double-quoted.
fn parse_env_file(text: &str) -> anyhow::Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            bail!("config file line {}: expected KEY=VALUE", n + 1);
        };
        let v = v.trim();
        let v = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(v);
        out.insert(k.trim().to_string(), v.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_models_are_found_from_outside_the_checkout() {
        // Unit tests run in server/, where there is no `models` folder.
        assert!(!Path::new("models").exists());
        let found = Config::default().models_dir_found();
        assert!(found.join("sklesion/manifest.json").is_file(), "{}", found.display());
        let chosen = Config { models_dir: PathBuf::from("/nowhere/models"), ..Default::default() };
        assert_eq!(chosen.models_dir_found(), PathBuf::from("/nowhere/models"), "a setting is kept as it is");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let mut vars = HashMap::new();
        vars.insert("CONSILIUM_JWT_SECRET".into(), "x".repeat(40));
        vars.insert("CONSILIUM_DATABASE_URL".into(), "postgres://app:hunter22@db/c".into());
        vars.insert("CONSILIUM_SMTP_URL".into(), "smtps://mailer:s3cret-mail@mail.example.org".into());
        let printed = format!("{:?}", Config::from_map(&vars).unwrap());
        assert!(!printed.contains("hunter22"), "{printed}");
        assert!(!printed.contains("s3cret-mail"), "{printed}");
        assert!(!printed.contains(&"x".repeat(40)), "{printed}");
        assert!(printed.contains("postgres://app:<redacted>@db/c"), "{printed}");
    }

    #[test]
    fn unknown_and_malformed_settings_are_errors() {
        let one = |k: &str, v: &str| Config::from_map(&HashMap::from([(k.into(), v.into())]));
        assert!(one("CONSILIUM_BNID", "1").is_err());
        assert!(one("CONSILIUM_BIND", "not-an-address").is_err());
        assert!(one("CONSILIUM_JWT_SECRET", "short").is_err());
        assert!(one("CONSILIUM_LOGIN_BURST_ADDR", "0").is_err());
        assert_eq!(one("CONSILIUM_BIND", "0.0.0.0:9000").unwrap().bind.port(), 9000);
    }

    #[test]
    fn env_file_lines_are_parsed() {
        let m = parse_env_file("# c\nCONSILIUM_BIND = \"127.0.0.1:1\"\n\n").unwrap();
        assert_eq!(m["CONSILIUM_BIND"], "127.0.0.1:1");
        assert!(parse_env_file("nonsense").is_err());
    }
}
