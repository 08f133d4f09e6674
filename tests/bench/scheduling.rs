//! Scheduling benchmarks: free-slot search, the time finder, and booking under load.
//!
//!     cargo bench -p consilium-tests --bench scheduling
//!
//! Runs against SQLite and, when CONSILIUM_TEST_DATABASE_URL names a PostgreSQL server (the
//! default here is postgres://postgres@127.0.0.1:5432 if it answers), against PostgreSQL too.
//! Each figure is printed beside a baseline measured in the same run.

use std::time::{Duration, Instant};

use consilium::accounts::model::Role;
use consilium::scheduling::{db, service, slots};
use consilium_tests::{TestApp, spawn_app_on};
use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use serde_json::json;

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "an index within the slice")]
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(name: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
    println!("{name:<58} p50 {:>9.3} ms   p99 {:>9.3} ms   (n={})", ms(p50), ms(p99), samples.len());
    (p50, p99)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn open(
    app: &TestApp,
    token: &str,
    doctor: &str,
    start: &str,
    end: &str,
    minutes: i64,
    days: std::ops::RangeInclusive<i64>,
) {
    let rules: Vec<_> = days.map(|d| json!({"weekday": d, "start": start, "end": end})).collect();
    let (s, b) = app
        .send_json(
            Method::PUT,
            &format!("/api/v1/doctors/{doctor}/availability"),
            Some(token),
            &json!({"consult_minutes": minutes, "rules": rules}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
}

async fn slot_search(app: &TestApp) {
    let admin = app.create_user(Role::Admin).await;
    let doctor = app.create_user(Role::Doctor).await;
    open(app, &admin.token, &doctor.user.id, "08:00", "18:00", 15, 1..=5).await;
    let patient = app.create_user(Role::Patient).await;
    // 200 bookings spread over the 90 days, so the search subtracts real appointments.
    let (_, free) = app
        .get_json(
            &format!("/api/v1/doctors/{}/slots?to={}", doctor.user.id, days_ahead(89)),
            Some(&admin.token),
        )
        .await;
    let free = free.as_array().unwrap();
    for s in free.iter().step_by(free.len() / 200).take(200) {
        let (st, b) = app.send_json(Method::POST, "/api/v1/appointments", Some(&admin.token), &json!({"doctor_id": doctor.user.id, "patient_id": patient.user.id, "starts_at": s["starts_at"]})).await;
        assert_eq!(st, 201, "{b}");
    }
    let mut conn = app.state.db.acquire().await.unwrap();
    let d = db::doctor(&mut conn, &doctor.user.id).await.unwrap().unwrap();
    let from = Timestamp::now();
    let to = from.checked_add(SignedDuration::from_hours(24 * 90)).unwrap();
    let mut samples = Vec::new();
    let mut count = 0;
    for _ in 0..100 {
        let t = Instant::now();
        count = service::slots(&mut conn, &d, from, to).await.unwrap().len();
        samples.push(t.elapsed());
    }
    summary(&format!("free slots, 1 doctor, 90 days ({count} slots, 200 booked)"), samples);
}

fn days_ahead(n: i64) -> String {
    Timestamp::now().checked_add(SignedDuration::from_hours(24 * n)).unwrap().strftime("%Y-%m-%d").to_string()
}

async fn time_finder(app: &TestApp) {
    let admin = app.create_user(Role::Admin).await;
    // Six zones whose 07:00–19:00 days share 12:00–17:00 UTC (in winter; it shifts with DST).
    let zones = [
        "Europe/Berlin",
        "Europe/London",
        "America/New_York",
        "Europe/Madrid",
        "America/Sao_Paulo",
        "Africa/Johannesburg",
    ];
    let patient = app.create_user(Role::Patient).await;
    let mut experts = Vec::new();
    for i in 0..20 {
        let d = app.create_user(Role::Doctor).await;
        let (s, _) = app
            .send_json(
                Method::PATCH,
                &format!("/api/v1/users/{}", d.user.id),
                Some(&admin.token),
                &json!({"timezone": zones[i % zones.len()]}),
            )
            .await;
        assert_eq!(s, 200);
        open(app, &admin.token, &d.user.id, "07:00", "19:00", 30, 1..=6).await;
        // Ten bookings each over the four weeks.
        let (_, free) = app
            .get_json(
                &format!("/api/v1/doctors/{}/slots?to={}", d.user.id, days_ahead(27)),
                Some(&admin.token),
            )
            .await;
        let free = free.as_array().unwrap().clone();
        for s in free.iter().skip(i).step_by(free.len() / 10).take(10) {
            app.send_json(
                Method::POST,
                "/api/v1/appointments",
                Some(&admin.token),
                &json!({"doctor_id": d.user.id, "patient_id": patient.user.id, "starts_at": s["starts_at"]}),
            )
            .await;
        }
        experts.push(d.user.id);
    }
    let from = Timestamp::now();
    let to = from.checked_add(SignedDuration::from_hours(24 * 28)).unwrap();
    let mut conn = app.state.db.acquire().await.unwrap();
    let mut samples = Vec::new();
    let mut found = 0;
    for _ in 0..30 {
        let t = Instant::now();
        let mut free = Vec::new();
        for id in &experts {
            let d = db::doctor(&mut conn, id).await.unwrap().unwrap();
            free.push(service::free_windows(&mut conn, &d, from, to, None).await.unwrap());
        }
        found = slots::common_starts(&free, SignedDuration::from_mins(60), SignedDuration::from_mins(15), 10)
            .len();
        samples.push(t.elapsed());
    }
    summary(&format!("time finder, 20 experts in 6 zones, 4 weeks ({found} proposals)"), samples);
}

/// 64 clients at once: each books 8 distinct slots (spread over 16 doctors); beside it the
/// same 64 clients calling /healthz, the cost of the HTTP stack alone.
async fn booking_load(app: &TestApp, engine: &str) {
    const CLIENTS: usize = 64;
    const PER_CLIENT: usize = 8;
    let admin = app.create_user(Role::Admin).await;
    let mut doctors = Vec::new();
    let mut free = Vec::new();
    for _ in 0..16 {
        let d = app.create_user(Role::Doctor).await;
        open(app, &admin.token, &d.user.id, "00:00", "24:00", 15, 1..=7).await;
        let (_, s) = app
            .get_json(
                &format!("/api/v1/doctors/{}/slots?to={}", d.user.id, days_ahead(20)),
                Some(&admin.token),
            )
            .await;
        free.push(
            s.as_array()
                .unwrap()
                .iter()
                .map(|x| x["starts_at"].as_str().unwrap().to_string())
                .collect::<Vec<_>>(),
        );
        doctors.push(d.user.id);
    }
    let mut patients = Vec::new();
    for _ in 0..CLIENTS {
        patients.push(app.create_user(Role::Patient).await);
    }
    let http = reqwest::Client::new();
    let run = |book: bool| {
        let tasks: Vec<_> = patients
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let http = http.clone();
                let token = p.token.clone();
                let base = app.url("");
                let doctor = doctors[i % 16].clone();
                let mine: Vec<String> = (0..PER_CLIENT)
                    .map(|k| free[i % 16][(i / 16) * PER_CLIENT * 2 + k * 2].clone())
                    .collect();
                tokio::spawn(async move {
                    let mut lat = Vec::new();
                    for slot in mine {
                        let t = Instant::now();
                        let r = if book {
                            http.post(format!("{base}/api/v1/appointments"))
                                .bearer_auth(&token)
                                .json(&json!({"doctor_id": doctor, "starts_at": slot}))
                                .send()
                                .await
                                .unwrap()
                        } else {
                            http.get(format!("{base}/healthz")).send().await.unwrap()
                        };
                        let status = r.status().as_u16();
                        let _ = r.bytes().await;
                        assert!(status == 200 || status == 201, "status {status}");
                        lat.push(t.elapsed());
                    }
                    lat
                })
            })
            .collect();
        async move {
            let t = Instant::now();
            let mut all = Vec::new();
            for task in tasks {
                all.extend(task.await.unwrap());
            }
            (all, t.elapsed())
        }
    };
    let (base, base_wall) = run(false).await;
    let (lat, wall) = run(true).await;
    let n = lat.len();
    let (hp50, _) = summary(&format!("[{engine}] baseline GET /healthz, {CLIENTS} concurrent"), base);
    let (p50, p99) = summary(&format!("[{engine}] POST /appointments, {CLIENTS} concurrent"), lat);
    println!(
        "[{engine}] booking throughput {:.0}/s (baseline {:.0}/s); p50 is {:.1}x the baseline p50; p99 target <= 20 ms: {}",
        n as f64 / wall.as_secs_f64(),
        n as f64 / base_wall.as_secs_f64(),
        ms(p50) / ms(hp50).max(0.001),
        if ms(p99) <= 20.0 { "met" } else { "NOT met" }
    );
}

/// 200 clients at once on the mixed workload of `tests/api/load.rs` (reviews planned and cases
/// added, bookings moved and cancelled, profiles saved, calendar feeds and agendas read), each
/// client looping for `secs` seconds; requests per second and the count of 5xx answers.
async fn mixed_load(app: &TestApp, label: &str, secs: u64) {
    const CLIENTS: usize = 200;
    let admin = app.create_user(Role::Admin).await;
    let mut doctors = Vec::new();
    for _ in 0..8 {
        let d = app.create_user(Role::Doctor).await;
        open(app, &admin.token, &d.user.id, "00:00", "24:00", 15, 1..=7).await;
        doctors.push(d);
    }
    let mut patients = Vec::new();
    for _ in 0..40 {
        let p = app.create_user(Role::Patient).await;
        let (_, f) =
            app.send_json(Method::POST, "/api/v1/me/calendar-feed", Some(&p.token), &json!({})).await;
        let feed = format!("/calendar/{}", f["url"].as_str().unwrap().rsplit('/').next().unwrap());
        patients.push((p, feed));
    }
    let http = reqwest::Client::new();
    let base = app.url("");
    let deadline = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (http, base) = (http.clone(), base.clone());
            let doctor = (doctors[i % 8].token.clone(), doctors[i % 8].user.id.clone());
            let (patient, feed) = (patients[i % 40].0.clone(), patients[i % 40].1.clone());
            let admin = admin.token.clone();
            tokio::spawn(async move {
                let (mut n, mut errors, mut round) = (0u64, 0u64, 0usize);
                let send = |m: Method, path: String, token: &str, body: Option<serde_json::Value>| {
                    let rb = http.request(m, format!("{base}{path}")).bearer_auth(token);
                    let rb = match body { Some(b) => rb.json(&b), None => rb };
                    async move {
                        let r = rb.send().await.unwrap();
                        let status = r.status().as_u16();
                        let body: serde_json::Value = r.json().await.unwrap_or_default();
                        (status, body)
                    }
                };
                while Instant::now() < deadline {
                    let mut answers = Vec::new();
                    let (s, r) = send(Method::POST, "/api/v1/reviews".into(), &doctor.0, Some(json!({"title": "Board", "experts": [doctor.1], "duration_minutes": 60, "from": "2031-01-01", "to": "2031-01-05"}))).await;
                    answers.push(s);
                    if let Some(id) = r["id"].as_str() {
                        answers.push(send(Method::POST, format!("/api/v1/reviews/{id}/cases"), &doctor.0, Some(json!({"patient_id": patient.user.id, "question": "q?"}))).await.0);
                    }
                    let day = jiff::civil::date(2030, 1, 1).checked_add(jiff::Span::new().days(i64::try_from((round * CLIENTS + i) / 8).unwrap())).unwrap();
                    let at = format!("{day}T{:02}:{:02}:00Z", (i % 8) * 2, 15 * (round % 4));
                    let (s, a) = send(Method::POST, "/api/v1/appointments".into(), &admin, Some(json!({"doctor_id": doctor.1, "patient_id": patient.user.id, "starts_at": at}))).await;
                    answers.push(s);
                    if let Some(id) = a["id"].as_str() {
                        let later = format!("{day}T{:02}:{:02}:00Z", (i % 8) * 2 + 1, 15 * (round % 4));
                        answers.push(send(Method::POST, format!("/api/v1/appointments/{id}/reschedule"), &admin, Some(json!({"starts_at": later, "reason": "r"}))).await.0);
                        answers.push(send(Method::POST, format!("/api/v1/appointments/{id}/cancel"), &admin, Some(json!({"reason": "r"}))).await.0);
                    }
                    answers.push(send(Method::PATCH, "/api/v1/me".into(), &patient.token, Some(json!({"name": format!("P {round}")}))).await.0);
                    answers.push(http.get(format!("{base}{feed}")).send().await.unwrap().status().as_u16());
                    answers.push(send(Method::GET, "/api/v1/appointments?limit=20".into(), &doctor.0, None).await.0);
                    n += answers.len() as u64;
                    errors += answers.iter().filter(|s| **s >= 500).count() as u64;
                    round += 1;
                }
                (n, errors)
            })
        })
        .collect();
    let started = Instant::now();
    let (mut n, mut errors) = (0, 0);
    for t in tasks {
        let (a, b) = t.await.unwrap();
        n += a;
        errors += b;
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "[{label}] mixed workload, {CLIENTS} clients: {:.0} requests/s ({n} in {wall:.1} s), {errors} answered 5xx; target >= 3000/s, 0 5xx: {}",
        n as f64 / wall,
        if errors == 0 && n as f64 / wall >= 3000.0 { "met" } else { "NOT met" }
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("scheduling benchmarks, {} (release build)", jiff::Zoned::now().strftime("%Y-%m-%d %H:%M %Z"));
    let sqlite = spawn_app_on(None, |_| {}).await;
    if std::env::var("SCHEDULING_BENCH").as_deref() == Ok("mixed") {
        // Only the mixed workload on the default SQLite server, e.g. to profile it.
        return mixed_load(&sqlite, "sqlite, group commit", 5).await;
    }
    slot_search(&sqlite).await;
    time_finder(&sqlite).await;
    // Group commit against its baseline (each writer commits alone), interleaved in one run.
    let alone = spawn_app_on(None, |c| c.db.group_commit = 1).await;
    for round in 1..=2 {
        println!("-- round {round}");
        booking_load(&alone, "sqlite, commit per writer").await;
        booking_load(&sqlite, "sqlite, group commit").await;
    }
    mixed_load(&alone, "sqlite, commit per writer", 5).await;
    mixed_load(&sqlite, "sqlite, group commit", 5).await;
    let pg = consilium_tests::test_postgres().unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".into());
    if std::net::TcpStream::connect("127.0.0.1:5432").is_ok() || consilium_tests::test_postgres().is_some() {
        let app = spawn_app_on(Some(&pg), |_| {}).await;
        booking_load(&app, "postgres").await;
        mixed_load(&app, "postgres", 5).await;
    } else {
        println!("[postgres] skipped: no server at {pg}");
    }
}
