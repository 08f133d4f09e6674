//! The reminder outbox: rows written with the booking, sent once over real SMTP, retried on
//! failure, recorded when no mail server is configured; and the notices of a booking, move or
//! cancellation, sent at once with the calendar entry attached.

use consilium::accounts::model::Role;
use consilium::scheduling::reminders::{Mailer, run_due};
use consilium_tests::smtp::SmtpSink;
use consilium_tests::{TestApp, spawn_app_with};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Row;

/// The reminders (not the notices) of an object: recipient, status, minutes before the start.
async fn rows(app: &TestApp, object_id: &str) -> Vec<(String, String, i64)> {
    sqlx::query("SELECT recipient_id, status, offset_minutes FROM reminders WHERE object_id = $1 AND kind = 'appointment' ORDER BY offset_minutes, recipient_id")
        .bind(object_id)
        .fetch_all(app.state.db.read())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("recipient_id"), r.get("status"), r.get("offset_minutes")))
        .collect()
}

/// Sends the booking's notices (due at once), so that what follows is about reminders alone.
async fn notices_sent(app: &TestApp, mailer: &Mailer) {
    assert_eq!(run_due(&app.state, mailer).await.unwrap(), 2, "the booking's notices, to patient and doctor");
}

/// Books a slot at least two days ahead; returns the appointment.
async fn booked(app: &TestApp) -> (Value, consilium_tests::TestUser, consilium_tests::TestUser) {
    let doctor = app.create_user(Role::Doctor).await;
    let patient = app.create_user(Role::Patient).await;
    crate::scheduling::open_every_day(app, &doctor.token, &doctor.user.id).await;
    let slots = crate::scheduling::slots(app, &patient.token, &doctor.user.id, "UTC").await;
    let later = slots.iter().find(|s| {
        let t: jiff::Timestamp = s["starts_at"].as_str().unwrap().parse().unwrap();
        t > jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(48)).unwrap()
    });
    let (s, a) = app
        .send_json(
            Method::POST,
            "/api/v1/appointments",
            Some(&patient.token),
            &json!({"doctor_id": doctor.user.id, "starts_at": later.unwrap()["starts_at"]}),
        )
        .await;
    assert_eq!(s, 201, "{a}");
    (a, doctor, patient)
}

