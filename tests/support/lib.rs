//! Test harness: [`spawn_app`] starts a real Consilium on 127.0.0.1:0 with its own fresh
//! database — a SQLite file in a temporary directory, or, when `CONSILIUM_TEST_DATABASE_URL`
//! names a PostgreSQL server (e.g. `postgres://postgres@127.0.0.1:5432`), a new database on it.

pub mod browser;
pub mod smtp;
pub mod webrtc_client;

use std::net::SocketAddr;
use std::path::PathBuf;

use consilium::accounts::model::{NewUser, Role, User};
use consilium::accounts::service;
use consilium::config::Config;
use consilium::records::audit::Actor;
use consilium::{App, AppState};
use reqwest::{Method, RequestBuilder};
use serde_json::Value;
use tokio::sync::oneshot;

/// Prefix of every database the harness creates on PostgreSQL (CI drops them afterwards).
pub const PG_TEST_DB_PREFIX: &str = "consilium_t_";

/// A running server and the means to talk to it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    /// A client that follows no redirects and keeps no cookies.
    pub http: reqwest::Client,
    pub data_dir: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// A user created for a test, with a valid token.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub user: User,
    pub email: String,
    pub password: String,
    pub token: String,
}

/// The PostgreSQL server named by `CONSILIUM_TEST_DATABASE_URL`, if any.
pub fn test_postgres() -> Option<String> {
    std::env::var("CONSILIUM_TEST_DATABASE_URL").ok().filter(|v| !v.is_empty())
}

/// A new, empty database on a PostgreSQL server; its URL.
pub async fn fresh_postgres_database(server: &str) -> anyhow::Result<String> {
    let server = server.trim_end_matches('/').to_string();
    let name = format!("{PG_TEST_DB_PREFIX}{}", uuid::Uuid::now_v7().simple());
    sqlx::any::install_default_drivers();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&format!("{server}/postgres")).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
    Ok(format!("{server}/{name}"))
}

/// The repository's `models/` folder.
pub fn models_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// A file under `tests/data/`.
pub fn test_data(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Starts an app with test defaults (no demo seeding, a fixed secret).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts an app after letting the test adjust the configuration.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_on(test_postgres().as_deref(), adjust).await
}

/// Starts an app on a fresh database: on `postgres` (a server URL) or, with `None`, SQLite.
pub async fn spawn_app_on(postgres: Option<&str>, adjust: impl FnOnce(&mut Config)) -> TestApp {
    // `CONSILIUM_LOG=consilium=debug cargo test ...` shows the server's log while debugging.
    if let Ok(filter) = std::env::var("CONSILIUM_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
    let data_dir = std::env::temp_dir().join(format!("consilium-test-{}", uuid::Uuid::now_v7().simple()));
    let database_url = match postgres {
        Some(server) => Some(fresh_postgres_database(server).await.expect("creating a test database")),
        None => None,
    };
    let mut config = Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.clone(),
        database_url,
        jwt_secret: Some("test-secret-test-secret-test-secret-0123".into()),
        demo_on_first_start: false,
        models_dir: models_dir(),
        ..Config::default()
    };
    adjust(&mut config);
    let app = App::build(config).await.expect("building the app");
    let addr = app.local_addr();
    let state = app.state.clone();
    let (tx, rx) = oneshot::channel();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp { addr, state, http, data_dir, shutdown: Some(tx), server: Some(server) }
}

impl TestApp {
    /// Shuts the server down as SIGTERM would and waits until it and its background work
    /// have ended.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("the server task").expect("the server ends cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A request with an optional bearer token.
    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let rb = self.http.request(method, self.url(path));
        match token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// A GET's status, content type and body bytes (pictures, pages).
    pub async fn get_bytes(&self, path: &str, token: Option<&str>) -> (u16, Option<String>, Vec<u8>) {
        let r = self.request(Method::GET, path, token).send().await.unwrap();
        let status = r.status().as_u16();
        let kind = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
        (status, kind, r.bytes().await.unwrap().to_vec())
    }

    pub async fn get_json(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let r = self.request(Method::GET, path, token).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> (u16, Value) {
        let r = self.request(method, path, token).json(body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Creates an account directly through the service layer and issues it a token.
    pub async fn create_user(&self, role: Role) -> TestUser {
        self.create_user_named(
            role,
            &format!("{}-{}@test.example", role.as_str(), uuid::Uuid::now_v7().simple()),
        )
        .await
    }

    pub async fn create_user_named(&self, role: Role, email: &str) -> TestUser {
        let password = "correct horse battery staple".to_string();
        // The password hashers are shared by every app in the process; a test that floods
        // them (hundreds of sign-ups at once) makes another test's setup wait, not fail.
        let mut attempts = 0;
        let user = loop {
            let input = NewUser {
                email: email.into(),
                name: format!("Test {}", role.as_str()),
                role: role.as_str().into(),
                password: password.clone(),
                timezone: Some("Europe/Berlin".into()),
                specialty: (role == Role::Doctor).then(|| "Dermatology".into()),
                locale: None,
            };
            match service::create(&self.state.db, &Actor::cli(), input).await {
                Err(consilium::error::AppError::Unavailable(_)) if attempts < 100 => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                other => break other.expect("creating a test user"),
            }
        };
        let token = self.token_for(&user);
        TestUser { email: user.email.clone(), user, password, token }
    }

    /// A fresh token for an existing account (as its current token version allows).
    pub fn token_for(&self, user: &User) -> String {
        self.state.keys.issue(user).expect("issuing a token").0
    }

    /// Signs in through the login form; returns the session cookie value.
    pub async fn browser_login(&self, email: &str, password: &str) -> String {
        let r = self
            .http
            .post(self.url("/login"))
            .form(&[("email", email), ("password", password), ("next", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "login form should redirect");
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("consilium_session="))
            .expect("a session cookie")
            .to_string();
        cookie.split(';').next().unwrap().trim_start_matches("consilium_session=").to_string()
    }

    /// The HTML of page `path` for the browser session `session` (from [`Self::browser_login`]).
    pub async fn page_as(&self, path: &str, session: &str) -> String {
        let r = self
            .http
            .get(self.url(path))
            .header("cookie", format!("consilium_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "GET {path}");
        r.text().await.unwrap()
    }

    /// Audit rows with this action, newest first.
    pub async fn audit_actions(&self) -> Vec<Value> {
        let rows = consilium::records::audit::search(&self.state.db, &Default::default()).await.unwrap();
        rows.into_iter().map(|r| serde_json::to_value(r).unwrap()).collect()
    }
}
