//! Rooms and the signalling WebSocket: the waiting room, admission by clinicians only, chat
//! kept for later joiners, bad and flooding clients.

use std::time::Duration;

use consilium::accounts::model::Role;
use consilium_tests::{TestApp, TestUser, spawn_app};
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn connect(app: &TestApp, room: &str, token: &str) -> Result<Socket, u16> {
    let mut req = format!("ws://{}/rooms/{room}/ws", app.addr).into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((s, _)) => Ok(s),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

/// The next JSON message, failing after 5 s.
pub(crate) async fn next(s: &mut Socket) -> Value {
    next_within(s, Duration::from_secs(5)).await
}

/// The next JSON message, failing after `wait`.
pub(crate) async fn next_within(s: &mut Socket, wait: Duration) -> Value {
    loop {
        let frame = tokio::time::timeout(wait, s.next()).await.expect("a message in time");
        match frame {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Close(_))) | None => return json!({"type": "closed"}),
            Some(Ok(_)) => continue,
            Some(Err(_)) => return json!({"type": "closed"}),
        }
    }
}

/// Skips messages until one of `kind` arrives.
pub(crate) async fn until(s: &mut Socket, kind: &str) -> Value {
    for _ in 0..20 {
        let m = next(s).await;
        if m["type"] == kind {
            return m;
        }
        assert_ne!(m["type"], "closed", "closed while waiting for {kind}");
    }
    panic!("no {kind}");
}

/// The next waiting list that has someone in it.
pub(crate) async fn someone_waiting(s: &mut Socket) -> Value {
    for _ in 0..20 {
        let m = until(s, "waiting_list").await;
        if !m["waiting"].as_array().unwrap().is_empty() {
            return m;
        }
    }
    panic!("nobody came to the waiting room");
}

pub(crate) async fn send(s: &mut Socket, v: Value) {
    s.send(Message::Text(v.to_string().into())).await.unwrap();
}

pub(crate) struct Consult {
    pub app: TestApp,
    pub doctor: TestUser,
    pub patient: TestUser,
    pub room: String,
}

pub(crate) async fn consult() -> Consult {
    consult_with(|_| {}).await
}

/// A booked consultation on an app whose configuration the test adjusts.
pub(crate) async fn consult_with(adjust: impl FnOnce(&mut consilium::config::Config)) -> Consult {
    let app = consilium_tests::spawn_app_with(adjust).await;
    let admin = app.create_user(Role::Admin).await;
    let doctor = app.create_user(Role::Doctor).await;
    let patient = app.create_user(Role::Patient).await;
    let id = crate::scheduling::book_next_slot(&app, &admin.token, &doctor.user.id, &patient.user.id).await;
    let (_, a) = app.get_json(&format!("/api/v1/appointments/{id}"), Some(&admin.token)).await;
    Consult { room: a["room_id"].as_str().unwrap().into(), app, doctor, patient }
}

#[tokio::test]
async fn a_patient_waits_until_the_doctor_admits_them_then_they_chat() {
    let c = consult().await;
    let mut doctor = connect(&c.app, &c.room, &c.doctor.token).await.unwrap();
    let welcome = until(&mut doctor, "welcome").await;
    assert_eq!(welcome["you"]["role"], "host");
    let mut patient = connect(&c.app, &c.room, &c.patient.token).await.unwrap();
    assert_eq!(next(&mut patient).await["type"], "waiting");
    let list = someone_waiting(&mut doctor).await;
    let waiting = list["waiting"].as_array().unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0]["user_id"], c.patient.user.id.as_str());
    let pid = waiting[0]["id"].as_str().unwrap().to_string();
    // Nothing before admission; and a patient cannot admit.
    send(&mut patient, json!({"type": "chat", "text": "hello?"})).await;
    assert_eq!(next(&mut patient).await["code"], "not_admitted");
    send(&mut patient, json!({"type": "admit", "participant": pid})).await;
    assert_eq!(next(&mut patient).await["code"], "forbidden");
    send(&mut doctor, json!({"type": "admit", "participant": pid})).await;
    let w = until(&mut patient, "welcome").await;
    assert_eq!(w["you"]["role"], "patient");
    assert_eq!(w["participants"].as_array().unwrap().len(), 2);
    assert_eq!(until(&mut doctor, "participant_joined").await["participant"]["id"], pid.as_str());
    send(&mut patient, json!({"type": "chat", "text": "Good morning, doctor"})).await;
    let line = until(&mut doctor, "chat").await;
    assert_eq!(
        (line["text"].as_str(), line["from"].as_str()),
        (Some("Good morning, doctor"), Some(c.patient.user.id.as_str()))
    );
    // A later joiner (the doctor on a second device) gets the chat so far.
    let mut second = connect(&c.app, &c.room, &c.doctor.token).await.unwrap();
    let w = until(&mut second, "welcome").await;
    assert_eq!(w["chat"][0]["text"], "Good morning, doctor");
    let rows = c.app.audit_actions().await;
    assert!(rows.iter().any(|r| r["action"] == "room.join" && r["patient_id"] == c.patient.user.id.as_str()));
}

