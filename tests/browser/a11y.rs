//! Accessibility, checked by axe-core (npm, an outside checker) on every page as each role
//! sees it, in English on a desktop and in Chinese on a phone: no critical and no serious
//! violation. The room's states (device check, waiting, in the call, with a finding) are
//! checked where the room tests reach them.

use consilium_tests::browser::{Browser, DESKTOP, PHONE};

use super::{demo_app, login_of, sign_in, sign_out};

#[tokio::test]
async fn every_page_passes_axe_in_both_languages_on_a_desktop_and_a_phone() {
    let (app, logins) = demo_app().await;
    let appointment = crate::rooms::book_demo_consultation(&app, &logins).await;
    let review = crate::reviews::plan_review(&app, &logins).await;
    let (a, r) = (appointment["id"].as_str().unwrap(), review["id"].as_str().unwrap());
    let (doctor, patient) =
        (appointment["doctor_id"].as_str().unwrap(), appointment["patient_id"].as_str().unwrap());
    let room = appointment["room_id"].as_str().unwrap();
    // An ad-hoc room whose call has ended: the page says so and offers the record.
    let hart = crate::reviews::token(&app, login_of(&logins, "amelia.hart@")).await;
    let (_, ended) =
        app.send_json(reqwest::Method::POST, "/api/v1/rooms", Some(&hart), &serde_json::json!({})).await;
    let ended = ended["id"].as_str().unwrap().to_string();
    consilium::consult::db::end(&app.state.db, &consilium::ids::RoomId::new(ended.as_str())).await.unwrap();
    let pages: [(&str, Vec<String>); 3] = [
        (
            "nora.berg@",
            vec![
                "/".into(),
                "/appointments".into(),
                format!("/appointments/{a}"),
                "/book".into(),
                format!("/book/{doctor}"),
                "/record".into(),
                format!("/rooms/{room}"),
                "/settings".into(),
            ],
        ),
        (
            "amelia.hart@",
            vec![
                "/".into(),
                "/appointments".into(),
                format!("/appointments/{a}"),
                "/reviews".into(),
                format!("/reviews/{r}"),
                format!("/reviews/{r}/report"),
                format!("/patients/{patient}"),
                format!("/rooms/{room}"),
                format!("/rooms/{ended}"),
                "/appointments/no-such-appointment".into(),
                "/settings".into(),
            ],
        ),
        (
            "admin@",
            vec![
                "/".into(),
                "/admin/users".into(),
                format!("/admin/users/{patient}"),
                "/admin/audit".into(),
                "/admin/schedule".into(),
                "/admin/emergency-access".into(),
            ],
        ),
    ];
    for (lang, vp) in [("en", DESKTOP), ("zh-CN", PHONE)] {
        let Some(b) = Browser::start(lang, vp).await else { return };
        b.goto(&app.url("/login")).await;
        b.assert_accessible(&format!("/login in {lang} on a {}", vp.name)).await;
        // The checker is really at work: an image without a text alternative fails it.
        b.eval("document.querySelector('main').append(Object.assign(document.createElement('img'), { src: '/static/none.png' }))").await;
        if let Some(found) = b.accessibility_violations().await {
            assert!(found.iter().any(|v| v.contains("image-alt")), "axe saw the unnamed image: {found:?}");
        }
        for (who, paths) in &pages {
            sign_in(&b, &app, login_of(&logins, who)).await;
            for path in paths {
                b.goto(&app.url(path)).await;
                b.assert_accessible(&format!("{path} as {who} in {lang} on a {}", vp.name)).await;
                if path.contains("no-such") {
                    // The refusal reads in the page's language.
                    b.screenshot(&format!("error-not-found-{lang}-{}", vp.name)).await;
                }
            }
            sign_out(&b, vp).await;
        }
        b.close().await;
    }
}
