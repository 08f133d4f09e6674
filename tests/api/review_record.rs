//! What a case review leaves in the record beyond its outcomes: attendance from the call
//! (corrected by the coordinator), the agenda stepped through in the call, the notice a signed
//! outcome sends, and the report as a page and as a PDF that outside readers (poppler, qpdf)
//! accept.

use std::time::Duration;

use consilium::scheduling::reminders::{Mailer, run_due};
use consilium_tests::smtp::SmtpSink;
use futures_util::SinkExt;
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::outcomes::{Board, board};
use crate::rooms::{Socket, connect, until};

async fn room_of(b: &Board) -> String {
    let (s, r) = b.app.get_json(&format!("/api/v1/reviews/{}", b.review), Some(&b.coordinator.token)).await;
    assert_eq!(s, 200, "{r}");
    r["room_id"].as_str().unwrap().to_string()
}

async fn attendance(b: &Board) -> Vec<Value> {
    let (s, list) =
        b.app.get_json(&format!("/api/v1/reviews/{}/attendance", b.review), Some(&b.coordinator.token)).await;
    assert_eq!(s, 200, "{list}");
    list.as_array().unwrap().clone()
}

fn line<'a>(list: &'a [Value], user_id: &str) -> Option<&'a Value> {
    list.iter().find(|a| a["user_id"] == user_id)
}

/// Waits until `check` holds for the attendance list (the room task writes it as people come
/// and go), failing after five seconds.
async fn attendance_until(b: &Board, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    for _ in 0..100 {
        let list = attendance(b).await;
        if check(&list) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("attendance never showed {what}: {:?}", attendance(b).await);
}

async fn send(s: &mut Socket, m: Value) {
    s.send(Message::text(m.to_string())).await.unwrap();
}

async fn correct(b: &Board, token: &str, user_id: &str, body: Value) -> (u16, Value) {
    b.app
        .send_json(
            Method::PUT,
            &format!("/api/v1/reviews/{}/attendance/{user_id}", b.review),
            Some(token),
            &body,
        )
        .await
}

#[tokio::test]
async fn attendance_comes_from_the_call_and_the_coordinator_corrects_it() {
    let b = board().await;
    let room = room_of(&b).await;
    assert!(attendance(&b).await.is_empty());
    let mut chair = connect(&b.app, &room, &b.coordinator.token).await.unwrap();
    until(&mut chair, "welcome").await;
    let mut expert = connect(&b.app, &room, &b.expert.token).await.unwrap();
    until(&mut expert, "welcome").await;
    let list = attendance_until(&b, "both in the call", |l| l.len() == 2).await;
    let e = line(&list, &b.expert.user.id).unwrap();
    assert_eq!((e["present"].as_bool(), e["role"].as_str()), (Some(true), Some("expert")), "{e}");
    assert!(e["first_joined_at"].as_i64().is_some() && e["last_left_at"].is_null(), "{e}");

    drop(expert);
    attendance_until(&b, "the expert leaving", |l| {
        line(l, &b.expert.user.id).is_some_and(|e| e["last_left_at"].as_i64().is_some())
    })
    .await;

    // The expert only tested their camera: the coordinator marks them absent, and coming back
    // to the call does not undo the correction.
    let (s, list) = correct(&b, &b.coordinator.token, &b.expert.user.id, json!({"present": false})).await;
    assert_eq!(s, 200, "{list}");
    let e = line(list.as_array().unwrap(), &b.expert.user.id).unwrap().clone();
    assert_eq!(
        (e["present"].as_bool(), e["corrected_by"].as_str()),
        (Some(false), Some(b.coordinator.user.name.as_str()))
    );
    let mut again = connect(&b.app, &room, &b.expert.token).await.unwrap();
    until(&mut again, "welcome").await;
    let list = attendance_until(&b, "the expert back", |l| {
        line(l, &b.expert.user.id).is_some_and(|e| e["last_left_at"].is_null())
    })
    .await;
    assert_eq!(line(&list, &b.expert.user.id).unwrap()["present"], false, "the correction wins");
    let actions = b.app.audit_actions().await;
    assert!(
        actions
            .iter()
            .any(|a| a["action"] == "review.attendance" && a["actor_id"] == b.coordinator.user.id.as_str())
    );
    drop(chair);
}

#[tokio::test]
async fn only_the_coordinator_corrects_and_only_people_of_the_review() {
    let b = board().await;
    // Before the review has begun the page offers no "present" marks for people who were
    // never in the call (the API still takes a correction at any time).
    let jar = b.app.browser_login(&b.coordinator.email, &b.coordinator.password).await;
    let page = b.app.page_as(&format!("/reviews/{}", b.review), &jar).await;
    assert!(page.contains("id=\"attendance\"") && !page.contains("Mark present"));
    let outsider = b.app.create_user(consilium::accounts::model::Role::Doctor).await;
    let present = json!({"present": true});
    assert_eq!(correct(&b, &b.expert.token, &b.expert.user.id, present.clone()).await.0, 403);
    assert_eq!(correct(&b, &outsider.token, &b.expert.user.id, present.clone()).await.0, 404);
    assert_eq!(correct(&b, &b.patient.token, &b.expert.user.id, present.clone()).await.0, 404);
    let (s, e) = correct(&b, &b.coordinator.token, &outsider.user.id, present.clone()).await;
    assert_eq!((s, e["error"]["field"].as_str()), (422, Some("user_id")), "{e}");
    let (s, e) = correct(&b, &b.coordinator.token, &b.declined.user.id, present.clone()).await;
    assert_eq!(s, 422, "an expert who declined is not on the panel: {e}");
    for bad in [json!({}), json!({"present": "maybe"}), json!({"present": true, "x": 1})] {
        let (s, e) = correct(&b, &b.coordinator.token, &b.expert.user.id, bad.clone()).await;
        assert_eq!(s, 422, "{bad}: {e}");
    }
    let (s, _) = correct(&b, &b.coordinator.token, "nobody\u{0}\u{7}", present.clone()).await;
    assert_eq!(s, 422);
    assert_eq!(
        b.app.get_json(&format!("/api/v1/reviews/{}/attendance", b.review), Some(&b.patient.token)).await.0,
        404
    );
    assert!(attendance(&b).await.is_empty(), "refusals left nothing behind");

    // Many corrections at once, for two people, alternating: one line each, no 5xx.
    let answers = join_all((0..40).map(|i| {
        let who = if i % 2 == 0 { &b.expert.user.id } else { &b.coordinator.user.id };
        correct(&b, &b.coordinator.token, who, json!({"present": i % 4 < 2}))
    }))
    .await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{:?}", answers.iter().map(|a| a.0).collect::<Vec<_>>());
    let list = attendance(&b).await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list.iter().all(|a| a["first_joined_at"].is_null()), "added by hand, never in the call");
}