async fn make_due(app: &TestApp, object_id: &str) {
    app.state
        .db
        .execute(
            sqlx::query("UPDATE reminders SET due_at = $2 WHERE object_id = $1 AND status = 'pending'")
                .bind(object_id)
                .bind(consilium::db::now_ms() - 1000),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn booking_queues_reminders_that_moving_and_cancelling_update() {
    let app = consilium_tests::spawn_app().await;
    let (a, doctor, patient) = booked(&app).await;
    let id = a["id"].as_str().unwrap();
    let r = rows(&app, id).await;
    assert_eq!(r.len(), 4, "24 h and 15 min, to patient and doctor: {r:?}");
    assert!(r.iter().all(|(_, s, _)| s == "pending"));
    assert!(
        r.iter().any(|(who, _, _)| *who == patient.user.id)
            && r.iter().any(|(who, _, _)| *who == doctor.user.id)
    );
    let slots = crate::scheduling::slots(&app, &patient.token, &doctor.user.id, "UTC").await;
    let (s, _) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/appointments/{id}/reschedule"),
            Some(&patient.token),
            &json!({"starts_at": slots.last().unwrap()["starts_at"], "reason": "later"}),
        )
        .await;
    assert_eq!(s, 200);
    let r = rows(&app, id).await;
    assert_eq!(r.iter().filter(|x| x.1 == "cancelled").count(), 4);
    assert_eq!(r.iter().filter(|x| x.1 == "pending").count(), 4, "new reminders for the new time");
    app.send_json(
        Method::POST,
        &format!("/api/v1/appointments/{id}/cancel"),
        Some(&patient.token),
        &json!({"reason": "well again"}),
    )
    .await;
    assert!(rows(&app, id).await.iter().all(|x| x.1 == "cancelled"));
}

#[tokio::test]
async fn due_reminders_are_emailed_once_in_the_recipients_language() {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(|c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{}", sink.port));
        c.public_url = Some("https://clinic.example".into());
    })
    .await;
    let (a, _, patient) = booked(&app).await;
    let id = a["id"].as_str().unwrap();
    app.send_json(Method::PATCH, "/api/v1/me", Some(&patient.token), &json!({"locale": "zh"})).await;
    let mailer = Mailer::from_config(&app.state.config).unwrap();
    notices_sent(&app, &mailer).await;
    make_due(&app, id).await;
    assert_eq!(run_due(&app.state, &mailer).await.unwrap(), 4);
    let mail = sink.messages().split_off(2);
    assert_eq!(mail.len(), 4, "{mail:?}");
    let bodies: Vec<String> = mail.iter().map(|m| body_text(m)).collect();
    assert!(
        bodies.iter().all(|b| b.contains(&format!("https://clinic.example/appointments/{id}"))),
        "{bodies:?}"
    );
    let to_patient: Vec<&String> =
        mail.iter().zip(&bodies).filter(|(m, _)| m.contains(&patient.email)).map(|(_, b)| b).collect();
    assert_eq!(to_patient.len(), 2);
    assert!(
        to_patient.iter().all(|b| b.contains("提醒您即将进行的会诊")),
        "the patient reads Chinese: {to_patient:?}"
    );
    // Proper MIME, as a mail program reads it: UTF-8 text and HTML, in the recipient's language.
    for raw in &mail {
        let m = self::mail(raw);
        assert_eq!(m["mime_version"], "1.0", "{m}");
        assert_eq!(m["content_type"], "multipart/alternative");
        assert_eq!(m["defects"], json!([]));
        let types: Vec<&str> =
            m["parts"].as_array().unwrap().iter().map(|p| p["content_type"].as_str().unwrap()).collect();
        assert_eq!(types, ["text/plain", "text/html"]);
        assert!(m["parts"].as_array().unwrap().iter().all(|p| p["charset"] == "utf-8"));
        let zh = raw.contains(&patient.email);
        assert_eq!(m["content_language"], if zh { "zh-CN" } else { "en" });
        assert!(m["subject"].as_str().unwrap().contains('·'), "the middle dot survives: {m}");
        assert!(
            m["parts"][1]["text"]
                .as_str()
                .unwrap()
                .contains(&format!("<a href=\"https://clinic.example/appointments/{id}\""))
        );
    }
    assert!(rows(&app, id).await.iter().all(|x| x.1 == "sent"));
    assert_eq!(run_due(&app.state, &mailer).await.unwrap(), 0, "never sent twice");
    assert_eq!(sink.messages().len(), 6);
}

#[tokio::test]
async fn an_unreachable_mail_server_means_a_retry_later_not_a_loss() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = spawn_app_with(|c| c.smtp_url = Some(format!("smtp://127.0.0.1:{closed}"))).await;
    let (a, _, _) = booked(&app).await;
    let id = a["id"].as_str().unwrap();
    make_due(&app, id).await;
    let mailer = Mailer::from_config(&app.state.config).unwrap();
    assert_eq!(run_due(&app.state, &mailer).await.unwrap(), 6, "two notices and four reminders");
    let r = sqlx::query("SELECT status, attempts, due_at, last_error FROM reminders WHERE object_id = $1 AND status <> 'cancelled'")
        .bind(id)
        .fetch_all(app.state.db.read())
        .await
        .unwrap();
    for row in r {
        assert_eq!(row.get::<String, _>("status"), "pending");
        assert_eq!(row.get::<i64, _>("attempts"), 1);
        assert!(row.get::<i64, _>("due_at") > consilium::db::now_ms(), "retried later");
        assert!(!row.get::<Option<String>, _>("last_error").unwrap_or_default().is_empty());
    }
    assert_eq!(run_due(&app.state, &mailer).await.unwrap(), 0, "not before the back-off");
}

#[tokio::test]
async fn without_a_mail_server_reminders_are_recorded() {
    let app = consilium_tests::spawn_app().await;
    let (a, _, _) = booked(&app).await;
    let id = a["id"].as_str().unwrap();
    let mailer = Mailer::from_config(&app.state.config).unwrap();
    notices_sent(&app, &mailer).await;
    make_due(&app, id).await;
    assert_eq!(run_due(&app.state, &mailer).await.unwrap(), 4);
    assert!(rows(&app, id).await.iter().all(|x| x.1 == "logged"));
}

#[tokio::test]
async fn a_malformed_smtp_url_stops_the_start() {
    let config =
        consilium::config::Config { smtp_url: Some("gopher://nowhere".into()), ..Default::default() };
    assert!(Mailer::from_config(&config).is_err());
}

