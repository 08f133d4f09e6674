//! FHIR benchmarks on a hospital-sized store: 100 000 appointments and 20 000 signed-off AI
//! findings (written straight into the database), searched as an EHR searches them.
//!
//!     cargo bench -p consilium-tests --bench fhir
//!
//! - `GET /fhir/r4/Appointment?date=ge…&_count=100` (an admin's token: the whole clinic);
//! - `GET /fhir/r4/DiagnosticReport?patient=…&_include=…&_revinclude=Provenance:target` (the
//!   patient's doctor: each report with its observations, image, model and provenance);
//! - a transaction Bundle of 200 patients pushed by conditional update.
//!
//! Baseline, interleaved in the same run: `GET /api/v1/appointments/{id}` (one row, audited the
//! same way) for the searches, one conditional `PUT /fhir/r4/Patient?identifier=…` for the
//! transaction. SQLite always; PostgreSQL when CONSILIUM_TEST_DATABASE_URL names a server or
//! one answers on 127.0.0.1:5432.

use std::time::{Duration, Instant};

use consilium::accounts::model::Role;
use consilium_tests::{TestApp, TestUser, spawn_app_on};
use reqwest::Method;
use serde_json::{Value, json};

const DOCTORS: usize = 50;
const PATIENTS: usize = 2_000;
const APPOINTMENTS: usize = 100_000;
const FINDINGS: usize = 20_000;
const ROWS_PER_INSERT: usize = 200;

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "an index within the slice")]
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Inserts `rows` (each a list of values) into `table (columns)`, many rows per statement.
async fn insert_many(tx: &mut consilium::db::WriteTx, table: &str, columns: &str, rows: &[Vec<Value>]) {
    let width = columns.split(',').count();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut sql = format!("INSERT INTO {table} ({columns}) VALUES ");
        for (i, _) in chunk.iter().enumerate() {
            let marks: Vec<String> = (1..=width).map(|k| format!("${}", i * width + k)).collect();
            sql.push_str(&format!("{}({})", if i == 0 { "" } else { ", " }, marks.join(", ")));
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            for v in row {
                q = match v {
                    Value::Number(n) => q.bind(n.as_i64().unwrap()),
                    Value::String(s) => q.bind(s.clone()),
                    Value::Null => q.bind(None::<String>),
                    other => q.bind(other.to_string()),
                };
            }
        }
        q.execute(&mut **tx).await.unwrap();
    }
}

struct Store {
    doctor: TestUser,
    patient: String,
    appointment: String,
}