#[tokio::test]
async fn the_coordinator_steps_through_the_agenda_and_the_panel_follows() {
    let b = board().await;
    let room = room_of(&b).await;
    let mut chair = connect(&b.app, &room, &b.coordinator.token).await.unwrap();
    let w = until(&mut chair, "welcome").await;
    assert!(w.get("case").is_none(), "no case open yet: {w}");
    let mut expert = connect(&b.app, &room, &b.expert.token).await.unwrap();
    until(&mut expert, "welcome").await;

    send(&mut chair, json!({"type": "show_case", "case": b.case})).await;
    let shown = until(&mut expert, "case_shown").await;
    assert_eq!(
        (shown["case"].as_str(), shown["by"].as_str()),
        (Some(b.case.as_str()), Some(b.coordinator.user.name.as_str()))
    );
    until(&mut chair, "case_shown").await;

    // Only the coordinator steps; only cases of this agenda.
    send(&mut expert, json!({"type": "show_case", "case": b.case})).await;
    assert_eq!(until(&mut expert, "error").await["code"], "forbidden");
    send(&mut chair, json!({"type": "show_case", "case": "not-a-case"})).await;
    assert_eq!(until(&mut chair, "error").await["code"], "not_found");
    send(&mut chair, json!({"type": "show_case", "case": 7})).await;
    assert_eq!(until(&mut chair, "error").await["code"], "bad_message", "a case id is a string");

    // A save through the API reaches the panel's open forms.
    assert_eq!(b.save(&b.expert.token, b.outcome(0)).await.0, 200);
    let saved = until(&mut chair, "outcome_saved").await;
    assert_eq!(
        (saved["case"].as_str(), saved["version"].as_i64(), saved["by"].as_str(), saved["signed"].as_bool()),
        (Some(b.case.as_str()), Some(1), Some(b.expert.user.name.as_str()), Some(false))
    );

    // Someone joining later sees the case on screen at once.
    drop(expert);
    let mut late = connect(&b.app, &room, &b.expert.token).await.unwrap();
    let w = until(&mut late, "welcome").await;
    assert_eq!(w["case"], b.case.as_str(), "{w}");
    send(&mut chair, json!({"type": "show_case", "case": null})).await;
    assert!(until(&mut late, "case_shown").await["case"].is_null());
}

