//! Availability, slots, booking, cancelling, rescheduling and iCalendar export.

use consilium::accounts::model::Role;
use consilium_tests::{TestApp, TestUser, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

/// Gives a doctor 09:00–17:00 every day of the week, 30-minute slots.
pub async fn open_every_day(app: &TestApp, token: &str, doctor_id: &str) {
    let rules: Vec<Value> =
        (1..=7).map(|d| json!({"weekday": d, "start": "09:00", "end": "17:00"})).collect();
    let (s, body) = app
        .send_json(
            Method::PUT,
            &format!("/api/v1/doctors/{doctor_id}/availability"),
            Some(token),
            &json!({"consult_minutes": 30, "rules": rules}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
}

/// Free slots of a doctor over the next two weeks, as the API returns them.
pub async fn slots(app: &TestApp, token: &str, doctor_id: &str, tz: &str) -> Vec<Value> {
    let (s, body) = app.get_json(&format!("/api/v1/doctors/{doctor_id}/slots?tz={tz}"), Some(token)).await;
    assert_eq!(s, 200, "{body}");
    body.as_array().unwrap().clone()
}

/// Opens the doctor's week and books the first free slot from tomorrow on; returns its id.
pub async fn book_next_slot(app: &TestApp, admin_token: &str, doctor_id: &str, patient_id: &str) -> String {
    open_every_day(app, admin_token, doctor_id).await;
    let slot = slots(app, admin_token, doctor_id, "UTC").await.into_iter().nth(20).unwrap();
    let (s, body) = app
        .send_json(
            Method::POST,
            "/api/v1/appointments",
            Some(admin_token),
            &json!({"doctor_id": doctor_id, "patient_id": patient_id, "starts_at": slot["starts_at"]}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

struct Clinic {
    app: TestApp,
    admin: TestUser,
    doctor: TestUser,
    patient: TestUser,
}

async fn clinic() -> Clinic {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let doctor = app.create_user(Role::Doctor).await;
    let patient = app.create_user(Role::Patient).await;
    open_every_day(&app, &doctor.token, &doctor.user.id).await;
    Clinic { app, admin, doctor, patient }
}

async fn book(c: &Clinic, who: &TestUser, starts_at: &Value) -> (u16, Value) {
    c.app
        .send_json(
            Method::POST,
            "/api/v1/appointments",
            Some(&who.token),
            &json!({"doctor_id": c.doctor.user.id, "starts_at": starts_at, "reason": "rash on the arm"}),
        )
        .await
}

#[tokio::test]
async fn slots_follow_the_doctors_hours_and_show_in_the_patients_zone() {
    let c = clinic().await;
    let slots = slots(&c.app, &c.patient.token, &c.doctor.user.id, "Asia/Shanghai").await;
    assert!(slots.len() > 100, "two weeks of 16 slots a day: {}", slots.len());
    for s in &slots {
        let start: jiff::Timestamp = s["starts_at"].as_str().unwrap().parse().unwrap();
        let berlin = start.to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
        assert!((9..17).contains(&berlin.hour()), "inside 09:00–17:00 Berlin time: {s}");
        assert!(s["local_start"].as_str().unwrap().ends_with("[Asia/Shanghai]"), "{s}");
        assert!(start > jiff::Timestamp::now(), "no slot in the past");
    }
}

#[tokio::test]
async fn a_patient_books_a_slot_which_then_disappears_and_lands_in_the_doctors_agenda() {
    let c = clinic().await;
    let free = slots(&c.app, &c.patient.token, &c.doctor.user.id, "UTC").await;
    let (s, appt) = book(&c, &c.patient, &free[3]["starts_at"]).await;
    assert_eq!(s, 201, "{appt}");
    assert_eq!(appt["status"], "booked");
    assert_eq!(appt["patient_id"], c.patient.user.id.as_str());
    assert_eq!(appt["reason"], "rash on the arm");
    assert!(!appt["room_id"].as_str().unwrap().is_empty());
    let after = slots(&c.app, &c.patient.token, &c.doctor.user.id, "UTC").await;
    assert_eq!(after.len(), free.len() - 1);
    assert!(!after.iter().any(|x| x["starts_at"] == free[3]["starts_at"]));
    let (_, agenda) = c.app.get_json("/api/v1/appointments", Some(&c.doctor.token)).await;
    assert_eq!(agenda.as_array().unwrap().len(), 1);
    assert_eq!(agenda[0]["id"], appt["id"]);
    let other = c.app.create_user(Role::Patient).await;
    let (_, theirs) = c.app.get_json("/api/v1/appointments", Some(&other.token)).await;
    assert!(theirs.as_array().unwrap().is_empty(), "patients see only their own");
    let (s, _) = c
        .app
        .get_json(&format!("/api/v1/appointments/{}", appt["id"].as_str().unwrap()), Some(&other.token))
        .await;
    assert_eq!(s, 404);
    let rows = c.app.audit_actions().await;
    assert!(
        rows.iter()
            .any(|r| r["action"] == "appointment.create" && r["patient_id"] == c.patient.user.id.as_str())
    );
}

#[tokio::test]
async fn concurrent_bookings_of_one_slot_give_exactly_one_success() {
    let c = clinic().await;
    let free = slots(&c.app, &c.admin.token, &c.doctor.user.id, "UTC").await;
    let mut patients = Vec::new();
    for _ in 0..12 {
        patients.push(c.app.create_user(Role::Patient).await);
    }
    let target = free[5]["starts_at"].clone();
    let attempts = patients.iter().map(|p| book(&c, p, &target));
    let mut statuses: Vec<u16> =
        futures_util::future::join_all(attempts).await.into_iter().map(|(s, _)| s).collect();
    statuses.sort();
    assert_eq!(statuses[0], 201);
    assert!(statuses[1..].iter().all(|s| *s == 409), "{statuses:?}");
    let (_, all) = c.app.get_json("/api/v1/appointments", Some(&c.admin.token)).await;
    assert_eq!(all.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_patient_cannot_be_in_two_places_at_once() {
    let c = clinic().await;
    let other_doctor = c.app.create_user(Role::Doctor).await;
    open_every_day(&c.app, &other_doctor.token, &other_doctor.user.id).await;
    let free = slots(&c.app, &c.patient.token, &c.doctor.user.id, "UTC").await;
    assert_eq!(book(&c, &c.patient, &free[2]["starts_at"]).await.0, 201);
    let (s, body) = c
        .app
        .send_json(
            Method::POST,
            "/api/v1/appointments",
            Some(&c.patient.token),
            &json!({"doctor_id": other_doctor.user.id, "starts_at": free[2]["starts_at"]}),
        )
        .await;
    assert_eq!(s, 409, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("already has an appointment"));
}

#[tokio::test]
async fn bad_booking_input_gets_field_level_errors_and_writes_nothing() {
    let c = clinic().await;
    let free = slots(&c.app, &c.patient.token, &c.doctor.user.id, "UTC").await;
    let on_grid: jiff::Timestamp = free[0]["starts_at"].as_str().unwrap().parse().unwrap();
    let off_grid = on_grid.checked_add(jiff::SignedDuration::from_mins(7)).unwrap().to_string();
    let cases = [
        (json!({"doctor_id": c.doctor.user.id, "starts_at": off_grid}), 422, "starts_at"),
        (json!({"doctor_id": c.doctor.user.id, "starts_at": "2020-01-06T09:00:00Z"}), 422, "starts_at"),
        (json!({"doctor_id": c.doctor.user.id, "starts_at": "2031-01-06T09:00:00"}), 422, "starts_at"),
        (json!({"doctor_id": c.doctor.user.id, "starts_at": "2031-01-06T03:00:00Z"}), 422, "starts_at"),
        (
            json!({"doctor_id": c.doctor.user.id, "starts_at": free[0]["starts_at"], "reason": "x".repeat(600)}),
            422,
            "reason",
        ),
        (json!({"doctor_id": "no-such-doctor", "starts_at": free[0]["starts_at"]}), 404, ""),
        (json!({"doctor_id": c.patient.user.id, "starts_at": free[0]["starts_at"]}), 404, ""),
    ];
    for (body, status, field) in cases {
        let (s, resp) =
            c.app.send_json(Method::POST, "/api/v1/appointments", Some(&c.patient.token), &body).await;
        assert_eq!(s, status, "{body} → {resp}");
        if !field.is_empty() {
            assert_eq!(resp["error"]["field"], field, "{resp}");
        }
    }
    let (s, _) = c
        .app
        .send_json(
            Method::POST,
            "/api/v1/appointments",
            Some(&c.admin.token),
            &json!({"doctor_id": c.doctor.user.id, "starts_at": free[0]["starts_at"]}),
        )
        .await;
    assert_eq!(s, 422, "an admin must name the patient");
    let (s, _) = c.app.send_json(Method::POST, "/api/v1/appointments", Some(&c.admin.token), &json!({"doctor_id": c.doctor.user.id, "starts_at": free[0]["starts_at"], "patient_id": c.doctor.user.id})).await;
    assert_eq!(s, 422, "only patients can be booked");
    let (_, all) = c.app.get_json("/api/v1/appointments", Some(&c.admin.token)).await;
    assert!(all.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn bad_ranges_and_zones_are_422() {
    let c = clinic().await;
    let base = format!("/api/v1/doctors/{}/slots", c.doctor.user.id);
    for q in [
        "?from=2026-12-10&to=2026-12-01",
        "?from=2026-01-01&to=2026-12-31",
        "?tz=Mars/Base",
        "?from=yesterday",
    ] {
        let (s, body) = c.app.get_json(&format!("{base}{q}"), Some(&c.patient.token)).await;
        assert_eq!(s, 422, "{q}: {body}");
    }
    assert_eq!(c.app.get_json("/api/v1/doctors/nobody/slots", Some(&c.patient.token)).await.0, 404);
}

#[tokio::test]
async fn availability_rules_are_validated() {
    let c = clinic().await;
    let path = format!("/api/v1/doctors/{}/availability", c.doctor.user.id);
    let cases = [
        json!({"consult_minutes": 30, "rules": [{"weekday": 8, "start": "09:00", "end": "10:00"}]}),
        json!({"consult_minutes": 30, "rules": [{"weekday": 1, "start": "11:00", "end": "10:00"}]}),
        json!({"consult_minutes": 30, "rules": [{"weekday": 1, "start": "9am", "end": "10:00"}]}),
        json!({"consult_minutes": 2, "rules": []}),
        json!({"consult_minutes": 30, "rules": [{"weekday": 1, "start": "09:00", "end": "12:00"}, {"weekday": 1, "start": "11:00", "end": "13:00"}]}),
    ];
    for body in cases {
        let (s, resp) = c.app.send_json(Method::PUT, &path, Some(&c.doctor.token), &body).await;
        assert_eq!(s, 422, "{body}: {resp}");
    }
    let (_, kept) = c.app.get_json(&path, Some(&c.doctor.token)).await;
    assert_eq!(kept["rules"].as_array().unwrap().len(), 7, "refused changes leave the rules as they were");
    let other = c.app.create_user(Role::Doctor).await;
    assert_eq!(
        c.app
            .send_json(Method::PUT, &path, Some(&other.token), &json!({"consult_minutes": 30, "rules": []}))
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn time_off_removes_slots_and_blocks_booking() {
    let c = clinic().await;
    let free = slots(&c.app, &c.patient.token, &c.doctor.user.id, "UTC").await;
    // A morning's first slot (09:00 Berlin), so two hours off cover four whole slots whatever
    // the time of day the test runs.
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let morning = free
        .iter()
        .position(|s| {
            s["starts_at"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap()
                .to_zoned(berlin.clone())
                .hour()
                == 9
        })
        .unwrap();
    let first: jiff::Timestamp = free[morning]["starts_at"].as_str().unwrap().parse().unwrap();
    let end = first.checked_add(jiff::SignedDuration::from_hours(2)).unwrap();
    let (s, e) = c
        .app
        .send_json(Method::POST, &format!("/api/v1/doctors/{}/exceptions", c.doctor.user.id), Some(&c.doctor.token), &json!({"kind": "off", "starts_at": first.to_string(), "ends_at": end.to_string(), "reason": "conference"}))
        .await;
    assert_eq!(s, 201, "{e}");
    let after = slots(&c.app, &c.patient.token, &c.doctor.user.id, "UTC").await;
    assert_eq!(after.len(), free.len() - 4, "two hours of 30-minute slots are gone");
    assert_eq!(book(&c, &c.patient, &free[morning]["starts_at"]).await.0, 422);
    let (s, _) = c
        .app
        .request(
            Method::DELETE,
            &format!("/api/v1/doctors/{}/exceptions/{}", c.doctor.user.id, e["id"].as_str().unwrap()),
            Some(&c.doctor.token),
        )
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(s, 204);
    assert_eq!(slots(&c.app, &c.patient.token, &c.doctor.user.id, "UTC").await.len(), free.len());
    let (s, _) = c
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/doctors/{}/exceptions", c.doctor.user.id),
            Some(&c.doctor.token),
            &json!({"kind": "holiday", "starts_at": first.to_string(), "ends_at": end.to_string()}),
        )
        .await;
    assert_eq!(s, 422);
}

#[tokio::test]
async fn cancelling_and_rescheduling_keep_a_trail_and_free_the_slot() {
    let c = clinic().await;
    let free = slots(&c.app, &c.patient.token, &c.doctor.user.id, "UTC").await;
    let (_, appt) = book(&c, &c.patient, &free[1]["starts_at"]).await;
    let id = appt["id"].as_str().unwrap();
    // Move it to a later slot.
    let (s, moved) = c
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/appointments/{id}/reschedule"),
            Some(&c.patient.token),
            &json!({"starts_at": free[6]["starts_at"], "reason": "train strike"}),
        )
        .await;
    assert_eq!(s, 200, "{moved}");
    assert_eq!(moved["starts_at"], free[6]["starts_at"]);
    assert_eq!(moved["sequence"], 1);
    assert!(
        slots(&c.app, &c.patient.token, &c.doctor.user.id, "UTC")
            .await
            .iter()
            .any(|x| x["starts_at"] == free[1]["starts_at"]),
        "the old slot is free again"
    );
    // Another patient takes slot 1; moving onto it is a conflict.
    let other = c.app.create_user(Role::Patient).await;
    assert_eq!(book(&c, &other, &free[1]["starts_at"]).await.0, 201);
    let (s, _) = c
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/appointments/{id}/reschedule"),
            Some(&c.patient.token),
            &json!({"starts_at": free[1]["starts_at"], "reason": "earlier"}),
        )
        .await;
    assert_eq!(s, 409);
    // Cancel needs a reason, then works once.
    let (s, body) = c
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(&c.patient.token),
            &json!({"reason": "  "}),
        )
        .await;
    assert_eq!((s, body["error"]["field"].as_str()), (422, Some("reason")));
    let (s, cancelled) = c
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(&c.patient.token),
            &json!({"reason": "feeling better"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["sequence"], 2);
    assert_eq!(cancelled["status_reason"], "feeling better");
    let (s, _) = c
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(&c.patient.token),
            &json!({"reason": "again"}),
        )
        .await;
    assert_eq!(s, 409);
    let actions: Vec<String> =
        c.app.audit_actions().await.iter().map(|r| r["action"].as_str().unwrap().to_string()).collect();
    for a in ["appointment.create", "appointment.reschedule", "appointment.cancel"] {
        assert!(actions.iter().any(|x| x == a), "{a} audited");
    }
}

#[tokio::test]
async fn only_clinicians_mark_outcomes_and_doctors_book_only_their_own_agenda() {
    let c = clinic().await;
    let free = slots(&c.app, &c.doctor.token, &c.doctor.user.id, "UTC").await;
    // The doctor books for a patient into their own agenda.
    let (s, appt) = c.app.send_json(Method::POST, "/api/v1/appointments", Some(&c.doctor.token), &json!({"doctor_id": c.doctor.user.id, "patient_id": c.patient.user.id, "starts_at": free[0]["starts_at"]})).await;
    assert_eq!(s, 201, "{appt}");
    let id = appt["id"].as_str().unwrap();
    let other_doctor = c.app.create_user(Role::Doctor).await;
    let (s, _) = c.app.send_json(Method::POST, "/api/v1/appointments", Some(&other_doctor.token), &json!({"doctor_id": c.doctor.user.id, "patient_id": c.patient.user.id, "starts_at": free[1]["starts_at"]})).await;
    assert_eq!(s, 403);
    let (s, _) = c
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/appointments/{id}/status"),
            Some(&c.patient.token),
            &json!({"status": "completed"}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = c
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/appointments/{id}/status"),
            Some(&c.doctor.token),
            &json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(s, 422);
    let (s, done) = c
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/appointments/{id}/status"),
            Some(&c.doctor.token),
            &json!({"status": "no_show"}),
        )
        .await;
    assert_eq!((s, done["status"].as_str()), (200, Some("no_show")));
}

#[tokio::test]
async fn the_ics_file_is_valid_icalendar_with_a_stable_uid_and_rising_sequence() {
    let c = clinic().await;
    let free = slots(&c.app, &c.patient.token, &c.doctor.user.id, "UTC").await;
    let (_, appt) = book(&c, &c.patient, &free[0]["starts_at"]).await;
    let id = appt["id"].as_str().unwrap();
    let fetch = || async {
        let r = c
            .app
            .request(Method::GET, &format!("/api/v1/appointments/{id}/ics"), Some(&c.patient.token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/calendar"));
        r.text().await.unwrap()
    };
    let before = fetch().await;
    let parsed: icalendar::Calendar = before.parse().expect("parses as iCalendar");
    assert_eq!(parsed.components.len(), 1);
    assert!(
        before.contains("BEGIN:VCALENDAR") && before.contains("VERSION:2.0") && before.contains("PRODID:")
    );
    assert!(before.contains(&format!("UID:appointment-{id}@consilium")));
    assert!(before.contains("SEQUENCE:0") && before.contains("STATUS:CONFIRMED"));
    let start: jiff::Timestamp = free[0]["starts_at"].as_str().unwrap().parse().unwrap();
    assert!(before.contains(&format!("DTSTART:{}", start.strftime("%Y%m%dT%H%M%SZ"))), "{before}");
    assert!(before.contains("\r\n"), "lines end in CRLF");
    c.app
        .send_json(
            Method::POST,
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(&c.patient.token),
            &json!({"reason": "better"}),
        )
        .await;
    let after = fetch().await;
    assert!(after.contains(&format!("UID:appointment-{id}@consilium")));
    assert!(after.contains("SEQUENCE:1") && after.contains("STATUS:CANCELLED"), "{after}");
}

mod feed;
mod pages;
