//! Media through the SFU with real WebRTC clients (the same crate as the server) over the real
//! signalling: media flows every way with continuous sequence numbers, keyframe requests reach
//! publishers, a reconnecting client gets media again, nothing flows before admission, and
//! device streams (WHIP in, WHEP out) work with their room's token only.

use std::time::Duration;

use consilium::accounts::model::Role;
use consilium_tests::webrtc_client::{Client, Device, Rates};
use consilium_tests::{TestApp, TestUser, spawn_app};
use reqwest::Method;
use serde_json::json;

const TEST_RATES: Rates = Rates { video_pps: 60, video_bytes: 900, audio_pps: 50 };

/// An ad-hoc room hosted by a doctor, with `experts` more doctors.
async fn adhoc(experts: usize) -> (TestApp, Vec<TestUser>, String) {
    let app = spawn_app().await;
    let mut doctors = Vec::new();
    for _ in 0..=experts {
        doctors.push(app.create_user(Role::Doctor).await);
    }
    let (status, room) =
        app.send_json(Method::POST, "/api/v1/rooms", Some(&doctors[0].token), &json!({})).await;
    assert_eq!(status, 201);
    let room = room["id"].as_str().unwrap().to_string();
    (app, doctors, room)
}

async fn joined(app: &TestApp, room: &str, user: &TestUser) -> Client {
    let mut c = Client::join(app.addr, room, &user.token).await.unwrap();
    c.wait_for("welcome").await.unwrap();
    c
}

/// Waits until `check` holds for the client's received streams (10 s at most).
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..100 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 10 s");
}

/// Streams from `peer` with at least `min` packets each, audio and video, none missing.
fn receives_from(c: &Client, peer: &str, min: u64) -> bool {
    let streams = c.streams();
    ["audio", "video"].iter().all(|kind| {
        streams.get(&format!("{peer}/{kind}")).is_some_and(|s| s.packets >= min && s.missing == 0)
    })
}

