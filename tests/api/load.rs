//! Load, bounded: a clinic's Monday morning (200 clients at once on a mixed workload) and every
//! writing route hit by 2, 20 and 200 identical requests at once. No answer may be 5xx, and
//! every acknowledged write must be there afterwards. Speed is the benchmark's business
//! (`cargo bench --bench scheduling`); these tests only count outcomes.

use std::collections::HashMap;

use consilium::accounts::model::Role;
use consilium_tests::{TestApp, TestUser, spawn_app};
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::openapi::{concrete, fixture, routes};
use crate::scheduling::{open_every_day, slots};

const CLIENTS: usize = 200;

/// What one client was told, for the checks afterwards.
#[derive(Default)]
struct Outcome {
    statuses: Vec<(&'static str, u16)>,
    review: Option<(String, usize)>,
    appointment: Option<(String, &'static str, String)>,
}

struct Clinic {
    app: TestApp,
    admin: TestUser,
    doctors: Vec<TestUser>,
    patients: Vec<TestUser>,
    free: Vec<Vec<Value>>,
    feeds: Vec<String>,
}

async fn clinic() -> Clinic {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let mut doctors = Vec::new();
    let mut free = Vec::new();
    for _ in 0..4 {
        let d = app.create_user(Role::Doctor).await;
        open_every_day(&app, &admin.token, &d.user.id).await;
        free.push(slots(&app, &admin.token, &d.user.id, "UTC").await);
        doctors.push(d);
    }
    let mut patients = Vec::new();
    let mut feeds = Vec::new();
    for _ in 0..20 {
        let p = app.create_user(Role::Patient).await;
        let (s, f) =
            app.send_json(Method::POST, "/api/v1/me/calendar-feed", Some(&p.token), &json!({})).await;
        assert_eq!(s, 201, "{f}");
        let url = f["url"].as_str().unwrap();
        feeds.push(format!("/calendar/{}", url.rsplit('/').next().unwrap()));
        patients.push(p);
    }
    Clinic { app, admin, doctors, patients, free, feeds }
}

/// One client's morning: plan a review and add a case, book, move and maybe cancel an
/// appointment, save a profile, read a calendar feed and an agenda.
async fn client(c: &Clinic, i: usize) -> Outcome {
    let app = &c.app;
    let doctor = &c.doctors[i % c.doctors.len()];
    let patient = &c.patients[i % c.patients.len()];
    let mut out = Outcome::default();
    let (s, review) = app
        .send_json(
            Method::POST,
            "/api/v1/reviews",
            Some(&doctor.token),
            &json!({"title": format!("Board {i}"), "experts": [doctor.user.id], "duration_minutes": 60,
                    "from": "2031-01-01", "to": "2031-01-05"}),
        )
        .await;
    out.statuses.push(("create review", s));
    if s == 201 {
        let id = review["id"].as_str().unwrap().to_string();
        let (s, _) = app
            .send_json(
                Method::POST,
                &format!("/api/v1/reviews/{id}/cases"),
                Some(&doctor.token),
                &json!({"patient_id": patient.user.id, "question": format!("Case {i}?")}),
            )
            .await;
        out.statuses.push(("add case", s));
        out.review = Some((id, usize::from((200..300).contains(&s))));
    }
    let free = &c.free[i % c.doctors.len()];
    // Fewer slots than clients: some bookings meet each other and get 409.
    let slot = &free[(i * 7) % free.len().min(150)]["starts_at"];
    let (s, appt) = app
        .send_json(
            Method::POST,
            "/api/v1/appointments",
            Some(&c.admin.token),
            &json!({"doctor_id": doctor.user.id, "patient_id": patient.user.id, "starts_at": slot}),
        )
        .await;
    out.statuses.push(("book", s));
    if s == 201 {
        let id = appt["id"].as_str().unwrap().to_string();
        let mut state = ("booked", appt["starts_at"].as_str().unwrap().to_string());
        let other = &free[(i * 7 + 3) % free.len()]["starts_at"];
        let (s, moved) = app
            .send_json(
                Method::POST,
                &format!("/api/v1/appointments/{id}/reschedule"),
                Some(&c.admin.token),
                &json!({"starts_at": other, "reason": "clinic request"}),
            )
            .await;
        out.statuses.push(("reschedule", s));
        if s == 200 {
            state.1 = moved["starts_at"].as_str().unwrap().to_string();
        }
        if i.is_multiple_of(2) {
            let (s, _) = app
                .send_json(
                    Method::POST,
                    &format!("/api/v1/appointments/{id}/cancel"),
                    Some(&c.admin.token),
                    &json!({"reason": "patient is better"}),
                )
                .await;
            out.statuses.push(("cancel", s));
            if s == 200 {
                state.0 = "cancelled";
            }
        }
        out.appointment = Some((id, state.0, state.1));
    }
    let (s, _) = app
        .send_json(
            Method::PATCH,
            "/api/v1/me",
            Some(&patient.token),
            &json!({"name": format!("Patient {i}")}),
        )
        .await;
    out.statuses.push(("save profile", s));
    out.statuses.push(("calendar feed", app.get_bytes(&c.feeds[i % c.feeds.len()], None).await.0));
    out.statuses.push(("agenda", app.get_json("/api/v1/appointments", Some(&doctor.token)).await.0));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_at_once_get_no_5xx_and_every_acknowledged_write_is_kept() {
    let c = clinic().await;
    let outcomes = join_all((0..CLIENTS).map(|i| client(&c, i))).await;
    let mut tally: HashMap<(&str, u16), usize> = HashMap::new();
    for o in &outcomes {
        for s in &o.statuses {
            *tally.entry(*s).or_default() += 1;
        }
    }
    eprintln!("mixed workload, {CLIENTS} clients: {tally:?}");
    let bad: Vec<_> =
        tally.iter().filter(|((_, s), _)| *s >= 500 || !matches!(*s, 200..=299 | 409 | 422)).collect();
    assert!(bad.is_empty(), "answers outside 2xx/409/422: {bad:?} (all: {tally:?})");
    // Every acknowledged write is there.
    for o in &outcomes {
        if let Some((id, cases)) = &o.review {
            let (s, r) = c.app.get_json(&format!("/api/v1/reviews/{id}"), Some(&c.admin.token)).await;
            assert_eq!(s, 200, "review {id}: {r}");
            assert_eq!(r["cases"].as_array().unwrap().len(), *cases, "review {id}: {r}");
        }
        if let Some((id, status, starts_at)) = &o.appointment {
            let (s, a) = c.app.get_json(&format!("/api/v1/appointments/{id}"), Some(&c.admin.token)).await;
            assert_eq!(s, 200, "appointment {id}");
            assert_eq!(
                (a["status"].as_str(), a["starts_at"].as_str()),
                (Some(*status), Some(starts_at.as_str())),
                "{a}"
            );
        }
    }
    let booked = outcomes.iter().filter(|o| o.appointment.is_some()).count();
    assert!(booked > CLIENTS / 4, "the workload booked only {booked} appointments: {tally:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_writing_route_takes_2_20_and_200_identical_requests_at_once_without_5xx() {
    let app = spawn_app().await;
    let ids = fixture(&app).await;
    let admin = app.create_user(Role::Admin).await;
    let doctor = app.create_user(Role::Doctor).await;
    let target = app.create_user(Role::Patient).await;
    let mut failures = Vec::new();
    for n in [2, 20, 200] {
        for (method, template, body, expect) in routes(&ids, &target.email) {
            if method == Method::GET {
                continue;
            }
            // Admins pass every route but RSVP, which is the invited expert's.
            let token = if expect[3] == crate::openapi::Expect::Ok { &admin.token } else { &doctor.token };
            let path = concrete(template, &ids);
            let sends = (0..n).map(|_| {
                let mut rb = app.request(method.clone(), &path, Some(token));
                if let Some(b) = &body {
                    rb = rb.json(b);
                }
                async move { rb.send().await.map(|r| r.status().as_u16()) }
            });
            let statuses = join_all(sends).await;
            let server_errors = statuses.iter().filter(|s| !matches!(s, Ok(code) if *code < 500)).count();
            if server_errors > 0 {
                failures
                    .push(format!("{method} {template} ×{n}: {server_errors} 5xx or failed: {statuses:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
