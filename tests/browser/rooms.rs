//! Consultation rooms in the browser: the waiting room and admission, multi-party video, and
//! images with findings, each checked on a desktop and a phone, in English and Chinese.

use consilium::seed::DemoLogin;
use consilium_tests::TestApp;
use consilium_tests::browser::{Browser, DESKTOP, PHONE};

use super::{demo_app, login_of, sign_in};

/// Books Dr. Hart's next free slot for Nora Berg (as the demo admin): the appointment.
pub(crate) async fn book_demo_consultation(app: &TestApp, logins: &[DemoLogin]) -> serde_json::Value {
    let admin = login_of(logins, "admin@");
    let (_, token) = app
        .send_json(
            reqwest::Method::POST,
            "/api/v1/auth/token",
            None,
            &serde_json::json!({"email": admin.email, "password": admin.password}),
        )
        .await;
    let token = token["access_token"].as_str().unwrap().to_string();
    let (_, doctors) = app.get_json("/api/v1/doctors?specialty=Dermatology", Some(&token)).await;
    let doctor_id = doctors[0]["id"].as_str().unwrap().to_string();
    let (_, patients) = app.get_json("/api/v1/users?role=patient&q=nora", Some(&token)).await;
    let patient_id = patients[0]["id"].as_str().unwrap().to_string();
    let (_, slots) = app.get_json(&format!("/api/v1/doctors/{doctor_id}/slots"), Some(&token)).await;
    let (s, appt) = app
        .send_json(reqwest::Method::POST, "/api/v1/appointments", Some(&token), &serde_json::json!({"doctor_id": doctor_id, "patient_id": patient_id, "starts_at": slots[0]["starts_at"]}))
        .await;
    assert_eq!(s, 201, "{appt}");
    appt
}

