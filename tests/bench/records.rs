//! Record benchmarks: note autosave with 32 clinicians saving at once, and the chart of a
//! patient with a long history.
//!
//!     cargo bench -p consilium-tests --bench records
//!
//! The chart: a patient with 200 consultations, 200 signed notes each with an addendum, 500
//! signed-off findings on 500 shared images and 50 signed case-review outcomes (written straight
//! into the database), read through `GET /api/v1/patients/{id}/chart` and the `/patients/{id}`
//! page; baseline, interleaved: `GET /api/v1/appointments/{id}` (one row, audited the same way).
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
    for i in 0..CLINICIANS {
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
                // One patient, so each appointment at its own half hour.
                &json!({"doctor_id": doctor.user.id, "patient_id": patient.user.id,
                        "starts_at": format!("2031-03-{:02}T{:02}:{}:00Z", 3 + i / 16, 8 + (i % 16) / 2, if i % 2 == 0 { "00" } else { "30" })}),
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

/// Writes the long history straight into the database; returns the patient and one appointment.
async fn history(app: &TestApp, doctor: &TestUser, patient: &TestUser) -> String {
    let db = &app.state.db;
    let mut tx = db.write().await.unwrap();
    let day = 86_400_000i64;
    let start = 1_900_000_000_000i64;
    let mut first = String::new();
    for i in 0..200i64 {
        let (id, room) = (format!("bench-appt-{i}"), format!("bench-room-{i}"));
        let at = start + i * day;
        sqlx::query(
            "INSERT INTO appointments (id, doctor_id, patient_id, starts_at, ends_at, status, room_id, reason, sequence, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'completed', $6, 'follow-up', 0, $2, $4, $4)",
        )
        .bind(&id).bind(&doctor.user.id).bind(&patient.user.id).bind(at).bind(at + 1_800_000).bind(&room)
        .execute(&mut *tx).await.unwrap();
        sqlx::query("INSERT INTO rooms (id, kind, object_id, host_id, created_at) VALUES ($1, 'appointment', $2, $3, $4)")
            .bind(&room).bind(&id).bind(&doctor.user.id).bind(at)
            .execute(&mut *tx).await.unwrap();
        let note = format!("bench-note-{i}");
        sqlx::query(
            "INSERT INTO notes (id, appointment_id, patient_id, author_id, version, subjective, objective, assessment, plan, instructions, diagnoses, saved_by, saved_by_name, saved_at, signed_by, signed_by_name, signed_at, content_sha256, created_at)
             VALUES ($1, $2, $3, $4, 3, 'Follow-up visit.', 'Stable.', 'Asthma, controlled.', 'Continue inhaler; review in 3 months.', 'Keep using the inhaler.', '[]', $4, 'Dr Bench', $5, $4, 'Dr Bench', $5, 'bench', $5)",
        )
        .bind(&note).bind(&id).bind(&patient.user.id).bind(&doctor.user.id).bind(at + 1_800_000)
        .execute(&mut *tx).await.unwrap();
        sqlx::query(
            "INSERT INTO note_addenda (id, note_id, position, body, author_id, author_name, signed_at, content_sha256)
             VALUES ($1, $2, 1, 'Spirometry normal.', $3, 'Dr Bench', $4, 'bench')",
        )
        .bind(format!("bench-add-{i}")).bind(&note).bind(&doctor.user.id).bind(at + 2 * 1_800_000)
        .execute(&mut *tx).await.unwrap();
        if i == 0 {
            first = id;
        }
    }
    for k in 0..500i64 {
        let (room, at) = (format!("bench-room-{}", k % 200), start + (k % 200) * day + 600_000);
        let image = format!("bench-image-{k}");
        sqlx::query(
            "INSERT INTO images (id, room_id, sha256, display_sha256, display_type, kind, width, height, bytes, filename, info, shared_by, shared_by_name, created_at)
             VALUES ($1, $2, 'x', 'x', 'image/png', 'png', 224, 224, 1000, 'lesion.png', '{}', $3, 'Dr Bench', $4)",
        )
        .bind(&image).bind(&room).bind(&doctor.user.id).bind(at)
        .execute(&mut *tx).await.unwrap();
        sqlx::query(
            "INSERT INTO findings (id, image_id, room_id, model, model_version, input_sha256, facts, defaulted, status, requested_by, requested_at, decided_by, decided_by_name, decided_at, decision_label)
             VALUES ($1, $2, $3, 'sklesion', '1', 'x', '{}', '[]', 'accepted', $4, $5, $4, 'Dr Bench', $5, 'nevus')",
        )
        .bind(format!("bench-finding-{k}")).bind(&image).bind(&room).bind(&doctor.user.id).bind(at)
        .execute(&mut *tx).await.unwrap();
    }
    for j in 0..50i64 {
        let (review, case, at) =
            (format!("bench-review-{j}"), format!("bench-case-{j}"), start + j * 4 * day);
        sqlx::query(
            "INSERT INTO reviews (id, title, coordinator_id, duration_minutes, window_start, window_end, status, starts_at, ends_at, room_id, created_at, updated_at)
             VALUES ($1, 'Board', $2, 60, $3, $4, 'scheduled', $3, $4, $5, $3, $3)",
        )
        .bind(&review).bind(&doctor.user.id).bind(at).bind(at + 3_600_000).bind(format!("bench-review-room-{j}"))
        .execute(&mut *tx).await.unwrap();
        sqlx::query("INSERT INTO review_cases (id, review_id, position, patient_id, question, created_at) VALUES ($1, $2, 1, $3, 'Treat?', $4)")
            .bind(&case).bind(&review).bind(&patient.user.id).bind(at)
            .execute(&mut *tx).await.unwrap();
        sqlx::query(
            "INSERT INTO case_outcomes (id, case_id, review_id, patient_id, version, question, discussion, recommendation, recommendation_text, saved_by, saved_by_name, saved_at, signed_by, signed_by_name, signed_at, content_sha256, created_at)
             VALUES ($1, $2, $3, $4, 1, 'Treat?', 'Discussed.', 'surveillance', 'Review in 6 months.', $5, 'Dr Bench', $6, $5, 'Dr Bench', $6, 'bench', $6)",
        )
        .bind(format!("bench-outcome-{j}")).bind(&case).bind(&review).bind(&patient.user.id).bind(&doctor.user.id).bind(at)
        .execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    first
}

async fn chart(app: &TestApp, engine: &str) {
    let doctor = app.create_user(Role::Doctor).await;
    let patient = app.create_user(Role::Patient).await;
    let appointment = history(app, &doctor, &patient).await;
    let jar = app.browser_login(&doctor.email, &doctor.password).await;
    let api = format!("/api/v1/patients/{}/chart", patient.user.id);
    let (s, c) = app.get_json(&api, Some(&doctor.token)).await;
    assert_eq!(s, 200, "{c}");
    let entries = c["entries"].as_array().unwrap().len();
    let page = app.url(&format!("/patients/{}", patient.user.id));
    let one = format!("/api/v1/appointments/{appointment}");
    let (mut a, mut p, mut b) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..200 {
        let t = Instant::now();
        let (s, _) = app.get_json(&api, Some(&doctor.token)).await;
        a.push(t.elapsed());
        assert_eq!(s, 200);
        let t = Instant::now();
        let r =
            app.http.get(&page).header("cookie", format!("consilium_session={jar}")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await.unwrap();
        p.push(t.elapsed());
        let t = Instant::now();
        let (s, _) = app.get_json(&one, Some(&doctor.token)).await;
        b.push(t.elapsed());
        assert_eq!(s, 200);
    }
    for (name, mut v) in [("chart API", a), ("chart page", p), ("baseline GET /appointments/{id}", b)] {
        v.sort();
        println!(
            "[{engine}] {name:<34} ({entries} entries)  p50 {:>7.2} ms  p99 {:>7.2} ms",
            ms(percentile(&v, 0.5)),
            ms(percentile(&v, 0.99))
        );
    }
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("record benchmarks, {} (release build)", jiff::Zoned::now().strftime("%Y-%m-%d %H:%M %Z"));
    let sqlite = spawn_app_on(None, |_| {}).await;
    if std::env::var("RECORDS_BENCH").as_deref() != Ok("chart") {
        autosave(&sqlite, "sqlite").await;
    }
    chart(&sqlite, "sqlite").await;
    let pg = consilium_tests::test_postgres().unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".into());
    if std::net::TcpStream::connect("127.0.0.1:5432").is_ok() || consilium_tests::test_postgres().is_some() {
        let app = spawn_app_on(Some(&pg), |_| {}).await;
        if std::env::var("RECORDS_BENCH").as_deref() != Ok("chart") {
            autosave(&app, "postgres").await;
        }
        chart(&app, "postgres").await;
    } else {
        println!("[postgres] skipped: no server at {pg}");
    }
}
