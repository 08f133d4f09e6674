//! Sharing images in a room: PNG, JPEG and DICOM recognised by content, shown to everyone in
//! the call, DICOM windows; bad files get clear 4xx and leave nothing behind; only people in
//! the room (and patients only once admitted) may share or look.

use consilium::accounts::model::Role;
use consilium::imaging::decode::{self, ImageError, Limits};
use consilium_tests::test_data;
use reqwest::Method;
use serde_json::{Value, json};

use crate::rooms::{Consult, Socket, connect, consult, send, someone_waiting, until};

/// Uploads `bytes` into the room as `token`; the status and body.
pub(crate) async fn share(c: &Consult, token: &str, name: &str, bytes: Vec<u8>) -> (u16, Value) {
    let r = c
        .app
        .request(Method::POST, &format!("/api/v1/rooms/{}/images?filename={name}", c.room), Some(token))
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn image_rows(c: &Consult) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT COUNT(*) AS n FROM images")
        .fetch_one(c.app.state.db.read())
        .await
        .unwrap()
        .get::<i64, _>("n")
}

/// The doctor in the call, and the patient admitted.
pub(crate) async fn in_call(c: &Consult) -> (Socket, Socket) {
    let mut doctor = connect(&c.app, &c.room, &c.doctor.token).await.unwrap();
    until(&mut doctor, "welcome").await;
    let mut patient = connect(&c.app, &c.room, &c.patient.token).await.unwrap();
    let waiting = someone_waiting(&mut doctor).await;
    let id = waiting["waiting"][0]["id"].as_str().unwrap().to_string();
    send(&mut doctor, json!({"type": "admit", "participant": id})).await;
    until(&mut patient, "welcome").await;
    (doctor, patient)
}