/// The waiting room in two browsers: the patient waits, the doctor admits them, they chat.
#[tokio::test]
async fn the_doctor_admits_the_patient_from_the_waiting_room_and_they_chat() {
    let _media = consilium_tests::browser::MEDIA.lock().await;
    let (app, logins) = demo_app().await;
    let appt = book_demo_consultation(&app, &logins).await;
    let room = format!("/rooms/{}", appt["room_id"].as_str().unwrap());
    let Some(doctor) = Browser::start_with("en", DESKTOP, consilium_tests::browser::FAKE_MEDIA).await else {
        return;
    };
    sign_in(&doctor, &app, login_of(&logins, "amelia.hart@")).await;
    doctor.goto(&app.url(&room)).await;
    doctor.click("#join").await;
    doctor.wait_for_text("#waiting", "Nobody is waiting").await;
    // A guest link for an interpreter, made in the room (it opens 30 minutes before the
    // consultation; creating it works at any time).
    doctor.fill("#invite-form input[name=name]", "Interpreter Ana").await;
    doctor.click("#invite-form button[type=submit]").await;
    let shown = doctor
        .eval("return new Promise(r => setTimeout(() => r(!document.getElementById('invite-result').hidden ? document.getElementById('invite-link').value : document.getElementById('invite-error').textContent), 1500))")
        .await;
    assert!(shown.as_str().unwrap().contains("/join/"), "a link is shown: {shown}");
    let opens = doctor.eval("return document.getElementById('invite-opens').textContent").await;
    assert!(
        opens.as_str().unwrap().starts_with("Opens ") && opens.as_str().unwrap().ends_with("(your time)"),
        "{opens}"
    );
    // And one for the patient herself: no name to type, her time zone.
    doctor.click("#invite-form input[value=patient]").await;
    let name_hidden = doctor.eval("return document.getElementById('invite-name').hidden").await;
    assert_eq!(name_hidden, true, "the patient's link needs no name");
    doctor.click("#invite-form button[type=submit]").await;
    doctor.wait_for_text("#invite-opens", "(the patient's time)").await;
    doctor.eval("document.getElementById('invite-form').scrollIntoView()").await;
    doctor.screenshot("room-invite-patient-en-desktop").await;
    let Some(patient) = Browser::start_with("zh-CN", PHONE, consilium_tests::browser::FAKE_MEDIA).await
    else {
        return;
    };
    sign_in(&patient, &app, login_of(&logins, "nora.berg@")).await;
    patient.goto(&app.url(&format!("/appointments/{}", appt["id"].as_str().unwrap()))).await;
    patient.click("a[href^='/rooms/']").await;
    // The device check: the fake camera plays in the preview, the fake microphone moves the meter.
    let mut seen = (false, false);
    for _ in 0..50 {
        let v = patient.eval("const p = document.getElementById('preview'); return [p.videoWidth > 0 && !p.paused, document.getElementById('mic-level').value > 0.01, document.getElementById('camera').options.length]").await;
        seen = (v[0] == true, v[1] == true);
        if seen.0 && seen.1 {
            assert!(v[2].as_u64().unwrap() >= 1, "a camera to choose");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen, (true, true), "camera preview playing and microphone level moving");
    patient.screenshot("room-device-check-zh-CN-phone").await;
    patient.assert_accessible("the room's device check, zh-CN phone").await;
    patient.click("#join").await;
    patient.wait_for_text("#room-status", "候诊室").await;
    patient.screenshot("room-waiting-zh-CN-phone").await;
    patient.assert_accessible("the waiting room, zh-CN phone").await;
    doctor.wait_for_text("#waiting", "Nora Berg").await;
    // Someone arriving in the waiting room is announced to a clinician using a screen reader.
    let live = doctor.eval("return document.getElementById('waiting').getAttribute('aria-live')").await;
    assert_eq!(live, "polite");
    doctor.screenshot("room-waiting-list-en-desktop").await;
    doctor.assert_accessible("the waiting list, en desktop").await;
    doctor.click("#waiting button.primary").await;
    patient.wait_for_text("#participants", "Dr. Amelia Hart").await;
    // Both see and hear each other: each page decodes the other's video.
    patient.wait_decoding(1).await;
    doctor.wait_decoding(1).await;
    patient.fill("#chat-input", "早上好，医生").await;
    patient.click("#chat-form button").await;
    doctor.wait_for_text("#chat-log", "早上好，医生").await;
    doctor.fill("#chat-input", "Good morning, please show me the rash").await;
    doctor.click("#chat-form button").await;
    patient.wait_for_text("#chat-log", "please show me the rash").await;
    patient.screenshot("room-chat-zh-CN-phone").await;
    doctor.screenshot("room-chat-en-desktop").await;
    // A reload brings the patient straight back, with the chat so far and media again.
    patient.client.refresh().await.unwrap();
    patient.wait_for_text("#participants", "Dr. Amelia Hart").await;
    patient.wait_for_text("#chat-log", "please show me the rash").await;
    patient.wait_decoding(1).await;
    doctor.wait_decoding(1).await;
    // The doctor mutes the patient; the patient's page says so and the doctor sees it.
    doctor.eval("document.querySelector('#participants button.small').click()").await;
    patient.wait_for_text("#room-status", "关闭了您的麦克风").await;
    doctor.wait_for_text("#participants", "muted").await;
    patient.screenshot("room-call-zh-CN-phone").await;
    doctor.screenshot("room-call-en-desktop").await;
    patient.assert_accessible("in the call, zh-CN phone").await;
    doctor.assert_accessible("in the call, en desktop").await;
    doctor.close().await;
    patient.close().await;
}

/// A case review in three browsers: every clinician decodes the other two; the third's join
/// time (Join clicked to first remote frame decoded) is printed for BENCHMARKS.md.
#[tokio::test]
async fn three_clinicians_hold_a_review_call_and_each_decodes_the_other_two() {
    let _media = consilium_tests::browser::MEDIA.lock().await;
    let (app, logins) = demo_app().await;
    let host_login = login_of(&logins, "amelia.hart@");
    let (_, token) = app
        .send_json(
            reqwest::Method::POST,
            "/api/v1/auth/token",
            None,
            &serde_json::json!({"email": host_login.email, "password": host_login.password}),
        )
        .await;
    let token = token["access_token"].as_str().unwrap().to_string();
    let (s, room) =
        app.send_json(reqwest::Method::POST, "/api/v1/rooms", Some(&token), &serde_json::json!({})).await;
    assert_eq!(s, 201);
    let room = format!("/rooms/{}", room["id"].as_str().unwrap());
    let mut pages = Vec::new();
    for (who, lang, vp) in
        [("amelia.hart@", "en", DESKTOP), ("wei.zhang@", "zh-CN", DESKTOP), ("lucas.moreno@", "en", PHONE)]
    {
        let Some(b) = Browser::start_with(lang, vp, consilium_tests::browser::FAKE_MEDIA).await else {
            return;
        };
        sign_in(&b, &app, login_of(&logins, who)).await;
        b.goto(&app.url(&room)).await;
        // Let the device check open the camera before joining, as a person would.
        b.eval("return new Promise(r => setTimeout(r, 1500))").await;
        b.click("#join").await;
        pages.push(b);
    }
    for (i, b) in pages.iter().enumerate() {
        let streams = b.wait_decoding(2).await;
        assert_eq!(streams.len(), 2, "page {i} decodes exactly the other two");
    }
    // Page 1 joined while one camera was on, page 2 while two were.
    for i in [1, 2] {
        let ms =
            pages[i].eval("const c = window.consiliumCall; return c.firstFrameAt - c.joinClickedAt").await;
        println!(
            "join time, page {i} (Join clicked -> first remote frame decoded): {:.0} ms",
            ms.as_f64().unwrap_or(f64::NAN)
        );
    }
    pages[0].screenshot("room-review-en-desktop").await;
    pages[1].screenshot("room-review-zh-CN-desktop").await;
    pages[2].screenshot("room-review-en-phone").await;
    for b in pages {
        b.close().await;
    }
}

/// The whole diagnosis flow in two browsers: the doctor shares a photo and a CT slice, the
/// patient sees both at once; the doctor analyses the photo with the skin model (age, sex and
/// site given), sees the finding and its heatmap; the patient sees nothing until the doctor
/// accepts it; the consultation record shows who decided what.
#[tokio::test]
async fn a_shared_photo_is_analysed_and_the_patient_sees_the_finding_only_after_sign_off() {
    let _media = consilium_tests::browser::MEDIA.lock().await;
    let (app, logins) = demo_app().await;
    let appt = book_demo_consultation(&app, &logins).await;
    let room = format!("/rooms/{}", appt["room_id"].as_str().unwrap());
    let Some(doctor) = Browser::start_with("en", DESKTOP, consilium_tests::browser::FAKE_MEDIA).await else {
        return;
    };
    let Some(patient) = Browser::start_with("zh-CN", PHONE, consilium_tests::browser::FAKE_MEDIA).await
    else {
        return;
    };
    sign_in(&doctor, &app, login_of(&logins, "amelia.hart@")).await;
    sign_in(&patient, &app, login_of(&logins, "nora.berg@")).await;
    doctor.goto(&app.url(&room)).await;
    doctor.click("#join").await;
    patient.goto(&app.url(&room)).await;
    patient.click("#join").await;
    doctor.wait_for_text("#waiting", "Nora Berg").await;
    doctor.click("#waiting button.primary").await;
    patient.wait_for_text("#participants", "Dr. Amelia Hart").await;
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let upload = |b: &Browser, file: &str| {
        let path = data.join(file).to_string_lossy().into_owned();
        let client = b.client.clone();
        async move {
            let input = client.find(fantoccini::Locator::Css("#image-file")).await.unwrap();
            input.send_keys(&path).await.unwrap();
        }
    };
    upload(&doctor, "lesion.jpg").await;
    patient.wait_for_text("#viewer-caption", "lesion.jpg").await;
    upload(&doctor, "ct_native.dcm").await;
    patient.wait_for_text("#viewer-caption", "CT").await;
    doctor.wait_for_text("#viewer-caption", "Explicit VR Little Endian").await;
    let offered = doctor
        .eval(
            "return [...document.getElementById('analyse-model').options].map((o) => [o.value, o.disabled])",
        )
        .await;
    assert_eq!(
        offered,
        serde_json::json!([["diagnosisnet", false], ["sklesion", true]]),
        "the skin model is not offered for CT"
    );
    doctor.wait_for_text("#analyse-unsuitable", "Skin lesion classifier").await;
    doctor.eval("document.getElementById('analyse-form').scrollIntoView({block: 'center'})").await;
    doctor.screenshot("analyse-ct-en-desktop").await;
    patient.eval("document.getElementById('images').scrollIntoView()").await;
    patient.screenshot("images-dicom-zh-CN-phone").await;
    // A still from the patient's live camera, taken by the doctor, reaches the patient too.
    doctor.wait_decoding(1).await;
    doctor.click("#image-capture").await;
    patient.wait_for_text("#viewer-caption", "still-").await;
    // The presenter's zoom follows on the patient's screen.
    doctor.click("#present").await;
    doctor.click("#zoom-in").await;
    let mut followed = false;
    for _ in 0..50 {
        let t = patient.eval("return document.getElementById('viewer-canvas').style.transform").await;
        if t.as_str().is_some_and(|t| t.contains("scale(1.5)")) {
            followed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(followed, "the patient's viewer follows the presenter's zoom");
    // A cine loop: the presenter steps to frame 5 of 8 and the patient's viewer follows.
    upload(&doctor, "us_cine.dcm").await;
    doctor.wait_for_text("#frame-number", "1 / 8").await;
    doctor.eval("const f = document.getElementById('frame-select'); f.value = 4; f.dispatchEvent(new Event('input'))").await;
    patient.wait_for_text("#frame-number", "5 / 8").await;
    patient.eval("document.getElementById('viewer').scrollIntoView()").await;
    patient.screenshot("images-cine-zh-CN-phone").await;
    doctor.click("#present").await;
    // Back to the photo, with the facts the skin model needs.
    doctor.click("#image-list button[data-image]").await;
    doctor.wait_for_text("#viewer-caption", "lesion.jpg").await;
    doctor.eval("const s = document.getElementById('analyse-model'); s.value = 'sklesion'; s.dispatchEvent(new Event('change'))").await;
    doctor.fill("#analyse-facts input[name=age]", "63").await;
    doctor.eval("const f = document.getElementById('analyse-form'); f.elements.sex.value = 'male'; f.elements.site.value = 'trunk'").await;
    doctor.click("#analyse").await;
    let mut ready = false;
    for _ in 0..150 {
        let v = doctor.eval("const h = document.getElementById('viewer-heat'); return [!!document.querySelector('.finding.ready .predictions li'), !h.hidden && h.naturalWidth > 0]").await;
        if v[0] == true && v[1] == true {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(ready, "the finding with its heatmap shows for the doctor");
    doctor.eval("document.getElementById('viewer-frame').scrollIntoView()").await;
    doctor.screenshot("finding-ready-en-desktop").await;
    doctor.assert_accessible("an image with a finding to sign off, en desktop").await;
    // The patient sees nothing of an unsigned finding.
    let count = patient.eval("return document.querySelectorAll('.finding').length").await;
    assert_eq!(count, 0, "no finding reaches the patient before sign-off");
    doctor.click("[data-decide=accept]").await;
    doctor.wait_for_text(".finding", "Accepted by Dr. Amelia Hart").await;
    patient.wait_for_text("#findings", "已接受").await;
    // The patient reads the clinician's decision with the label's Chinese name: no model
    // codes, no probabilities.
    let seen = patient
        .eval("const f = document.querySelector('.finding'); return [f.querySelector('.decision').textContent, !!f.querySelector('.predictions')]")
        .await;
    let decision = seen[0].as_str().unwrap();
    let label = decision.rsplit(": ").next().unwrap();
    assert!(label.chars().all(|c| !c.is_ascii_alphabetic()) && !label.is_empty(), "{decision}");
    assert_eq!(seen[1], false, "no probabilities for the patient");
    patient.eval("document.querySelector('.finding').scrollIntoView()").await;
    patient.screenshot("finding-accepted-zh-CN-phone").await;
    patient.assert_accessible("a signed-off finding, zh-CN phone").await;
    // The consultation record.
    doctor.goto(&app.url(&format!("/appointments/{}", appt["id"].as_str().unwrap()))).await;
    let record = doctor.wait_for_text("table.record", "Accepted").await;
    assert!(
        record.contains("Dr. Amelia Hart")
            && record.contains("lesion.jpg")
            && record.contains("sklesion 0.2.2"),
        "{record}"
    );
    doctor.eval("document.querySelector('table.record').scrollIntoView()").await;
    doctor.screenshot("record-findings-en-desktop").await;
    doctor.close().await;
    patient.close().await;
}