#[tokio::test]
async fn a_denied_patient_is_told_and_disconnected() {
    let c = consult().await;
    let mut doctor = connect(&c.app, &c.room, &c.doctor.token).await.unwrap();
    until(&mut doctor, "welcome").await;
    let mut patient = connect(&c.app, &c.room, &c.patient.token).await.unwrap();
    let list = someone_waiting(&mut doctor).await;
    let pid = list["waiting"][0]["id"].as_str().unwrap().to_string();
    send(&mut doctor, json!({"type": "deny", "participant": pid})).await;
    assert_eq!(until(&mut patient, "denied").await["type"], "denied");
    assert_eq!(next(&mut patient).await["type"], "closed");
}

#[tokio::test]
async fn strangers_get_404_and_cross_site_upgrades_403() {
    let c = consult().await;
    let stranger = c.app.create_user(Role::Patient).await;
    assert_eq!(connect(&c.app, &c.room, &stranger.token).await.err(), Some(404));
    let other_doctor = c.app.create_user(Role::Doctor).await;
    assert_eq!(connect(&c.app, &c.room, &other_doctor.token).await.err(), Some(404));
    assert_eq!(connect(&c.app, "no-such-room", &c.doctor.token).await.err(), Some(404));
    assert_eq!(connect(&c.app, &c.room, "not-a-token").await.err(), Some(401));
    let mut req = format!("ws://{}/rooms/{}/ws", c.app.addr, c.room).into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {}", c.doctor.token).parse().unwrap());
    req.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn malformed_messages_get_an_error_and_a_flood_closes_only_that_socket() {
    let c = consult().await;
    let mut doctor = connect(&c.app, &c.room, &c.doctor.token).await.unwrap();
    until(&mut doctor, "welcome").await;
    for bad in ["{not json", r#"{"type":"teleport"}"#, r#"{"type":"chat"}"#] {
        doctor.send(Message::Text(bad.into())).await.unwrap();
        assert_eq!(until(&mut doctor, "error").await["code"], "bad_message", "{bad}");
    }
    send(&mut doctor, json!({"type": "chat", "text": "x".repeat(2001)})).await;
    assert_eq!(until(&mut doctor, "error").await["code"], "invalid");
    send(&mut doctor, json!({"type": "ping"})).await;
    assert_eq!(until(&mut doctor, "pong").await["type"], "pong", "still open after bad input");
    // A second participant floods; they are cut off, the doctor is not.
    let (_, room) = c.app.send_json(Method::POST, "/api/v1/rooms", Some(&c.doctor.token), &json!({})).await;
    let adhoc = room["id"].as_str().unwrap();
    let colleague = c.app.create_user(Role::Doctor).await;
    let mut host = connect(&c.app, adhoc, &c.doctor.token).await.unwrap();
    until(&mut host, "welcome").await;
    let mut noisy = connect(&c.app, adhoc, &colleague.token).await.unwrap();
    until(&mut noisy, "welcome").await;
    for _ in 0..200 {
        if noisy.send(Message::Text(json!({"type": "ping"}).to_string().into())).await.is_err() {
            break;
        }
    }
    let mut saw_flood = false;
    for _ in 0..260 {
        let m = next(&mut noisy).await;
        if m["code"] == "flood" {
            saw_flood = true;
        }
        if m["type"] == "closed" {
            break;
        }
    }
    assert!(saw_flood, "the flooder is told why");
    send(&mut host, json!({"type": "ping"})).await;
    assert_eq!(until(&mut host, "pong").await["type"], "pong", "the room lives on");
}

#[tokio::test]
async fn only_clinicians_open_rooms_and_only_the_host_ends_them() {
    let c = consult().await;
    let (s, _) = c.app.send_json(Method::POST, "/api/v1/rooms", Some(&c.patient.token), &json!({})).await;
    assert_eq!(s, 403);
    let (s, room) = c.app.send_json(Method::POST, "/api/v1/rooms", Some(&c.doctor.token), &json!({})).await;
    assert_eq!(s, 201);
    let id = room["id"].as_str().unwrap();
    let colleague = c.app.create_user(Role::Doctor).await;
    let (s, view) = c.app.get_json(&format!("/api/v1/rooms/{id}"), Some(&colleague.token)).await;
    assert_eq!((s, view["role"].as_str()), (200, Some("expert")));
    assert_eq!(c.app.get_json(&format!("/api/v1/rooms/{id}"), Some(&c.patient.token)).await.0, 404);
    let mut host = connect(&c.app, id, &c.doctor.token).await.unwrap();
    until(&mut host, "welcome").await;
    let mut expert = connect(&c.app, id, &colleague.token).await.unwrap();
    until(&mut expert, "welcome").await;
    send(&mut expert, json!({"type": "end"})).await;
    assert_eq!(until(&mut expert, "error").await["code"], "forbidden");
    send(&mut host, json!({"type": "end"})).await;
    assert_eq!(until(&mut expert, "ended").await["type"], "ended");
    // Ended is kept: the room says so and cannot be joined again.
    let (s, view) = c.app.get_json(&format!("/api/v1/rooms/{id}"), Some(&colleague.token)).await;
    assert_eq!(s, 200);
    assert!(view["ended_at"].as_i64().is_some(), "{view}");
    assert!(
        matches!(connect(&c.app, id, &c.doctor.token).await, Err(410)),
        "an ended room is not joined again"
    );
}

/// After the host ends an appointment's call, everyone who opens the room, then or later, is
/// told it ended and offered the record, not the device check.
#[tokio::test]
async fn an_ended_consultation_says_so_and_offers_the_record() {
    let c = consult().await;
    let mut host = connect(&c.app, &c.room, &c.doctor.token).await.unwrap();
    until(&mut host, "welcome").await;
    let session = c.app.browser_login(&c.patient.email, &c.patient.password).await;
    let before = c.app.page_as(&format!("/rooms/{}", c.room), &session).await;
    assert!(before.contains("id=\"join\"") && !before.contains("room-ended"));
    send(&mut host, json!({"type": "end"})).await;
    for _ in 0..100 {
        if c.app.get_json(&format!("/api/v1/rooms/{}", c.room), Some(&c.doctor.token)).await.1["ended_at"]
            .is_i64()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let after = c.app.page_as(&format!("/rooms/{}", c.room), &session).await;
    assert!(after.contains("This consultation has ended") && !after.contains("id=\"join\""), "{after}");
    let (_, a) = c.app.get_json(&format!("/api/v1/rooms/{}", c.room), Some(&c.doctor.token)).await;
    assert!(a["ended_at"].is_i64());
    assert!(after.contains("href=\"/appointments/"), "the record is offered: {after}");
    assert!(!after.contains("/static/room.js"), "no call is started");
    assert!(matches!(connect(&c.app, &c.room, &c.patient.token).await, Err(410)));
}

mod invites {
    use super::*;

    async fn invite(c: &Consult, token: &str, body: Value) -> (u16, Value) {
        c.app.send_json(Method::POST, &format!("/api/v1/rooms/{}/invites", c.room), Some(token), &body).await
    }

    /// Opens an invite link; returns the status, and the guest cookie when one was set.
    async fn open(c: &Consult, url: &str) -> (u16, Option<String>) {
        let path = url.split_once("/join/").map(|(_, t)| format!("/join/{t}")).unwrap();
        let r = c.app.http.get(c.app.url(&path)).send().await.unwrap();
        let cookie = r
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap().to_string());
        (r.status().as_u16(), cookie)
    }

    async fn connect_as_guest(c: &Consult, room: &str, cookie: &str) -> Result<Socket, u16> {
        let mut req = format!("ws://{}/rooms/{room}/ws", c.app.addr).into_client_request().unwrap();
        req.headers_mut().insert("cookie", cookie.parse().unwrap());
        match tokio_tungstenite::connect_async(req).await {
            Ok((s, _)) => Ok(s),
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
            Err(e) => panic!("{e}"),
        }
    }

    #[tokio::test]
    async fn a_guest_link_works_once_for_its_room_and_the_guest_still_waits() {
        let c = consult().await;
        // The appointment is days ahead: move the invite window to now for the test.
        let (s, link) =
            invite(&c, &c.doctor.token, json!({"kind": "guest", "name": "Interpreter Ana"})).await;
        assert_eq!(s, 201, "{link}");
        c.app.state.db.execute(sqlx::query("UPDATE invites SET not_before = 0")).await.unwrap();
        let url = link["url"].as_str().unwrap();
        let (s, cookie) = open(&c, url).await;
        assert_eq!(s, 303);
        let cookie = cookie.expect("a guest session");
        assert!(cookie.starts_with("consilium_guest="));
        assert_eq!(open(&c, url).await.0, 410, "a link works once");
        let mut doctor = connect(&c.app, &c.room, &c.doctor.token).await.unwrap();
        until(&mut doctor, "welcome").await;
        let mut guest = connect_as_guest(&c, &c.room, &cookie).await.unwrap();
        assert_eq!(next(&mut guest).await["type"], "waiting");
        let list = someone_waiting(&mut doctor).await;
        assert_eq!(list["waiting"][0]["name"], "Interpreter Ana");
        assert_eq!(list["waiting"][0]["role"], "guest");
        send(&mut doctor, json!({"type": "admit", "participant": list["waiting"][0]["id"]})).await;
        assert_eq!(until(&mut guest, "welcome").await["you"]["role"], "guest");
        // The guest chats like everyone else: stored, shown with their name, kept for later.
        send(&mut guest, json!({"type": "chat", "text": "I will translate for Nora."})).await;
        let line = until(&mut doctor, "chat").await;
        assert_eq!(
            (line["name"].as_str(), line["text"].as_str()),
            (Some("Interpreter Ana"), Some("I will translate for Nora."))
        );
        assert!(line["from"].as_str().unwrap().starts_with("guest:"), "{line}");
        drop(doctor);
        let mut again = connect(&c.app, &c.room, &c.doctor.token).await.unwrap();
        let welcome = until(&mut again, "welcome").await;
        assert_eq!(welcome["chat"][0]["name"], "Interpreter Ana", "{welcome}");
        // The audit log names the guest, not "the system": the invite they redeemed, the room
        // they joined, each with their name and room role.
        let guest_rows: Vec<Value> = c
            .app
            .audit_actions()
            .await
            .into_iter()
            .filter(|a| a["actor_id"].as_str().is_some_and(|id| id.starts_with("guest:")))
            .collect();
        for action in ["room.invite_redeem", "room.join"] {
            let row = guest_rows
                .iter()
                .find(|a| a["action"] == action)
                .unwrap_or_else(|| panic!("no {action}: {guest_rows:?}"));
            assert_eq!(
                (row["actor_name"].as_str(), row["actor_role"].as_str()),
                (Some("Interpreter Ana"), Some("guest")),
                "{row}"
            );
        }
        // The session is for this room only, and a forged cookie is nobody.
        let (_, other) =
            c.app.send_json(Method::POST, "/api/v1/rooms", Some(&c.doctor.token), &json!({})).await;
        assert_eq!(connect_as_guest(&c, other["id"].as_str().unwrap(), &cookie).await.err(), Some(404));
        let flipped = if cookie.ends_with('0') { '1' } else { '0' };
        let forged = format!("{}{flipped}", &cookie[..cookie.len() - 1]);
        assert_eq!(connect_as_guest(&c, &c.room, &forged).await.err(), Some(401));
        let page = c
            .app
            .http
            .get(c.app.url(&format!("/rooms/{}", c.room)))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 200, "the guest sees the room page");
    }

    #[tokio::test]
    async fn links_respect_the_consultation_time_and_who_may_create_them() {
        let c = consult().await;
        // The patient lives in Shanghai; her link's times are told in her zone.
        c.app
            .send_json(
                Method::PATCH,
                "/api/v1/me",
                Some(&c.patient.token),
                &json!({"timezone": "Asia/Shanghai"}),
            )
            .await;
        let (s, link) = invite(&c, &c.doctor.token, json!({"kind": "patient"})).await;
        assert_eq!(s, 201);
        assert_eq!(link["timezone"], "Asia/Shanghai", "{link}");
        let (s, guest_link) = invite(&c, &c.doctor.token, json!({"kind": "guest", "name": "Ana"})).await;
        assert_eq!(
            (s, guest_link["timezone"].as_str()),
            (201, Some("Europe/Berlin")),
            "a guest's: the creator's zone"
        );
        assert_eq!(
            open(&c, link["url"].as_str().unwrap()).await.0,
            409,
            "too early: opens 30 minutes before"
        );
        // Opened early in a browser, the page says when to come back, in her zone and her
        // language, and reloads by itself; the link stays unused.
        let path =
            link["url"].as_str().unwrap().split_once("/join/").map(|(_, t)| format!("/join/{t}")).unwrap();
        let r = c.app.http.get(c.app.url(&path)).header("accept-language", "zh-CN").send().await.unwrap();
        assert_eq!(r.status().as_u16(), 409);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let html = r.text().await.unwrap();
        let opens: jiff::Timestamp = link["not_before"].as_str().unwrap().parse().unwrap();
        let local =
            opens.to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap()).strftime("%H:%M").to_string();
        assert!(html.contains("此链接尚未开放") && html.contains(&local) && html.contains("CST"), "{html}");
        assert!(html.contains("<meta http-equiv=\"refresh\" content=\"300\">"), "reloads by itself");
        c.app
            .state
            .db
            .execute(sqlx::query("UPDATE invites SET not_before = 0, expires_at = 1"))
            .await
            .unwrap();
        assert_eq!(open(&c, link["url"].as_str().unwrap()).await.0, 410, "expired");
        let (s, r) = invite(&c, &c.doctor.token, json!({"kind": "guest"})).await;
        assert_eq!((s, r["error"]["field"].as_str()), (422, Some("name")));
        let (s, _) = invite(&c, &c.doctor.token, json!({"kind": "friend", "name": "x"})).await;
        assert_eq!(s, 422);
        let (s, _) = invite(&c, &c.patient.token, json!({"kind": "guest", "name": "My sister"})).await;
        assert_eq!(s, 403, "patients do not invite");
        let stranger = c.app.create_user(Role::Doctor).await;
        assert_eq!(invite(&c, &stranger.token, json!({"kind": "guest", "name": "x"})).await.0, 404);
        assert_eq!(
            c.app.http.get(c.app.url("/join/not-a-real-token")).send().await.unwrap().status().as_u16(),
            404
        );
    }
}