fn peer_id(welcome: &serde_json::Value) -> String {
    welcome["you"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn three_clinicians_each_receive_the_other_two_with_continuous_sequence_numbers() {
    let (app, doctors, room) = adhoc(2).await;
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for d in &doctors {
        let mut c = Client::join(app.addr, &room, &d.token).await.unwrap();
        ids.push(peer_id(&c.wait_for("welcome").await.unwrap()));
        c.publish(TEST_RATES).await.unwrap();
        clients.push(c);
    }
    for (i, c) in clients.iter().enumerate() {
        for (j, id) in ids.iter().enumerate() {
            if i != j {
                until(&format!("client {i} receiving {j}"), || receives_from(c, id, 50)).await;
            }
        }
        assert!(!c.streams().keys().any(|k| k.starts_with(&ids[i])), "nobody receives themselves");
    }
    // Everyone's publisher was asked for a keyframe when someone subscribed.
    for c in &clients {
        assert!(c.stats.keyframe_requests.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    }
    // The forwarding totals reach /metrics.
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let forwarded = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sfu_forwarded_packets_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("sfu_forwarded_packets_total in /metrics");
    assert!(forwarded > 100.0, "{forwarded} packets forwarded");
    for c in clients {
        c.close().await;
    }
}

#[tokio::test]
async fn a_new_subscriber_makes_the_publisher_send_a_keyframe() {
    let (app, doctors, room) = adhoc(1).await;
    let mut host = joined(&app, &room, &doctors[0]).await;
    host.publish(TEST_RATES).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let before = host.stats.keyframe_requests.load(std::sync::atomic::Ordering::Relaxed);
    let expert = joined(&app, &room, &doctors[1]).await;
    let host_id = app.get_json(&format!("/api/v1/rooms/{room}"), Some(&doctors[0].token)).await.1;
    assert_eq!(host_id["role"], "host");
    until("a keyframe request reaching the publisher", || {
        host.stats.keyframe_requests.load(std::sync::atomic::Ordering::Relaxed) > before
    })
    .await;
    until("media at the new subscriber", || {
        expert.stats.received.load(std::sync::atomic::Ordering::Relaxed) > 20
    })
    .await;
    host.close().await;
    expert.close().await;
}

#[tokio::test]
async fn a_client_that_drops_and_reconnects_gets_media_again() {
    let (app, doctors, room) = adhoc(1).await;
    let mut host = Client::join(app.addr, &room, &doctors[0].token).await.unwrap();
    let host_id = peer_id(&host.wait_for("welcome").await.unwrap());
    host.publish(TEST_RATES).await.unwrap();
    let expert = joined(&app, &room, &doctors[1]).await;
    until("first connection receiving", || receives_from(&expert, &host_id, 20)).await;
    expert.close().await;
    // The host sees them go, then come back on a new connection that receives again.
    host.wait_for("participant_left").await.unwrap();
    let again = joined(&app, &room, &doctors[1]).await;
    until("the new connection receiving", || receives_from(&again, &host_id, 20)).await;
    again.close().await;
    host.close().await;
}

#[tokio::test]
async fn nothing_flows_before_admission_and_only_clinicians_mute() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let doctor = app.create_user(Role::Doctor).await;
    let patient = app.create_user(Role::Patient).await;
    let id = crate::scheduling::book_next_slot(&app, &admin.token, &doctor.user.id, &patient.user.id).await;
    let (_, a) = app.get_json(&format!("/api/v1/appointments/{id}"), Some(&admin.token)).await;
    let room = a["room_id"].as_str().unwrap().to_string();

    let mut host = joined(&app, &room, &doctor).await;
    host.publish(TEST_RATES).await.unwrap();
    let mut waiting = Client::join(app.addr, &room, &patient.token).await.unwrap();
    waiting.wait_for("waiting").await.unwrap();
    waiting.send(json!({"type": "publish", "sdp": "v=0\r\n"}));
    let refused = waiting.wait_for("error").await.unwrap();
    assert_eq!(refused["code"], "not_admitted");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        waiting.stats.received.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no media while waiting"
    );

    // Admitted, the patient receives the doctor and may not mute them.
    let mut list = host.wait_for("waiting_list").await.unwrap();
    while list["waiting"].as_array().unwrap().is_empty() {
        list = host.wait_for("waiting_list").await.unwrap();
    }
    let patient_peer = list["waiting"][0]["id"].as_str().unwrap().to_string();
    host.send(json!({"type": "admit", "participant": patient_peer}));
    let welcome = waiting.wait_for("welcome").await.unwrap();
    let host_peer = welcome["participants"].as_array().unwrap().iter().find(|p| p["role"] == "host").unwrap()
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    until("the patient receiving the doctor", || receives_from(&waiting, &host_peer, 20)).await;
    waiting.send(json!({"type": "mute", "participant": host_peer}));
    assert_eq!(waiting.wait_for("error").await.unwrap()["code"], "forbidden");
    host.send(json!({"type": "mute", "participant": patient_peer}));
    let muted = waiting.wait_for("muted").await.unwrap();
    assert!(muted["by"].as_str().unwrap().len() > 1);
    // Bad quality reports are refused; good ones reach the others.
    waiting.send(json!({"type": "quality", "rtt_ms": 40, "loss_percent": 250.0}));
    assert_eq!(waiting.wait_for("error").await.unwrap()["code"], "invalid");
    waiting.send(json!({"type": "quality", "rtt_ms": 40, "loss_percent": 1.5}));
    loop {
        let update = host.wait_for("participant_updated").await.unwrap();
        if update["participant"]["id"] == patient_peer.as_str() && update["participant"]["rtt_ms"] == 40 {
            assert_eq!(update["participant"]["audio"], false, "still muted");
            break;
        }
    }
    waiting.close().await;
    host.close().await;
}

async fn device_token(app: &TestApp, room: &str, token: &str, label: &str) -> (u16, serde_json::Value) {
    app.send_json(
        Method::POST,
        &format!("/api/v1/rooms/{room}/device-tokens"),
        Some(token),
        &json!({"label": label}),
    )
    .await
}

#[tokio::test]
async fn a_whip_camera_streams_into_its_room_and_whep_watches_it() {
    let (app, doctors, room) = adhoc(0).await;
    let (_, _, other_room) = {
        let (s, r) = app.send_json(Method::POST, "/api/v1/rooms", Some(&doctors[0].token), &json!({})).await;
        assert_eq!(s, 201);
        (s, (), r["id"].as_str().unwrap().to_string())
    };
    let patient = app.create_user(Role::Patient).await;
    assert_eq!(
        device_token(&app, &room, &patient.token, "Cam").await.0,
        404,
        "a stranger's room is not found"
    );
    assert_eq!(device_token(&app, &room, &doctors[0].token, "  ").await.0, 422);
    let (status, dt) = device_token(&app, &room, &doctors[0].token, "Dermatoscope").await;
    assert_eq!(status, 201);
    let token = dt["token"].as_str().unwrap();
    let whip = app.url(&format!("/whip/rooms/{room}"));

    let mut host = joined(&app, &room, &doctors[0]).await;
    // Wrong room, no token, not SDP.
    let elsewhere =
        Device::start(&app.url(&format!("/whip/rooms/{other_room}")), token, Some(TEST_RATES)).await.unwrap();
    assert_eq!(elsewhere.status, 403, "a device token works for its own room only");
    elsewhere.close().await;
    let (s, _) = app.send_json(Method::POST, &format!("/whip/rooms/{room}"), None, &json!({})).await;
    assert_eq!(s, 401);
    let r = app
        .request(Method::POST, &format!("/whip/rooms/{room}"), None)
        .bearer_auth(token)
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    let camera = Device::start(&whip, token, Some(TEST_RATES)).await.unwrap();
    assert_eq!(camera.status, 201);
    let location = camera.location.clone().expect("a Location header");
    assert!(location.starts_with(&format!("/whip/rooms/{room}/")));
    let joined_msg = host.wait_for("participant_joined").await.unwrap();
    assert_eq!(joined_msg["participant"]["role"], "device");
    assert_eq!(joined_msg["participant"]["name"], "Dermatoscope");
    let device_peer = joined_msg["participant"]["id"].as_str().unwrap().to_string();
    until("the host receiving the camera", || receives_from(&host, &device_peer, 30)).await;

    // WHEP with the clinician's own token sees the latest camera: the device's.
    let viewer =
        Device::start(&app.url(&format!("/whep/rooms/{room}")), &doctors[0].token, None).await.unwrap();
    assert_eq!(viewer.status, 201);
    until("the WHEP viewer receiving", || {
        viewer.stats.received.load(std::sync::atomic::Ordering::Relaxed) > 30
    })
    .await;
    viewer.close().await;

    // DELETE on the Location ends the stream and the device leaves the room.
    let r = app.request(Method::DELETE, &location, None).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    loop {
        let left = host.wait_for("participant_left").await.unwrap();
        if left["id"] == device_peer.as_str() {
            break;
        }
    }
    let r = app.request(Method::DELETE, &location, None).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let actions: Vec<String> = app
        .audit_actions()
        .await
        .iter()
        .map(|a| a["action"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(actions.iter().any(|a| a == "room.whip") && actions.iter().any(|a| a == "room.device_token"));
    camera.close().await;
    host.close().await;
}

#[tokio::test]
async fn audio_only_stops_video_to_that_subscriber_and_resumes_it_with_a_keyframe() {
    let (app, doctors, room) = adhoc(1).await;
    let mut host = Client::join(app.addr, &room, &doctors[0].token).await.unwrap();
    let host_id = peer_id(&host.wait_for("welcome").await.unwrap());
    host.publish(TEST_RATES).await.unwrap();
    let expert = joined(&app, &room, &doctors[1]).await;
    until("media at the expert", || receives_from(&expert, &host_id, 20)).await;
    let packets = |kind: &str| expert.streams().get(&format!("{host_id}/{kind}")).map_or(0, |s| s.packets);

    expert.send(json!({"type": "audio_only", "on": true}));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (video_before, audio_before) = (packets("video"), packets("audio"));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(packets("video") - video_before <= 2, "video stops (at most a packet in flight)");
    assert!(packets("audio") - audio_before >= 25, "audio goes on");

    let keyframes = host.stats.keyframe_requests.load(std::sync::atomic::Ordering::Relaxed);
    expert.send(json!({"type": "audio_only", "on": false}));
    until("video again", || packets("video") > video_before + 30).await;
    assert!(
        host.stats.keyframe_requests.load(std::sync::atomic::Ordering::Relaxed) > keyframes,
        "a keyframe is asked for"
    );
    let video = &expert.streams()[&format!("{host_id}/video")];
    assert_eq!(video.missing, 0, "the pause leaves no gap in sequence numbers");
    expert.close().await;
    host.close().await;
}

/// The last participant leaves and someone joins at once: the room task must not end with the
/// join (and what follows it) still queued behind the leave.
#[tokio::test]
async fn a_join_queued_behind_the_last_leave_is_not_lost() {
    use consilium::media::{MediaPlane, PeerId, Request, RoomId, Sfu, Signal};
    let (a, b) = (PeerId::new("a"), PeerId::new("b"));
    let sfu = Sfu::new(consilium::media::MediaConfig::default());
    let nothing: consilium::media::SignalSink = std::sync::Arc::new(|_| {});
    let mut lost = Vec::new();
    for round in 0..50 {
        let room = RoomId::new(format!("race-{round}"));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let told: consilium::media::SignalSink = std::sync::Arc::new(move |s| {
            let _ = tx.send(s);
        });
        sfu.join(&room, &a, nothing.clone());
        sfu.leave(&room, &a);
        sfu.join(&room, &b, told);
        // A bad offer from b: if b is in the room, b is told it failed.
        sfu.request(&room, &b, Request::Publish { sdp: "not an offer".into() });
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(Signal::Failed { .. })) => {}
            other => lost.push(format!("{room}: {:?}", other.map(|s| s.is_some()))),
        }
    }
    assert!(lost.is_empty(), "joins lost behind a leave: {lost:?}");
}
