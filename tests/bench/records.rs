//! Record benchmarks: note autosave with 32 clinicians saving at once.
//!
//!     cargo bench -p consilium-tests --bench records
//!
//! Each clinician saves their own appointment's note (the whole SOAP draft, about 2 KB) again
//! and again, each save from the version the last one returned, as the editor does. The
//! baseline, interleaved in the same run at the same concurrency, is the smallest audited write
//! the API has (`PATCH /api/v1/me` with a time zone). SQLite always; PostgreSQL when
//! CONSILIUM_TEST_DATABASE_URL names a server or one answers on 127.0.0.1:5432.

use std::time::{Duration, Instant};

use consilium::accounts::model::Role;
use consilium_tests::{TestApp, TestUser, spawn_app_on};
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

const CLINICIANS: usize = 32;
const SAVES_PER_ROUND: usize = 10;
const ROUNDS: usize = 5;

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "an index within the slice")]
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Clinic {
    doctors: Vec<(TestUser, String)>,
}

async fn clinic(app: &TestApp) -> Clinic {
    let admin = app.create_user(Role::Admin).await;
    let patient = app.create_user(Role::Patient).await;
    let mut doctors = Vec::new();
    for _ in 0..CLINICIANS {
        let doctor = app.create_user(Role::Doctor).await;
        let rules: Vec<_> =
            (1..=7).map(|d| json!({"weekday": d, "start": "00:00", "end": "23:30"})).collect();
        let (s, b) = app
            .send_json(
                Method::PUT,
                &format!("/api/v1/doctors/{}/availability", doctor.user.id),
                Some(&admin.token),
                &json!({"consult_minutes": 30, "rules": rules}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        let (s, a) = app
            .send_json(
                Method::POST,
                "/api/v1/appointments",
                Some(&admin.token),
                &json!({"doctor_id": doctor.user.id, "patient_id": patient.user.id, "starts_at": "2031-03-03T10:00:00Z"}),
            )
            .await;
        assert_eq!(s, 201, "{a}");
        doctors.push((doctor, a["id"].as_str().unwrap().to_string()));
    }
    Clinic { doctors }
}

fn draft(version: i64, k: usize) -> Value {
    let words = "Patient reports intermittent wheeze, worse at night and on exertion. ".repeat(6);
    json!({
        "version": version,
        "subjective": format!("{words} (edit {k})"),
        "objective": "Wheeze on expiration bilaterally; SpO2 97 % on air; peak flow 380 l/min.",
        "assessment": "Asthma, mild persistent.",
        "plan": "Inhaled corticosteroid twice daily; salbutamol as needed; review in four weeks.",
        "instructions": "Rinse the mouth after the steroid inhaler. Come back if the reliever is needed more than twice a week.",
        "diagnoses": [{"text": "Asthma", "system": "icd10", "code": "J45.9"}]
    })
}

/// One round of autosaves: every clinician saves `SAVES_PER_ROUND` times, all at once.
async fn autosave_round(app: &TestApp, clinic: &Clinic, versions: &mut [i64]) -> Vec<Duration> {
    let tasks =
        clinic.doctors.iter().zip(versions.iter_mut()).map(|((doctor, appointment), version)| async move {
            let mut samples = Vec::new();
            for k in 0..SAVES_PER_ROUND {
                let t = Instant::now();
                let (s, n) = app
                    .send_json(
                        Method::PUT,
                        &format!("/api/v1/appointments/{appointment}/note"),
                        Some(&doctor.token),
                        &draft(*version, k),
                    )
                    .await;
                samples.push(t.elapsed());
                assert_eq!(s, 200, "{n}");
                *version = n["version"].as_i64().unwrap();
            }
            samples
        });
    join_all(tasks).await.into_iter().flatten().collect()
}

/// The baseline round: the same clinicians, the same number of small audited writes.
async fn baseline_round(app: &TestApp, clinic: &Clinic) -> Vec<Duration> {
    let tasks = clinic.doctors.iter().map(|(doctor, _)| async move {
        let mut samples = Vec::new();
        for k in 0..SAVES_PER_ROUND {
            let tz = if k % 2 == 0 { "Europe/Berlin" } else { "Asia/Shanghai" };
            let t = Instant::now();
            let (s, b) = app
                .send_json(Method::PATCH, "/api/v1/me", Some(&doctor.token), &json!({"timezone": tz}))
                .await;
            samples.push(t.elapsed());
            assert_eq!(s, 200, "{b}");
        }
        samples
    });
    join_all(tasks).await.into_iter().flatten().collect()
}

async fn autosave(app: &TestApp, engine: &str) {
    let clinic = clinic(app).await;
    let mut versions = vec![0; CLINICIANS];
    // Warm up: the first save of each note inserts it.
    autosave_round(app, &clinic, &mut versions).await;
    baseline_round(app, &clinic).await;
    let (mut saves, mut base) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        if round % 2 == 0 {
            saves.extend(autosave_round(app, &clinic, &mut versions).await);
            base.extend(baseline_round(app, &clinic).await);
        } else {
            base.extend(baseline_round(app, &clinic).await);
            saves.extend(autosave_round(app, &clinic, &mut versions).await);
        }
    }
    saves.sort();
    base.sort();
    let (s50, s99) = (percentile(&saves, 0.5), percentile(&saves, 0.99));
    let (b50, b99) = (percentile(&base, 0.5), percentile(&base, 0.99));
    println!(
        "[{engine}] note autosave, {CLINICIANS} clinicians at once   p50 {:>7.2} ms  p99 {:>7.2} ms  (n={})",
        ms(s50),
        ms(s99),
        saves.len()
    );
    println!(
        "[{engine}] baseline PATCH /me, same clients         p50 {:>7.2} ms  p99 {:>7.2} ms  (n={})",
        ms(b50),
        ms(b99),
        base.len()
    );
    println!(
        "[{engine}] autosave / baseline: p50 {:.2}x, p99 {:.2}x",
        s50.as_secs_f64() / b50.as_secs_f64(),
        s99.as_secs_f64() / b99.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("record benchmarks, {} (release build)", jiff::Zoned::now().strftime("%Y-%m-%d %H:%M %Z"));
    let sqlite = spawn_app_on(None, |_| {}).await;
    autosave(&sqlite, "sqlite").await;
    let pg = consilium_tests::test_postgres().unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".into());
    if std::net::TcpStream::connect("127.0.0.1:5432").is_ok() || consilium_tests::test_postgres().is_some() {
        let app = spawn_app_on(Some(&pg), |_| {}).await;
        autosave(&app, "postgres").await;
    } else {
        println!("[postgres] skipped: no server at {pg}");
    }
}
