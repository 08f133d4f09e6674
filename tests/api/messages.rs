//! The server's refusals in the reader's language: the API's JSON error (by `Accept-Language`,
//! which the pages' scripts set to the page's language), the HTML error page, and the room's
//! socket (by the account's language); English where nothing asks otherwise, one error shape.

use reqwest::Method;
use serde_json::{Value, json};

use crate::rooms::{connect, consult, send, until};

/// A JSON request with `Accept-Language: lang`: status, `Content-Language`, body.
async fn ask(
    c: &crate::rooms::Consult,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    lang: &str,
) -> (u16, Option<String>, Value) {
    let mut rb = c.app.request(method, path, Some(token)).header("accept-language", lang);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let language = r.headers().get("content-language").map(|v| v.to_str().unwrap().to_string());
    (status, language, r.json().await.unwrap())
}

#[tokio::test]
async fn each_kind_of_refusal_reads_in_english_or_chinese() {
    let c = consult().await;
    let invites = format!("/api/v1/rooms/{}/invites", c.room);
    let bad_kind = Some(json!({"kind": "friend", "name": "x"}));
    // 422, with its field: the same shape in both languages.
    let (s, lang, en) = ask(&c, Method::POST, &invites, &c.doctor.token, bad_kind.clone(), "en").await;
    assert_eq!((s, lang, en["error"]["message"].as_str()), (422, None, Some("kind is guest or patient")));
    let (s, lang, zh) = ask(&c, Method::POST, &invites, &c.doctor.token, bad_kind, "zh-CN,zh;q=0.9").await;
    assert_eq!((s, lang.as_deref()), (422, Some("zh-CN")));
    assert_eq!(zh["error"]["message"], "类型为 guest 或 patient");
    assert_eq!(
        (zh["error"]["code"].as_str(), zh["error"]["field"].as_str()),
        (Some("invalid"), Some("kind"))
    );
    // 403, 404.
    let (s, _, zh) =
        ask(&c, Method::POST, &invites, &c.patient.token, Some(json!({"kind": "guest", "name": "x"})), "zh")
            .await;
    assert_eq!((s, zh["error"]["message"].as_str()), (403, Some("您无权执行此操作")));
    let (s, _, zh) = ask(&c, Method::GET, "/api/v1/appointments/nope", &c.doctor.token, None, "zh").await;
    assert_eq!((s, zh["error"]["message"].as_str()), (404, Some("未找到该预约")));
    // 409 with a value in it, the value translated too.
    let id: String = sqlx::query_scalar("SELECT id FROM appointments WHERE room_id = $1")
        .bind(&c.room)
        .fetch_one(c.app.state.db.read())
        .await
        .unwrap();
    let cancel = format!("/api/v1/appointments/{id}/cancel");
    let reason = Some(json!({"reason": "the patient is well again"}));
    assert_eq!(ask(&c, Method::POST, &cancel, &c.doctor.token, reason.clone(), "en").await.0, 200);
    let (s, _, zh) = ask(&c, Method::POST, &cancel, &c.doctor.token, reason.clone(), "zh").await;
    assert_eq!(
        (s, zh["error"]["message"].as_str()),
        (409, Some("只有已预约的会诊可以取消；此会诊的状态为 已取消"))
    );
    let (_, _, en) = ask(&c, Method::POST, &cancel, &c.doctor.token, reason, "en-GB").await;
    assert_eq!(en["error"]["message"], "only a booked appointment can be cancelled; this one is cancelled");

    // An HTML page's error, in the browser's language.
    let page = |lang: &'static str| {
        let app = &c.app;
        async move {
            let r = app
                .http
                .get(app.url("/join/not-a-real-token"))
                .header("accept", "text/html")
                .header("accept-language", lang)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (s, zh) = page("zh-CN").await;
    assert!(s == 404 && zh.contains("未找到该邀请") && !zh.contains("invite not found"), "{zh}");
    let (_, en) = page("en").await;
    assert!(en.contains("invite not found"), "{en}");
}

#[tokio::test]
async fn the_room_refuses_in_the_language_of_the_account() {
    let c = consult().await;
    c.app.send_json(Method::PATCH, "/api/v1/me", Some(&c.patient.token), &json!({"locale": "zh"})).await;
    let mut doctor = connect(&c.app, &c.room, &c.doctor.token).await.unwrap();
    until(&mut doctor, "welcome").await;
    let mut patient = connect(&c.app, &c.room, &c.patient.token).await.unwrap();
    // Chat before being admitted: refused, in Chinese for her. The doctor's account follows his
    // browser, which asked for nothing: his refusal (muting someone not in the call) is English.
    send(&mut patient, json!({"type": "chat", "text": "你好"})).await;
    let refused = until(&mut patient, "error").await;
    assert_eq!(
        (refused["code"].as_str(), refused["message"].as_str()),
        (Some("not_admitted"), Some("医生让您进入后才能聊天"))
    );
    send(&mut doctor, json!({"type": "mute", "participant": "nobody"})).await;
    let refused = until(&mut doctor, "error").await;
    assert_eq!(refused["message"], "nobody with this id is in the call");
}