#[tokio::test]
async fn an_admitted_patient_who_drops_out_comes_back_without_waiting() {
    let c = consult().await;
    let mut doctor = connect(&c.app, &c.room, &c.doctor.token).await.unwrap();
    until(&mut doctor, "welcome").await;
    let mut patient = connect(&c.app, &c.room, &c.patient.token).await.unwrap();
    let list = someone_waiting(&mut doctor).await;
    send(&mut doctor, json!({"type": "admit", "participant": list["waiting"][0]["id"]})).await;
    until(&mut patient, "welcome").await;
    // The network drops.
    drop(patient);
    assert_eq!(until(&mut doctor, "participant_left").await["type"], "participant_left");
    let mut back = connect(&c.app, &c.room, &c.patient.token).await.unwrap();
    let w = next(&mut back).await;
    assert_eq!(w["type"], "welcome", "straight back in, no waiting room: {w}");
    assert_eq!(
        until(&mut doctor, "participant_joined").await["participant"]["user_id"],
        c.patient.user.id.as_str()
    );
}

#[tokio::test]
async fn turn_credentials_follow_the_coturn_rest_api_and_expire() {
    let app = consilium_tests::spawn_app_with(|c| {
        c.turn_secret = Some("north-sea-turn-secret".into());
        c.turn_urls = vec!["turn:turn.example.org:3478?transport=udp".into()];
        c.turn_ttl = Duration::from_secs(600);
    })
    .await;
    let d = app.create_user(Role::Doctor).await;
    let (s, body) = app.get_json("/api/v1/turn-credentials", Some(&d.token)).await;
    assert_eq!(s, 200, "{body}");
    let server = &body["ice_servers"][0];
    let username = server["username"].as_str().unwrap();
    let (expiry, who) = username.split_once(':').unwrap();
    assert_eq!(who, d.user.id);
    let expiry: i64 = expiry.parse().unwrap();
    let now = consilium::db::now_ms() / 1000;
    assert!((now + 590..=now + 610).contains(&expiry), "valid for the configured ten minutes");
    assert_eq!(server["credential"], consilium::consult::turn::credential("north-sea-turn-secret", username));
    assert_eq!(server["urls"][0], "turn:turn.example.org:3478?transport=udp");
    assert_eq!(app.get_json("/api/v1/turn-credentials", None).await.0, 401);
    let plain = spawn_app().await;
    let d = plain.create_user(Role::Doctor).await;
    let (_, body) = plain.get_json("/api/v1/turn-credentials", Some(&d.token)).await;
    assert!(body["ice_servers"].as_array().unwrap().is_empty(), "no TURN configured, none offered");
}

