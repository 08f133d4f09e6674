//! A case review run in the browser, as its coordinator and experts would: the coordinator
//! steps through two cases beside the video, an expert in China writes the discussion in
//! Chinese, two people typing into one outcome get a clear conflict instead of an overwrite,
//! each outcome is signed there, and the report lists who attended.

use consilium::seed::DemoLogin;
use consilium_tests::TestApp;
use consilium_tests::browser::{Browser, DESKTOP, FAKE_MEDIA, MEDIA};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{demo_app, login_of, sign_in};

pub(crate) async fn token(app: &TestApp, who: &DemoLogin) -> String {
    let (s, t) = app
        .send_json(
            Method::POST,
            "/api/v1/auth/token",
            None,
            &json!({"email": who.email, "password": who.password}),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    t["access_token"].as_str().unwrap().to_string()
}

/// Dr. Hart's review with Dr. Zhang and Dr. Moreno of Nora Berg's and Li Na's cases, at the
/// first time all three are free: the review as stored.
pub(crate) async fn plan_review(app: &TestApp, logins: &[DemoLogin]) -> Value {
    let hart = token(app, login_of(logins, "amelia.hart@")).await;
    let admin = token(app, login_of(logins, "admin@")).await;
    let id_of = |list: &Value| list[0]["id"].as_str().unwrap().to_string();
    let (_, wei) = app.get_json("/api/v1/doctors?specialty=Oncology", Some(&admin)).await;
    let (_, lucas) = app.get_json("/api/v1/doctors?specialty=Radiology", Some(&admin)).await;
    let from = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    let to =
        (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 14)).strftime("%Y-%m-%d").to_string();
    let (s, r) = app
        .send_json(
            Method::POST,
            "/api/v1/reviews",
            Some(&hart),
            &json!({"title": "Skin cancer board", "experts": [id_of(&wei), id_of(&lucas)], "duration_minutes": 60, "from": from, "to": to}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let review = r["id"].as_str().unwrap().to_string();
    for (who, question) in
        [("nora", "Excise or observe the pigmented lesion?"), ("li", "Adjuvant therapy after excision?")]
    {
        let (_, patients) = app.get_json(&format!("/api/v1/users?role=patient&q={who}"), Some(&admin)).await;
        let (s, r) = app
            .send_json(
                Method::POST,
                &format!("/api/v1/reviews/{review}/cases"),
                Some(&hart),
                &json!({"patient_id": id_of(&patients), "question": question}),
            )
            .await;
        assert_eq!(s, 201, "{r}");
    }
    let (s, p) = app.get_json(&format!("/api/v1/reviews/{review}/proposals?limit=1"), Some(&hart)).await;
    assert_eq!(s, 200, "{p}");
    let (s, r) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/reviews/{review}/schedule"),
            Some(&hart),
            &json!({"starts_at": p[0]["starts_at"]}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    r
}

#[tokio::test]
async fn a_coordinator_runs_a_three_expert_review_beside_the_video_and_files_its_report() {
    let _media = MEDIA.lock().await;
    let (app, logins) = demo_app().await;
    let review = plan_review(&app, &logins).await;
    let (id, room) = (review["id"].as_str().unwrap(), review["room_id"].as_str().unwrap());
    let (case1, case2) =
        (review["cases"][0]["id"].as_str().unwrap(), review["cases"][1]["id"].as_str().unwrap());

    // Dr. Moreno dials in from a client of his own (he is on the attendance list too).
    let lucas = token(&app, login_of(&logins, "lucas.moreno@")).await;
    let mut req = format!("ws://{}/rooms/{room}/ws", app.addr).into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {lucas}").parse().unwrap());
    let (_lucas_socket, _) = tokio_tungstenite::connect_async(req).await.unwrap();

    let Some(chair) = Browser::start_with("en", DESKTOP, FAKE_MEDIA).await else { return };
    sign_in(&chair, &app, login_of(&logins, "amelia.hart@")).await;
    chair.goto(&app.url(&format!("/rooms/{room}"))).await;
    chair.wait_for_text("#agenda", "Excise or observe").await;
    chair.click("#join").await;
    chair.wait_for_text("#participants", "Dr. Lucas Moreno").await;
    chair.click(&format!("[data-show='{case1}']")).await;
    chair.wait_for_text("#agenda-now", "Now discussing: 1. Nora Berg").await;

    // Dr. Zhang joins in Chinese and finds the case already open.
    let Some(wei) = Browser::start_with("zh-CN", DESKTOP, FAKE_MEDIA).await else { return };
    sign_in(&wei, &app, login_of(&logins, "wei.zhang@")).await;
    wei.goto(&app.url(&format!("/rooms/{room}"))).await;
    wei.click("#join").await;
    wei.wait_for_text("#agenda-now", "正在讨论").await;
    wei.fill("#agenda-outcome textarea[name=discussion]", "皮肤镜提示发育不良痣；专家组倾向于切除。").await;
    wei.wait_for_text("#agenda-outcome-status", "草稿已保存").await;
    wei.screenshot("review-call-agenda-zh-CN-desktop").await;

    // The coordinator's open form follows his save by itself.
    chair.wait_for_text("#agenda-outcome-status", "Dr. Wei Zhang").await;
    let discussion =
        chair.eval("return document.querySelector('#agenda-outcome textarea[name=discussion]').value").await;
    assert_eq!(discussion, "皮肤镜提示发育不良痣；专家组倾向于切除。");

    // She types while Dr. Moreno saves from his own client: her save is refused with his name,
    // she takes his version and completes it.
    chair.eval("const f = document.getElementById('agenda-outcome'); f.elements.recommendation_text.value = 'Excision with 2 mm margins.'; f.elements.recommendation_text.dispatchEvent(new Event('input', {bubbles: true})); return null").await;
    let (_, current) =
        app.get_json(&format!("/api/v1/reviews/{id}/cases/{case1}/outcome"), Some(&lucas)).await;
    let (s, saved) = app
        .send_json(
            Method::PUT,
            &format!("/api/v1/reviews/{id}/cases/{case1}/outcome"),
            Some(&lucas),
            &json!({"version": current["version"], "question": current["question"], "discussion": current["discussion"], "recommendation_text": "Wide local excision."}),
        )
        .await;
    assert_eq!(s, 200, "{saved}");
    chair.wait_for_text("#agenda-conflict", "Dr. Lucas Moreno").await;
    chair.click("#agenda-reload").await;
    chair.wait_for_text("#agenda-outcome-status", "Dr. Lucas Moreno").await;
    chair
        .eval("const f = document.getElementById('agenda-outcome'); f.elements.recommendation.value = 'surgery'; [...f.elements.responsible_id.options].find(o => o.text.includes('Wei')).selected = true; f.elements.recommendation.dispatchEvent(new Event('input', {bubbles: true})); return null")
        .await;
    chair.fill("#agenda-outcome textarea[name=recommendation_text]", "Excision with 2 mm margins.").await;
    chair.wait_for_text("#agenda-outcome-status", "Draft saved").await;
    chair.eval("window.confirm = () => true; return null").await;
    chair.click("#agenda-sign").await;
    chair.wait_for_text("#agenda-signed", "Signed by").await;
    chair.screenshot("review-call-agenda-en-desktop").await;

    // The second case, decided by the coordinator while the panel watches.
    chair.click(&format!("[data-show='{case2}']")).await;
    chair.wait_for_text("#agenda-now", "2. Li Na").await;
    wei.wait_for_text("#agenda-now", "2. Li Na").await;
    chair
        .eval("const f = document.getElementById('agenda-outcome'); f.elements.recommendation.value = 'systemic_therapy'; f.elements.recommendation.dispatchEvent(new Event('input', {bubbles: true})); return null")
        .await;
    chair.wait_for_text("#agenda-outcome-status", "Draft saved").await;
    chair.click("#agenda-sign").await;
    chair.wait_for_text("#agenda-signed", "Signed by").await;
    wei.close().await;

    // The report: three attendees, both cases with their signed outcomes; the PDF downloads.
    chair.goto(&app.url(&format!("/reviews/{id}/report"))).await;
    let report = chair.wait_for_text("main", "Attendance").await;
    for want in [
        "Dr. Amelia Hart",
        "Dr. Wei Zhang",
        "Dr. Lucas Moreno",
        "Excision with 2 mm margins.",
        "Systemic therapy",
        "皮肤镜提示",
    ] {
        assert!(report.contains(want), "the report lacks {want}: {report}");
    }
    chair.screenshot("review-report-en-desktop").await;
    let pdf = chair
        .eval(&format!(
            "return fetch('/api/v1/reviews/{id}/report.pdf').then(r => r.arrayBuffer()).then(b => String.fromCharCode(...new Uint8Array(b).slice(0, 5)) + ' ' + b.byteLength)"
        ))
        .await;
    assert!(pdf.as_str().unwrap().starts_with("%PDF-"), "{pdf}");
    chair.close().await;

    // Dr. Zhang, responsible for the first case's next step, has a notice on its way.
    let notices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reminders WHERE kind = 'outcome'")
        .fetch_one(app.state.db.read())
        .await
        .unwrap();
    assert_eq!(notices, 1);
}