#[test]
fn every_shipped_dicom_encoding_decodes_and_the_rest_are_refused_clearly() {
    for name in
        ["ct_native.dcm", "ct_implicit.dcm", "mr_rle.dcm", "xr_jpeg.dcm", "rgb_native.dcm", "deflate.dcm"]
    {
        let d = decode::decode(&test_data(name), Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let info = d.dicom.expect("DICOM facts");
        assert!(d.image.width() > 0 && d.image.height() > 0, "{name}");
        // Not a blank picture: windowing kept some contrast.
        let (lo, hi) = d.image.pixels().fold((255u8, 0u8), |(lo, hi), p| (lo.min(p[0]), hi.max(p[0])));
        assert!(hi > lo + 50, "{name}: flat image {lo}..{hi}");
        assert!(!info.transfer_syntax.is_empty(), "{name}");
    }
    let ct = decode::decode(&test_data("ct_native.dcm"), Limits::default()).unwrap().dicom.unwrap();
    assert_eq!(ct.modality, "CT");
    assert!(ct.windows.iter().any(|w| w.name == "Lung"), "CT presets offered: {:?}", ct.windows);
    assert!(ct.windows.iter().any(|w| w.center == 40.0 && w.width == 400.0), "the file's own window first");
    match decode::decode(&test_data("j2k.dcm"), Limits::default()) {
        Err(ImageError::Unsupported(m)) => assert!(m.contains("JPEG 2000"), "{m}"),
        other => panic!("JPEG 2000 must be refused as unsupported, got {other:?}"),
    }
    assert!(matches!(
        decode::decode(&test_data("truncated.dcm"), Limits::default()),
        Err(ImageError::Corrupt(_))
    ));
    // Found by fuzzing: an RLE segment shorter than the image made dicom-rs 0.10.1 panic.
    for found in
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/fuzz")).unwrap()
    {
        let path = found.unwrap().path();
        let result = decode::decode(&std::fs::read(&path).unwrap(), Limits::default());
        assert!(
            matches!(result, Err(ImageError::Corrupt(_) | ImageError::Unsupported(_))),
            "{}: {result:?}",
            path.display()
        );
    }
    let small = Limits { max_side: 100, max_pixels: 10_000 };
    assert!(matches!(decode::decode(&test_data("ct_native.dcm"), small), Err(ImageError::TooLarge(_))));
    assert!(matches!(decode::decode(&test_data("photo.png"), small), Err(ImageError::TooLarge(_))));
}

#[tokio::test]
async fn shared_images_reach_everyone_in_the_call_and_dicom_renders_at_any_window() {
    let c = consult().await;
    let (mut doctor, mut patient) = in_call(&c).await;
    // The patient shares a photo; the kind comes from the bytes, not the name.
    let (status, photo) = share(&c, &c.patient.token, "rash.dat", test_data("photo.jpg")).await;
    assert_eq!(status, 201, "{photo}");
    assert_eq!(photo["kind"], "jpeg");
    assert_eq!((photo["width"].as_u64(), photo["height"].as_u64()), (Some(320), Some(240)));
    let seen = until(&mut doctor, "image_shared").await;
    assert_eq!(seen["image"]["id"], photo["id"]);
    // The doctor shares a CT slice.
    let (status, ct) = share(&c, &c.doctor.token, "ct.dcm", test_data("ct_native.dcm")).await;
    assert_eq!(status, 201, "{ct}");
    assert_eq!(ct["kind"], "dicom");
    assert_eq!(ct["dicom"]["modality"], "CT");
    // Everyone hears of every share, the sharer too (their other tabs); skip the photo.
    let mut heard = until(&mut patient, "image_shared").await;
    if heard["image"]["id"] == photo["id"] {
        heard = until(&mut patient, "image_shared").await;
    }
    assert_eq!(heard["image"]["id"], ct["id"]);
    // Both can fetch the pictures; DICOM at another window is a different picture.
    let url = ct["url"].as_str().unwrap().to_string();
    let (status, kind, default) = c.app.get_bytes(&url, Some(&c.patient.token)).await;
    assert_eq!((status, kind.as_deref()), (200, Some("image/png")));
    let (status, _, lung) =
        c.app.get_bytes(&format!("{url}?center=-600&width=1500"), Some(&c.doctor.token)).await;
    assert_eq!(status, 200);
    assert_ne!(default, lung, "another window shows other pixels");
    let (status, _, _) = c.app.get_bytes(&format!("{url}?center=40"), Some(&c.doctor.token)).await;
    assert_eq!(status, 422, "a window needs both centre and width");
    let (_, list) = c.app.get_json(&format!("/api/v1/rooms/{}/images", c.room), Some(&c.patient.token)).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    // The viewer: the presenter's zoom, pan and pointer reach the others; nonsense does not.
    send(&mut doctor, json!({"type": "viewer", "image": ct["id"], "zoom": 2.5, "x": 0.3, "y": 0.6, "pointer": [0.31, 0.62]})).await;
    let v = until(&mut patient, "viewer").await;
    assert_eq!(v["view"]["zoom"], 2.5);
    assert!((v["view"]["pointer"][0].as_f64().unwrap() - 0.31).abs() < 1e-6);
    send(&mut doctor, json!({"type": "viewer", "image": ct["id"], "zoom": 100, "x": 0.3, "y": 0.6})).await;
    assert_eq!(until(&mut doctor, "error").await["code"], "invalid");
    let actions: Vec<String> =
        c.app.audit_actions().await.iter().map(|a| a["action"].as_str().unwrap().to_string()).collect();
    for a in ["image.share", "image.view", "image.list"] {
        assert!(actions.iter().any(|x| x == a), "audit lacks {a}: {actions:?}");
    }
}

#[tokio::test]
async fn bad_uploads_get_clear_errors_and_leave_nothing_behind() {
    let c = consult().await;
    let (_doctor, _patient) = in_call(&c).await;
    let cases: [(&str, Vec<u8>, u16); 5] = [
        ("truncated.dcm", test_data("truncated.dcm"), 422),
        ("j2k.dcm", test_data("j2k.dcm"), 415),
        ("notes.txt", b"just some text, not an image".to_vec(), 415),
        ("empty.png", Vec::new(), 422),
        ("half.png", test_data("photo.png")[..2000].to_vec(), 422),
    ];
    for (name, bytes, want) in cases {
        let (status, body) = share(&c, &c.doctor.token, name, bytes).await;
        assert_eq!(status, want, "{name}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap_or("").is_empty(), "{name}: a message for people");
    }
    assert_eq!(image_rows(&c).await, 0);
    let blobs = c.app.data_dir.join("blobs");
    assert!(!blobs.exists() || std::fs::read_dir(&blobs).unwrap().next().is_none(), "no blobs written");
}

#[tokio::test]
async fn uploads_over_the_limit_are_refused_with_413() {
    let c = crate::rooms::consult_with(|cfg| cfg.max_upload_bytes = 10_000).await;
    let (_doctor, _patient) = in_call(&c).await;
    let (status, body) = share(&c, &c.doctor.token, "ct.dcm", test_data("ct_native.dcm")).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(image_rows(&c).await, 0);
}

#[tokio::test]
async fn when_every_decoder_is_busy_uploads_and_re_renders_get_503_and_write_nothing() {
    let c = crate::rooms::consult_with(|cfg| {
        cfg.image_decoders = 1;
        cfg.image_decode_queue = 0;
    })
    .await;
    let (_doctor, _patient) = in_call(&c).await;
    let (status, ct) = share(&c, &c.doctor.token, "ct.dcm", test_data("ct_native.dcm")).await;
    assert_eq!(status, 201);
    let busy = c.app.state.decode_slots.acquire().await.unwrap();
    let r = c
        .app
        .request(
            Method::POST,
            &format!("/api/v1/rooms/{}/images?filename=x.png", c.room),
            Some(&c.doctor.token),
        )
        .body(test_data("photo.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(image_rows(&c).await, 1, "nothing written");
    let url = ct["url"].as_str().unwrap();
    let token = Some(c.doctor.token.as_str());
    let rerender = c.app.get_bytes(&format!("{url}?center=40&width=400"), token).await.0;
    assert_eq!(rerender, 503, "a re-render needs a decoder");
    assert_eq!(c.app.get_bytes(url, token).await.0, 200, "the stored picture does not");
    drop(busy);
    assert_eq!(share(&c, &c.doctor.token, "x.png", test_data("photo.png")).await.0, 201);
}

#[tokio::test]
async fn only_people_in_the_room_share_and_patients_only_once_admitted() {
    let c = consult().await;
    // The patient, before anyone is in the call, may not share.
    let (status, _) = share(&c, &c.patient.token, "p.png", test_data("photo.png")).await;
    assert_eq!(status, 403);
    let stranger = c.app.create_user(Role::Doctor).await;
    let (status, _) = share(&c, &stranger.token, "p.png", test_data("photo.png")).await;
    assert_eq!(status, 404, "room ids reveal nothing to outsiders");
    let (status, _) =
        c.app.get_json(&format!("/api/v1/rooms/{}/images", c.room), Some(&stranger.token)).await;
    assert_eq!(status, 404);
    let r = c
        .app
        .request(Method::POST, &format!("/api/v1/rooms/{}/images", c.room), None)
        .body(test_data("photo.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // The doctor may share before the patient is in.
    let (status, image) = share(&c, &c.doctor.token, "p.png", test_data("photo.png")).await;
    assert_eq!(status, 201);
    let (status, _) = c.app.get_json(image["url"].as_str().unwrap(), Some(&c.patient.token)).await;
    assert_eq!(status, 403, "a patient outside the call does not see the room's images");
}

#[tokio::test]
async fn a_room_holds_at_most_200_images() {
    let c = consult().await;
    let (_doctor, _patient) = in_call(&c).await;
    let png = test_data("photo.png");
    for i in 0..consilium::imaging::MAX_IMAGES_PER_ROOM {
        let (status, body) = share(&c, &c.doctor.token, &format!("p{i}.png"), png.clone()).await;
        assert_eq!(status, 201, "{i}: {body}");
    }
    let (status, body) = share(&c, &c.doctor.token, "one-more.png", png).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(image_rows(&c).await, consilium::imaging::MAX_IMAGES_PER_ROOM);
}

#[tokio::test]
async fn shares_at_once_into_a_nearly_full_room_never_pass_the_limit() {
    let c = consult().await;
    let (_doctor, _patient) = in_call(&c).await;
    let png = test_data("photo.png");
    let max = consilium::imaging::MAX_IMAGES_PER_ROOM;
    for i in 0..max - 2 {
        let (status, body) = share(&c, &c.doctor.token, &format!("p{i}.png"), png.clone()).await;
        assert_eq!(status, 201, "{i}: {body}");
    }
    // Ten at once for the last two places: the count is taken inside each write.
    let names: Vec<String> = (0..10).map(|i| format!("last{i}.png")).collect();
    let shares = names.iter().map(|name| share(&c, &c.doctor.token, name, png.clone()));
    let statuses: Vec<u16> =
        futures_util::future::join_all(shares).await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 2, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
    assert_eq!(image_rows(&c).await, max);
}
