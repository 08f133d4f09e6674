//! The storage path: one way to write, writers queued and committed together, bounded waits
//! answered 503 with Retry-After, admission control at the edge, and what /metrics shows.

use std::time::Duration;

use consilium::accounts::model::Role;
use consilium::db::now_ms;
use consilium_tests::{TestApp, spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::json;
use sqlx::Row;

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query(sql).fetch_one(app.state.db.read()).await.unwrap().get::<i64, _>(0)
}

fn marker_insert(id: &str) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query("INSERT INTO audit_log (id, at, action) VALUES ($1, $2, 'test.marker')")
        .bind(id.to_string())
        .bind(now_ms())
}

#[tokio::test]
async fn read_connections_refuse_writes() {
    let app = spawn_app().await;
    let refused = marker_insert("r1").execute(app.state.db.read()).await;
    assert!(refused.is_err(), "a write through the read pool must fail on both engines");
    app.state.db.execute(marker_insert("w1")).await.unwrap();
    assert_eq!(count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'test.marker'").await, 1);
}

#[tokio::test]
async fn hundreds_of_writers_at_once_all_commit_and_dropped_ones_leave_nothing() {
    let app = spawn_app().await;
    let db = &app.state.db;
    let writers = (0..300u32).map(|i| async move {
        let mut tx = db.write().await.unwrap();
        marker_insert(&format!("m{i}")).execute(&mut *tx).await.unwrap();
        if i.is_multiple_of(3) {
            drop(tx); // abandoned: rolled back, the others in its batch unaffected
        } else if i % 3 == 1 {
            marker_insert(&format!("n{i}")).execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
        } else {
            tx.commit().await.unwrap();
        }
    });
    futures_util::future::join_all(writers).await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'test.marker'").await, 300);
    let dropped = count(&app, "SELECT COUNT(*) FROM audit_log WHERE id IN ('m0', 'm3', 'm297')").await;
    assert_eq!(dropped, 0, "an abandoned writer's row is not there");
}

#[tokio::test]
async fn a_writer_waiting_past_the_bound_gets_503_with_retry_after() {
    let app = spawn_app_with(|c| {
        c.db.acquire_timeout = Duration::from_millis(300);
        c.db.pool_size = Some(1);
    })
    .await;
    let patient = app.create_user(Role::Patient).await;
    // Hold the one write connection (SQLite) or the one pooled writer (PostgreSQL).
    let held = app.state.db.write().await.unwrap();
    let r = app
        .request(Method::PATCH, "/api/v1/me", Some(&patient.token))
        .json(&json!({"name": "New name"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    drop(held);
    let (s, me) =
        app.send_json(Method::PATCH, "/api/v1/me", Some(&patient.token), &json!({"name": "New name"})).await;
    assert_eq!(
        (s, me["name"].as_str()),
        (200, Some("New name")),
        "the same write succeeds once the writer is free"
    );
}

#[tokio::test]
async fn requests_past_the_in_flight_limit_get_503_and_probes_still_answer() {
    let app = spawn_app_with(|c| {
        c.admission.api = 1;
        c.admission.wait = Duration::ZERO;
        c.db.acquire_timeout = Duration::from_secs(2);
        c.db.pool_size = Some(1);
    })
    .await;
    let patient = app.create_user(Role::Patient).await;
    let held = app.state.db.write().await.unwrap();
    // This one is admitted and waits for the writer.
    let slow =
        app.request(Method::PATCH, "/api/v1/me", Some(&patient.token)).json(&json!({"name": "A"})).send();
    let slow = tokio::spawn(slow);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = app.request(Method::GET, "/api/v1/me", Some(&patient.token)).send().await.unwrap();
    assert_eq!(r.status(), 503, "the one API slot is taken");
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(app.get_json("/healthz", None).await.0, 200, "probes are never held back");
    drop(held);
    assert_eq!(slow.await.unwrap().unwrap().status(), 200);
    assert_eq!(app.get_json("/api/v1/me", Some(&patient.token)).await.0, 200);
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"http_overload_total{class="api"}"#), "{metrics}");
}

#[tokio::test]
async fn metrics_show_pool_use_waits_and_the_write_queue() {
    let app = spawn_app().await;
    let patient = app.create_user(Role::Patient).await;
    app.send_json(Method::PATCH, "/api/v1/me", Some(&patient.token), &json!({"name": "B"})).await;
    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for needle in [
        r#"db_pool_connections{pool="read",state="idle"}"#,
        r#"db_pool_connections{pool="write",state="in_use"}"#,
        r#"db_wait_seconds_count{kind="write"}"#,
        "db_write_queue_length",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
}

/// Not a test of its own: the server process that
/// [`kill_9_during_writes_loses_no_acknowledged_write`] starts, kills and starts again. It
/// serves until killed when `CRASH_CHILD_DIR` names its data folder, and returns at once
/// otherwise.
#[tokio::test]
async fn crash_child_server() {
    let Ok(dir) = std::env::var("CRASH_CHILD_DIR") else { return };
    let dir = std::path::PathBuf::from(dir);
    let url = std::env::var("CRASH_CHILD_DB").ok();
    let app = spawn_app_with(|c| {
        c.data_dir = dir.clone();
        c.database_url = url;
    })
    .await;
    if !dir.join("admin-token").exists() {
        let admin = app.create_user(Role::Admin).await;
        std::fs::write(dir.join("admin-token.part"), &admin.token).unwrap();
        std::fs::rename(dir.join("admin-token.part"), dir.join("admin-token")).unwrap();
    }
    std::fs::write(dir.join("addr"), app.addr.to_string()).unwrap();
    std::future::pending::<()>().await;
}

/// Starts the child server on `dir` (and `db`); its address once it listens.
pub(crate) async fn start_child(dir: &std::path::Path, db: Option<&str>) -> (tokio::process::Child, String) {
    let _ = std::fs::remove_file(dir.join("addr"));
    let mut cmd = tokio::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["storage::crash_child_server", "--exact", "--test-threads=1"])
        .env("CRASH_CHILD_DIR", dir)
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(db) = db {
        cmd.env("CRASH_CHILD_DB", db);
    }
    let child = cmd.spawn().unwrap();
    for _ in 0..600 {
        if let Ok(addr) = std::fs::read_to_string(dir.join("addr")) {
            return (child, format!("http://{addr}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the child server did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_writes_loses_no_acknowledged_write() {
    let dir = std::env::temp_dir().join(format!("consilium-crash-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = match consilium_tests::test_postgres() {
        Some(server) => Some(consilium_tests::fresh_postgres_database(&server).await.unwrap()),
        None => None,
    };
    let (mut child, base) = start_child(&dir, db.as_deref()).await;
    let admin = std::fs::read_to_string(dir.join("admin-token")).unwrap();
    let http = reqwest::Client::new();
    let call = |m: Method, path: String, body: serde_json::Value| {
        http.request(m, format!("{base}{path}")).bearer_auth(&admin).json(&body).send()
    };
    let add_user = |email: String, role: &str| {
        let body = json!({"email": email, "name": "Crash test", "role": role,
                          "password": "long enough password", "timezone": "UTC"});
        let sent = call(Method::POST, "/api/v1/users".into(), body);
        async move {
            let user: serde_json::Value = sent.await.unwrap().json().await.unwrap();
            user["id"].as_str().unwrap().to_string()
        }
    };
    let mut doctors = Vec::new();
    for i in 0..4 {
        let id = add_user(format!("d{i}@crash.example"), "doctor").await;
        let rules: Vec<_> =
            (1..=7).map(|d| json!({"weekday": d, "start": "00:00", "end": "23:30"})).collect();
        let r = call(
            Method::PUT,
            format!("/api/v1/doctors/{id}/availability"),
            json!({"consult_minutes": 30, "rules": rules}),
        );
        assert_eq!(r.await.unwrap().status(), 200);
        doctors.push(id);
    }
    let patient = add_user("p@crash.example".into(), "patient").await;
    // 32 writers book appointments on distinct days and plan reviews, until the server dies
    // under them.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(&'static str, String)>::new()));
    let writers = (0..32usize).map(|w| {
        let (call, acked, doctors, patient) = (&call, acked.clone(), &doctors, &patient);
        async move {
            for k in 0.. {
                let doctor = &doctors[w % doctors.len()];
                let (kind, r) = if k % 2 == 0 {
                    let day = jiff::civil::date(2031, 1, 1).checked_add(jiff::Span::new().days(i64::try_from(w * 100 + k).unwrap())).unwrap();
                    let at = format!("{day}T10:00:00Z");
                    ("appointment", call(Method::POST, "/api/v1/appointments".into(), json!({"doctor_id": doctor, "patient_id": patient, "starts_at": at})).await)
                } else {
                    ("review", call(Method::POST, "/api/v1/reviews".into(), json!({"title": format!("R{w}-{k}"), "experts": [doctor], "duration_minutes": 60, "from": "2031-01-01", "to": "2031-01-05"})).await)
                };
                let Ok(r) = r else { break }; // the server is gone
                if r.status().as_u16() == 201 {
                    let Ok(body) = r.json::<serde_json::Value>().await else { break };
                    acked.lock().unwrap().push((kind, body["id"].as_str().unwrap().to_string()));
                }
            }
        }
    });
    let killer = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        child.start_kill().unwrap(); // SIGKILL
        child.wait().await.unwrap();
    };
    tokio::join!(join_all_unit(writers), killer);
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 20, "only {} writes were acknowledged before the kill", acked.len());
    let (_child, base) = start_child(&dir, db.as_deref()).await;
    for (kind, id) in &acked {
        let r = http.get(format!("{base}/api/v1/{kind}s/{id}")).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(r.status(), 200, "acknowledged {kind} {id} is missing after kill -9");
    }
    // Nothing half-written: every appointment has its reminders, every review its expert.
    let check = consilium::db::Db::connect(
        &db.clone().unwrap_or_else(|| format!("sqlite://{}", dir.join("consilium.db").display())),
        Default::default(),
    )
    .await
    .unwrap();
    let orphans: i64 = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM appointments a WHERE NOT EXISTS
                   (SELECT 1 FROM reminders r WHERE r.object_id = a.id))
              + (SELECT COUNT(*) FROM reviews v WHERE NOT EXISTS
                   (SELECT 1 FROM review_experts e WHERE e.review_id = v.id))",
    )
    .fetch_one(check.read())
    .await
    .unwrap()
    .get(0);
    assert_eq!(orphans, 0, "a booking without its reminders or a review without its experts");
    let _ = std::fs::remove_dir_all(&dir);
}

async fn join_all_unit(fs: impl IntoIterator<Item = impl std::future::Future<Output = ()>>) {
    futures_util::future::join_all(fs).await;
}

#[tokio::test]
async fn a_deadlock_on_postgres_is_retried_and_both_writers_commit() {
    let app = spawn_app().await;
    if app.state.db.engine() != consilium::db::Engine::Postgres {
        return; // SQLite has one writer at a time: no deadlock can form
    }
    let db = &app.state.db;
    for id in ["row-a", "row-b"] {
        db.execute(marker_insert(id)).await.unwrap();
    }
    let barrier = tokio::sync::Barrier::new(2);
    let attempts = std::sync::atomic::AtomicUsize::new(0);
    let (barrier, attempts) = (&barrier, &attempts);
    // Two writers lock the same two rows in opposite orders: PostgreSQL breaks the deadlock by
    // failing one of them, which runs again.
    let crossed = |first: &'static str, second: &'static str| {
        consilium::db::retry_contended(move || async move {
            let n = attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut tx = db.write().await?;
            let touch = "UPDATE audit_log SET detail = 'touched' WHERE id = $1";
            sqlx::query(touch).bind(first).execute(&mut *tx).await?;
            if n < 2 {
                barrier.wait().await; // both first attempts hold their first row
            }
            sqlx::query(touch).bind(second).execute(&mut *tx).await?;
            tx.commit().await
        })
    };
    let (a, b) = tokio::join!(crossed("row-a", "row-b"), crossed("row-b", "row-a"));
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 3, "one of the two ran again");
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("db_retries_total"), "{metrics}");
}