/// The hospital: doctors, patients, appointments a year apart in half hours, and findings on
/// the first appointments' calls.
async fn store(app: &TestApp) -> Store {
    let t0 = Instant::now();
    let mut doctors = Vec::new();
    for _ in 0..DOCTORS {
        doctors.push(app.create_user(Role::Doctor).await);
    }
    let db = &app.state.db;
    let mut tx = db.write().await.unwrap();
    let now = 1_900_000_000_000i64;
    let patients: Vec<Vec<Value>> = (0..PATIENTS)
        .map(|p| {
            vec![
                json!(format!("bench-patient-{p:05}")),
                json!(format!("bench{p}@patients.example")),
                json!(format!("Patient {p}")),
                json!("patient"),
                json!("!"),
                json!(now),
                json!(now),
            ]
        })
        .collect();
    insert_many(&mut tx, "users", "id, email, name, role, password_hash, created_at, updated_at", &patients)
        .await;
    let (mut appointments, mut rooms) = (Vec::new(), Vec::new());
    for i in 0..APPOINTMENTS {
        let doctor = &doctors[i % DOCTORS].user.id;
        let at = now + i64::try_from(i / DOCTORS).unwrap() * 1_800_000;
        let (id, room) = (format!("bench-appt-{i:06}"), format!("bench-room-{i:06}"));
        appointments.push(vec![
            json!(id),
            json!(doctor),
            json!(format!("bench-patient-{:05}", i % PATIENTS)),
            json!(at),
            json!(at + 1_800_000),
            json!(if at < now + 365 * 86_400_000 { "completed" } else { "booked" }),
            json!(room),
            json!("follow-up"),
            json!(doctor),
            json!(at),
            json!(at),
        ]);
        rooms.push(vec![json!(room), json!("appointment"), json!(id), json!(doctor), json!(at)]);
    }
    insert_many(
        &mut tx,
        "appointments",
        "id, doctor_id, patient_id, starts_at, ends_at, status, room_id, reason, created_by, created_at, updated_at",
        &appointments,
    )
    .await;
    insert_many(&mut tx, "rooms", "id, kind, object_id, host_id, created_at", &rooms).await;
    let predictions = json!([
        {"label": "nv", "probability": 0.61}, {"label": "mel", "probability": 0.2}, {"label": "bkl", "probability": 0.1},
        {"label": "bcc", "probability": 0.04}, {"label": "akiec", "probability": 0.03}, {"label": "vasc", "probability": 0.01},
        {"label": "df", "probability": 0.01}
    ])
    .to_string();
    let (mut images, mut findings, mut attendance) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..FINDINGS {
        let room = format!("bench-room-{k:06}");
        let doctor = &doctors[k % DOCTORS].user.id;
        let at = now + i64::try_from(k / DOCTORS).unwrap() * 1_800_000 + 600_000;
        let image = format!("bench-image-{k:06}");
        images.push(vec![
            json!(image),
            json!(room),
            json!("ab".repeat(32)),
            json!("ab".repeat(32)),
            json!("image/png"),
            json!("png"),
            json!(224),
            json!(224),
            json!(40_000),
            json!("lesion.png"),
            json!("{}"),
            json!(doctor),
            json!("Dr Bench"),
            json!(at),
        ]);
        findings.push(vec![
            json!(format!("bench-finding-{k:06}")),
            json!(image),
            json!(room),
            json!("sklesion"),
            json!("0.2.2"),
            json!("cd".repeat(32)),
            json!("ab".repeat(32)),
            json!("{}"),
            json!("[]"),
            json!("accepted"),
            json!(predictions),
            json!(doctor),
            json!(at),
            json!(at + 2_000),
            json!(doctor),
            json!("Dr Bench"),
            json!(at + 60_000),
            json!("nv"),
        ]);
        attendance.push(vec![
            json!(room),
            json!(doctor),
            json!("Dr Bench"),
            json!("host"),
            json!(at - 60_000),
            json!(at + 900_000),
        ]);
    }
    insert_many(
        &mut tx,
        "images",
        "id, room_id, sha256, display_sha256, display_type, kind, width, height, bytes, filename, info, shared_by, shared_by_name, created_at",
        &images,
    )
    .await;
    insert_many(
        &mut tx,
        "findings",
        "id, image_id, room_id, model, model_version, model_sha256, input_sha256, facts, defaulted, status, predictions, requested_by, requested_at, completed_at, decided_by, decided_by_name, decided_at, decision_label",
        &findings,
    )
    .await;
    insert_many(
        &mut tx,
        "room_attendance",
        "room_id, user_id, name, role, first_joined_at, last_left_at",
        &attendance,
    )
    .await;
    tx.commit().await.unwrap();
    if app.state.db.engine() == consilium::db::Engine::Postgres {
        sqlx::query("ANALYZE").execute(&mut *app.state.db.acquire().await.unwrap()).await.unwrap();
    }
    println!("  store written in {:.1} s", t0.elapsed().as_secs_f64());
    // Patient 7 has 50 appointments, ten of them with a finding; doctor 7 treats them.
    Store {
        doctor: doctors.swap_remove(7),
        patient: "bench-patient-00007".into(),
        appointment: "bench-appt-000007".into(),
    }
}

async fn timed(app: &TestApp, path: &str, token: &str) -> (Duration, Value) {
    let t = Instant::now();
    let (s, b) = app.get_json(path, Some(token)).await;
    let took = t.elapsed();
    assert_eq!(s, 200, "{path}: {b}");
    (took, b)
}

fn report(engine: &str, name: &str, mut v: Vec<Duration>, extra: &str) -> Duration {
    v.sort();
    let p99 = percentile(&v, 0.99);
    println!(
        "[{engine}] {name:<58} p50 {:>7.2} ms  p99 {:>7.2} ms  (n={}{extra})",
        ms(percentile(&v, 0.5)),
        ms(p99),
        v.len()
    );
    p99
}