/// SIGTERM with a call running: every socket, the waiting patient's too, closes with 1012
/// ("service restart", so clients reconnect to the next server), the media rooms close, the
/// server ends instead of hanging on its upgraded sockets, and no room starts after.
#[tokio::test]
async fn shutting_down_closes_every_socket_with_restart_and_ends_the_rooms() {
    use consilium::media::RoomId;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    let mut c = consult().await;
    let mut doctor = connect(&c.app, &c.room, &c.doctor.token).await.unwrap();
    until(&mut doctor, "welcome").await;
    let mut patient = connect(&c.app, &c.room, &c.patient.token).await.unwrap();
    assert_eq!(next(&mut patient).await["type"], "waiting");
    assert_eq!(c.app.state.media.stats().rooms, 1, "the doctor's media room is up");

    tokio::time::timeout(Duration::from_secs(15), c.app.stop()).await.expect("the server stops");

    for (who, socket) in [("doctor", &mut doctor), ("patient", &mut patient)] {
        let close = loop {
            match tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("a frame") {
                Some(Ok(Message::Close(frame))) => break frame,
                Some(Ok(_)) => continue,
                other => panic!("{who}: no close frame but {other:?}"),
            }
        };
        assert_eq!(close.map(|f| f.code), Some(CloseCode::Restart), "{who}");
    }
    assert_eq!(c.app.state.media.stats().rooms, 0, "no media room is left");
    assert!(c.app.state.hub.room(&RoomId::new(c.room.as_str())).is_none(), "no room starts after");
}
