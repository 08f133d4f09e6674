//! The consultation note in the browser: the doctor writes in the room's panel and on the
//! appointment page, a reload mid-sentence loses nothing, they sign and add an addendum; the
//! patient reads the plan and instructions on a phone, in Chinese.

use consilium_tests::browser::{Browser, DESKTOP, PHONE};

use super::rooms::book_demo_consultation;
use super::{demo_app, login_of, sign_in};

#[tokio::test]
async fn a_doctor_writes_signs_and_amends_a_note_and_the_patient_reads_it_on_a_phone() {
    let (app, logins) = demo_app().await;
    let appt = book_demo_consultation(&app, &logins).await;
    let (id, room) = (appt["id"].as_str().unwrap(), appt["room_id"].as_str().unwrap());
    let Some(doctor) = Browser::start("en", DESKTOP).await else { return };
    sign_in(&doctor, &app, login_of(&logins, "amelia.hart@")).await;

    // In the room, beside the call: the first lines, saved as they are typed.
    doctor.goto(&app.url(&format!("/rooms/{room}"))).await;
    doctor.wait_for_text("#note-status", "Nothing written yet").await;
    doctor
        .fill("#note-form textarea[name=subjective]", "Itchy patch on the left forearm for three weeks.")
        .await;
    doctor.wait_for_text("#note-status", "Saved").await;
    doctor.screenshot("note-room-en-desktop").await;

    // On the appointment page: a sentence typed and the page reloaded before it could be
    // saved comes back from the device and is saved then.
    let page = app.url(&format!("/appointments/{id}"));
    doctor.goto(&page).await;
    doctor.wait_for_text("#note-status", "Saved").await;
    doctor
        .eval(
            "const f = document.getElementById('note-form');
             f.elements.plan.value = 'Emollient twice daily; review in two weeks';
             f.elements.plan.dispatchEvent(new Event('input', {bubbles: true}));
             location.reload();",
        )
        .await;
    doctor.wait_for_text("#note-status", "restored").await;
    doctor.wait_for_text("#note-status", "Saved").await;
    let plan = doctor.eval("return document.getElementById('note-form').elements.plan.value").await;
    assert_eq!(plan, "Emollient twice daily; review in two weeks");
    doctor.fill("#note-form textarea[name=assessment]", "Probable nummular eczema.").await;
    doctor
        .fill("#note-form textarea[name=instructions]", "Apply the cream after washing; avoid scratching.")
        .await;
    doctor.click("#note-add-diagnosis").await;
    doctor.fill("#note-diagnoses li:last-child input[name=text]", "Nummular eczema").await;
    doctor.fill("#note-diagnoses li:last-child input[name=code]", "L30.0").await;
    doctor.eval("const s = document.querySelector('#note-diagnoses li:last-child select'); s.value = 'icd10'; s.dispatchEvent(new Event('input', {bubbles: true}));").await;
    doctor.wait_for_text("#note-status", "Saved").await;
    doctor.screenshot("note-draft-en-desktop").await;

    // Signed, then an addendum the next day.
    doctor.eval("window.confirm = () => true;").await;
    doctor.click("#note-sign").await;
    doctor.wait_for_text("#note-signed", "Signed by").await;
    doctor.fill("#note-signed textarea", "Patch test booked for next week.").await;
    doctor.click("#note-signed button[type=submit]").await;
    doctor.wait_for_text("#note-addenda", "Patch test booked").await;
    doctor.screenshot("note-signed-en-desktop").await;
    doctor.close().await;

    // The patient: the plan and instructions, not the doctor's working notes.
    let Some(patient) = Browser::start("zh-CN", PHONE).await else { return };
    sign_in(&patient, &app, login_of(&logins, "nora.berg@")).await;
    patient.goto(&page).await;
    let shown = patient.wait_for_text("main", "Emollient twice daily").await;
    assert!(
        shown.contains("Apply the cream after washing") && shown.contains("Patch test booked"),
        "{shown}"
    );
    assert!(shown.contains("诊疗记录"), "the note's heading in Chinese: {shown}");
    assert!(!shown.contains("Itchy patch"), "the subjective section stays with the clinicians");
    patient.screenshot("note-patient-zh-CN-phone").await;
    // Their whole record, from the menu's "My record".
    patient.goto(&app.url("/record")).await;
    let record = patient.wait_for_text("main", "我的病历").await;
    assert!(record.contains("Apply the cream after washing") && !record.contains("Itchy patch"), "{record}");
    patient.screenshot("record-patient-zh-CN-phone").await;
    patient.close().await;

    // The doctor's signed view in Chinese on a phone.
    let Some(doctor) = Browser::start("zh-CN", PHONE).await else { return };
    sign_in(&doctor, &app, login_of(&logins, "amelia.hart@")).await;
    doctor.goto(&page).await;
    doctor.wait_for_text("#note-signed", "签署人").await;
    doctor.eval("document.getElementById('note-panel').scrollIntoView()").await;
    doctor.screenshot("note-signed-zh-CN-phone").await;
    doctor.close().await;
}

/// A doctor with no care relationship opens Nora's chart only by emergency access, with a
/// reason; the admin report shows it.
#[tokio::test]
async fn another_doctor_opens_a_chart_by_emergency_access_and_the_admin_report_shows_it() {
    let (app, logins) = demo_app().await;
    let appt = book_demo_consultation(&app, &logins).await;
    let nora = appt["patient_id"].as_str().unwrap().to_string();
    let chart = app.url(&format!("/patients/{nora}"));
    let Some(b) = Browser::start("zh-CN", PHONE).await else { return };
    sign_in(&b, &app, login_of(&logins, "lucas.moreno@")).await;
    b.goto(&chart).await;
    b.wait_for_text("main", "紧急访问").await;
    b.screenshot("chart-closed-zh-CN-phone").await;
    b.fill("textarea[name=reason]", "Unconscious in the emergency room, no history available").await;
    b.click("form[action$='/emergency'] button").await;
    b.wait_for_text("main", "您通过紧急访问打开了此病历").await;
    let shown = b.text("main").await;
    assert!(shown.contains("Nora Berg") && shown.contains("Dr. Amelia Hart"), "{shown}");
    b.screenshot("chart-emergency-zh-CN-phone").await;
    b.close().await;

    let Some(b) = Browser::start("en", DESKTOP).await else { return };
    sign_in(&b, &app, login_of(&logins, "admin@")).await;
    b.goto(&app.url("/admin/emergency-access")).await;
    let report = b.wait_for_text("main", "Unconscious in the emergency room").await;
    assert!(report.contains("Lucas Moreno") && report.contains("Nora Berg"), "{report}");
    b.screenshot("admin-emergency-en-desktop").await;
    b.goto(&chart).await;
    b.wait_for_text("main", "Patient chart").await;
    b.screenshot("chart-admin-en-desktop").await;
    b.close().await;
}