async fn searches(app: &TestApp, engine: &str, s: &Store) {
    let admin = app.create_user(Role::Admin).await;
    let dates = format!("/fhir/r4/Appointment?date=ge{}&_count=100", "2030-04-01");
    let reports = format!(
        "/fhir/r4/DiagnosticReport?patient={}&_include=DiagnosticReport:result&_include=DiagnosticReport:media\
         &_include=Observation:device&_revinclude=Provenance:target",
        s.patient
    );
    let one = format!("/api/v1/appointments/{}", s.appointment);
    let (_, b) = timed(app, &dates, &admin.token).await;
    let (_, r) = timed(app, &reports, &s.doctor.token).await;
    let (total_a, total_r) = (b["total"].clone(), r["total"].clone());
    let entries = r["entry"].as_array().map_or(0, Vec::len);
    let (mut a, mut d, mut base) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..200 {
        a.push(timed(app, &dates, &admin.token).await.0);
        d.push(timed(app, &reports, &s.doctor.token).await.0);
        base.push(timed(app, &one, &s.doctor.token).await.0);
    }
    report(engine, "Appointment?date=ge…&_count=100", a, &format!(", total {total_a}"));
    report(
        engine,
        "DiagnosticReport?patient=…&_include×3&_revinclude",
        d,
        &format!(", total {total_r}, {entries} entries"),
    );
    report(engine, "baseline GET /api/v1/appointments/{id}", base, "");
}

fn pushed(i: usize, round: usize) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [{"system": "http://hospital.example/mrn", "value": format!("B{i:05}")}],
        "name": [{"family": "Bench", "given": [format!("P{i}")]}],
        "telecom": [{"system": "email", "value": format!("pushed{i}@bench.example")}],
        "gender": if round.is_multiple_of(2) { "female" } else { "other" },
        "birthDate": "1980-05-17"
    })
}

async fn transactions(app: &TestApp, engine: &str) {
    let admin = app.create_user(Role::Admin).await;
    let send = |body: Value, path: &'static str, method: Method| {
        let r = app
            .request(method, path, Some(&admin.token))
            .header("content-type", "application/fhir+json")
            .body(serde_json::to_vec(&body).unwrap());
        async move {
            let t = Instant::now();
            let r = r.send().await.unwrap();
            let status = r.status();
            let _ = r.bytes().await.unwrap();
            assert!(status.is_success(), "{status}");
            t.elapsed()
        }
    };
    let bundle = |round: usize| {
        let entry: Vec<Value> = (0..200)
            .map(|i| json!({"resource": pushed(i, round), "request": {"method": "PUT", "url": format!("Patient?identifier=http://hospital.example/mrn|B{i:05}")}}))
            .collect();
        json!({"resourceType": "Bundle", "type": "transaction", "entry": entry})
    };
    let (mut t, mut base) = (Vec::new(), Vec::new());
    let first = send(bundle(0), "/fhir/r4", Method::POST).await;
    for round in 1..=20 {
        t.push(send(bundle(round), "/fhir/r4", Method::POST).await);
        for _ in 0..5 {
            let p = app
                .request(
                    Method::PUT,
                    "/fhir/r4/Patient?identifier=http://hospital.example/mrn|B00001",
                    Some(&admin.token),
                )
                .header("content-type", "application/fhir+json")
                .body(serde_json::to_vec(&pushed(1, round)).unwrap());
            let start = Instant::now();
            let r = p.send().await.unwrap();
            assert!(r.status().is_success());
            let _ = r.bytes().await.unwrap();
            base.push(start.elapsed());
        }
    }
    println!("[{engine}] first 200-entry transaction (creates)  {:>7.2} ms", ms(first));
    report(engine, "200-entry transaction of conditional updates", t, "");
    report(engine, "baseline one conditional PUT Patient?identifier=…", base, "");
}

async fn run(app: &TestApp, engine: &str) {
    let s = store(app).await;
    searches(app, engine, &s).await;
    transactions(app, engine).await;
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("FHIR benchmarks, {} (release build)", jiff::Zoned::now().strftime("%Y-%m-%d %H:%M %Z"));
    let sqlite = spawn_app_on(None, |_| {}).await;
    run(&sqlite, "sqlite").await;
    let pg = consilium_tests::test_postgres().unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".into());
    if std::net::TcpStream::connect("127.0.0.1:5432").is_ok() || consilium_tests::test_postgres().is_some() {
        let app = spawn_app_on(Some(&pg), |_| {}).await;
        run(&app, "postgres").await;
    } else {
        println!("[postgres] skipped: no server at {pg}");
    }
}