#[tokio::test]
async fn a_signed_outcome_tells_its_responsible_clinician_once_without_naming_the_patient() {
    let sink = SmtpSink::start().await;
    let b = board().await;
    let (s, o) = b.save(&b.expert.token, b.outcome(0)).await;
    assert_eq!(s, 200, "{o}");
    let pending = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT recipient_id FROM reminders WHERE kind = 'outcome' AND status = 'pending'",
        )
        .fetch_all(b.app.state.db.read())
        .await
        .unwrap()
    };
    assert!(pending().await.is_empty(), "a draft notifies nobody");
    let (s, o) = b.sign(&b.coordinator.token, 1).await;
    assert_eq!(s, 200, "{o}");
    assert_eq!(pending().await, vec![b.coordinator.user.id.clone()], "the outcome names the coordinator");

    let mut config = (*b.app.state.config).clone();
    config.smtp_url = Some(format!("smtp://127.0.0.1:{}", sink.port));
    let mailer = Mailer::from_config(&config).unwrap();
    assert_eq!(run_due(&b.app.state, &mailer).await.unwrap(), 1);
    assert_eq!(run_due(&b.app.state, &mailer).await.unwrap(), 0, "never twice");
    let mail = sink.messages();
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0].contains(&b.coordinator.email));
    let body = crate::reminders::body_text(&mail[0]);
    assert!(body.contains(&format!("/reviews/{}#case-{}", b.review, b.case)), "{body}");
    assert!(body.contains("Systemic therapy") && body.contains("Tumour board"), "{body}");
    assert!(
        !body.contains(&b.patient.user.name) && !mail[0].contains(&b.patient.user.name),
        "no patient name in mail"
    );
}

/// The text poppler's `pdftotext` reads out of a PDF; the file is kept beside the browser
/// tests' screenshots as `name`.pdf, for a person to look at.
fn pdf_text(bytes: &[u8], name: &str) -> String {
    let shots = std::env::var("CONSILIUM_SCREENSHOTS").map(std::path::PathBuf::from).unwrap_or_else(|_| {
        std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/screenshots"))
    });
    if std::fs::create_dir_all(&shots).is_ok() {
        let _ = std::fs::write(shots.join(format!("{name}.pdf")), bytes);
    }
    let file = std::env::temp_dir().join(format!("consilium-report-{}.pdf", consilium::db::new_id()));
    std::fs::write(&file, bytes).unwrap();
    let check =
        std::process::Command::new("qpdf").arg("--check").arg(&file).output().expect("qpdf (Debian: qpdf)");
    assert!(check.status.success(), "qpdf --check: {}", String::from_utf8_lossy(&check.stdout));
    let out = std::process::Command::new("pdftotext")
        .args(["-enc", "UTF-8", "-layout"])
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext (Debian: poppler-utils)");
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn the_report_lists_attendees_and_every_case_and_downloads_as_a_pdf() {
    let b = board().await;
    let room = room_of(&b).await;
    let mut expert = connect(&b.app, &room, &b.expert.token).await.unwrap();
    until(&mut expert, "welcome").await;
    attendance_until(&b, "the expert", |l| l.len() == 1).await;
    assert_eq!(b.save(&b.expert.token, b.outcome(0)).await.0, 200);
    assert_eq!(b.sign(&b.coordinator.token, 1).await.0, 200);

    let jar = b.app.browser_login(&b.coordinator.email, &b.coordinator.password).await;
    let html = b.app.page_as(&format!("/reviews/{}/report", b.review), &jar).await;
    for want in [
        b.expert.user.name.as_str(),
        b.patient.user.name.as_str(),
        "Neoadjuvant chemotherapy, then restage.",
        "Systemic therapy",
    ] {
        assert!(html.contains(want), "the report page lacks {want}");
    }

    let r = b
        .app
        .request(Method::GET, &format!("/api/v1/reviews/{}/report.pdf", b.review), Some(&b.expert.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains(".pdf"));
    let text = pdf_text(&r.bytes().await.unwrap(), "review-report-en");
    for want in [
        "Tumour board",
        "Attendance",
        b.expert.user.name.as_str(),
        b.patient.user.name.as_str(),
        "Systemic therapy",
        "Neoadjuvant chemotherapy, then restage.",
        "Page 1/1",
    ] {
        assert!(text.contains(want), "the PDF lacks {want:?}:\n{text}");
    }

    // In Chinese for a reader who reads Chinese: pdftotext reads the CJK font back.
    b.app.send_json(Method::PATCH, "/api/v1/me", Some(&b.expert.token), &json!({"locale": "zh"})).await;
    let r = b
        .app
        .request(Method::GET, &format!("/api/v1/reviews/{}/report.pdf", b.review), Some(&b.expert.token))
        .header("accept-language", "zh-CN")
        .send()
        .await
        .unwrap();
    let text = pdf_text(&r.bytes().await.unwrap(), "review-report-zh-CN");
    assert!(text.contains("出席情况") && text.contains("系统治疗"), "{text}");

    // Nobody outside the review; every read audited per patient.
    let stranger = b.app.create_user(consilium::accounts::model::Role::Doctor).await;
    for token in [&b.patient.token, &stranger.token] {
        let s = b
            .app
            .request(Method::GET, &format!("/api/v1/reviews/{}/report.pdf", b.review), Some(token))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(s, 404);
    }
    let reads = b.app.audit_actions().await.into_iter().filter(|a| a["action"] == "review.report").count();
    assert_eq!(reads, 3, "two PDFs and one page");
}