/// The decoded body of a raw message (base64 or quoted-printable, as the client chose).
pub(crate) fn body_text(raw: &str) -> String {
    let m = mail(raw);
    let plain = m["parts"].as_array().unwrap().iter().find(|p| p["content_type"] == "text/plain");
    plain.expect("a text/plain part")["text"].as_str().unwrap().to_string()
}

/// A message as Python's `email` package reads it (tests/tools/mail_parts.py): MIME headers,
/// the decoded subject, each part's type, charset and text.
pub(crate) fn mail(raw: &str) -> Value {
    use std::io::Write;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/mail_parts.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().unwrap().write_all(raw.replace('\n', "\r\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python could not parse the message");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn the_reminder_worker_stops_with_the_server() {
    let mut app = spawn_app_with(|c| c.reminder_interval = std::time::Duration::from_millis(100)).await;
    let (a, _, _) = booked(&app).await;
    let id = a["id"].as_str().unwrap().to_string();
    make_due(&app, &id).await;
    let mut handled = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if rows(&app, &id).await.iter().any(|(_, status, _)| status == "logged") {
            handled = true;
            break;
        }
    }
    assert!(handled, "the worker runs while the server does: {:?}", rows(&app, &id).await);
    app.stop().await;
    // Once stopped, a reminder that falls due stays pending: nothing runs detached.
    app.state
        .db
        .execute(
            sqlx::query("UPDATE reminders SET status = 'pending', due_at = $2 WHERE object_id = $1")
                .bind(&id)
                .bind(consilium::db::now_ms() - 1000),
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        rows(&app, &id).await.iter().all(|(_, status, _)| status == "pending"),
        "{:?}",
        rows(&app, &id).await
    );
}

/// The one attachment of a notice, as Python's `email` reads it: the calendar file.
fn calendar_of(m: &Value) -> String {
    let parts = m["parts"].as_array().unwrap();
    let ics: Vec<&Value> = parts.iter().filter(|p| p["content_type"] == "text/calendar").collect();
    assert_eq!(ics.len(), 1, "{m}");
    assert_eq!(ics[0]["filename"], "consultation.ics");
    assert_eq!(ics[0]["disposition"], "attachment");
    assert_eq!((ics[0]["charset"].as_str(), ics[0]["method"].as_str()), (Some("utf-8"), Some("PUBLISH")));
    let text = ics[0]["text"].as_str().unwrap().to_string();
    let parsed: icalendar::Calendar = text.parse().expect("the attachment parses as iCalendar");
    assert_eq!(parsed.components.len(), 1, "{text}");
    text
}

#[tokio::test]
async fn booking_moving_and_cancelling_are_confirmed_at_once_with_the_calendar_entry() {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(|c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{}", sink.port));
        c.public_url = Some("https://clinic.example".into());
    })
    .await;
    let (a, doctor, patient) = booked(&app).await;
    let id = a["id"].as_str().unwrap();
    // The patient reads Chinese in Shanghai; the doctor English in Berlin.
    let me = |token: &str, body: Value| {
        let app = &app;
        let token = token.to_string();
        async move { app.send_json(Method::PATCH, "/api/v1/me", Some(&token), &body).await }
    };
    me(&patient.token, json!({"locale": "zh", "timezone": "Asia/Shanghai"})).await;
    me(&doctor.token, json!({"locale": "en", "timezone": "Europe/Berlin"})).await;
    let mailer = Mailer::from_config(&app.state.config).unwrap();
    let mut seen = 0;
    // Runs the outbox once and returns what it sent, each message as a mail program reads it,
    // the patient's first.
    let mut send = || {
        let (app, mailer, sink) = (&app, &mailer, &sink);
        let patient_email = patient.email.clone();
        let from = seen;
        seen += 2;
        async move {
            assert_eq!(run_due(&app.state, mailer).await.unwrap(), 2, "one notice each, at once");
            let mut raw = sink.messages().split_off(from);
            assert_eq!(raw.len(), 2);
            raw.sort_by_key(|m| !m.contains(&patient_email));
            raw.iter().map(|m| mail(m)).collect::<Vec<Value>>()
        }
    };
    let start = |a: &Value| -> jiff::Timestamp { a["starts_at"].as_str().unwrap().parse().unwrap() };
    let dtstart = |a: &Value| format!("DTSTART:{}", start(a).strftime("%Y%m%dT%H%M%SZ"));

    let booked_mail = send().await;
    let link = format!("https://clinic.example/appointments/{id}");
    for (m, zh) in booked_mail.iter().zip([true, false]) {
        assert_eq!(m["mime_version"], "1.0", "{m}");
        assert_eq!(m["content_type"], "multipart/mixed");
        assert_eq!(m["defects"], json!([]));
        assert_eq!(m["content_language"], if zh { "zh-CN" } else { "en" });
        let types: Vec<&str> =
            m["parts"].as_array().unwrap().iter().map(|p| p["content_type"].as_str().unwrap()).collect();
        assert_eq!(types, ["text/plain", "text/html", "text/calendar"]);
        let text = m["parts"][0]["text"].as_str().unwrap();
        assert!(text.contains(&link), "{text}");
        let ics = calendar_of(m);
        assert!(ics.contains(&format!("UID:appointment-{id}@consilium")) && ics.contains("STATUS:CONFIRMED"));
        assert!(ics.contains(&dtstart(&a)) && ics.contains("SEQUENCE:0"), "{ics}");
    }
    let (to_patient, to_doctor) = (&booked_mail[0], &booked_mail[1]);
    let patient_text = to_patient["parts"][0]["text"].as_str().unwrap();
    let doctor_text = to_doctor["parts"][0]["text"].as_str().unwrap();
    // Each reads the time in their own zone, the zone named.
    let local =
        |tz: &str| start(&a).to_zoned(jiff::tz::TimeZone::get(tz).unwrap()).strftime("%H:%M").to_string();
    assert!(
        patient_text.contains("您的会诊已预约") && patient_text.contains(&local("Asia/Shanghai")),
        "{patient_text}"
    );
    assert!(to_patient["subject"].as_str().unwrap().starts_with("已预约"), "{to_patient}");
    assert!(
        doctor_text.contains("Your consultation is booked") && doctor_text.contains(&local("Europe/Berlin"))
    );
    assert!(doctor_text.contains(&patient.user.name), "the doctor is told whom: {doctor_text}");

    // Moved: the same calendar entry, later SEQUENCE, new time.
    let slots = crate::scheduling::slots(&app, &patient.token, &doctor.user.id, "UTC").await;
    let to = slots.last().unwrap();
    let (s, moved) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/appointments/{id}/reschedule"),
            Some(&patient.token),
            &json!({"starts_at": to["starts_at"], "reason": "later"}),
        )
        .await;
    assert_eq!(s, 200, "{moved}");
    let moved_mail = send().await;
    assert!(moved_mail[1]["parts"][0]["text"].as_str().unwrap().contains("moved to a new time"));
    let ics = calendar_of(&moved_mail[0]);
    assert!(
        ics.contains(&dtstart(&moved))
            && ics.contains("SEQUENCE:1")
            && ics.contains(&format!("UID:appointment-{id}@consilium")),
        "{ics}"
    );

    // Cancelled: the entry struck through.
    let (s, _) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(&doctor.token),
            &json!({"reason": "doctor ill"}),
        )
        .await;
    assert_eq!(s, 200);
    let cancelled_mail = send().await;
    assert!(cancelled_mail[0]["parts"][0]["text"].as_str().unwrap().contains("此次会诊已取消"));
    for m in &cancelled_mail {
        let ics = calendar_of(m);
        assert!(ics.contains("STATUS:CANCELLED") && ics.contains("SEQUENCE:2"), "{ics}");
    }
    assert_eq!(
        run_due(&app.state, &mailer).await.unwrap(),
        0,
        "nothing twice, no reminder of a cancelled visit"
    );

    // Booked and cancelled before the outbox ran: only the cancellation goes out, not a
    // confirmation of a visit that no longer takes place.
    let (a2, _, p2) = booked(&app).await;
    let id2 = a2["id"].as_str().unwrap();
    app.send_json(
        Method::POST,
        &format!("/api/v1/appointments/{id2}/cancel"),
        Some(&p2.token),
        &json!({"reason": "x"}),
    )
    .await;
    assert_eq!(run_due(&app.state, &mailer).await.unwrap(), 2);
    let last: Vec<Value> = sink.messages().split_off(6).iter().map(|m| mail(m)).collect();
    assert_eq!(last.len(), 2);
    assert!(last.iter().all(|m| calendar_of(m).contains("STATUS:CANCELLED")), "{last:?}");
}
