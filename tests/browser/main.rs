//! Browser tests in headless Chromium: what a person sees after signing in, in English and
//! Chinese, on a desktop and a phone-sized window. Screenshots land in target/screenshots.

use consilium::seed::{DemoLogin, seed_demo};
use consilium_tests::browser::{Browser, DESKTOP, PHONE, Viewport};
use consilium_tests::{TestApp, spawn_app};

mod a11y;
mod notes;
mod reviews;
mod rooms;

async fn demo_app() -> (TestApp, Vec<DemoLogin>) {
    let app = spawn_app().await;
    let logins = seed_demo(&app.state.db).await.unwrap();
    (app, logins)
}

fn login_of<'a>(logins: &'a [DemoLogin], email_prefix: &str) -> &'a DemoLogin {
    logins.iter().find(|l| l.email.starts_with(email_prefix)).unwrap()
}

async fn sign_in(b: &Browser, app: &TestApp, who: &DemoLogin) {
    b.goto(&app.url("/login")).await;
    b.fill("input[name=email]", who.email).await;
    b.fill("input[name=password]", &who.password).await;
    b.click("form[action='/login'] button[type=submit]").await;
    b.client.wait().for_url(&url_of(app, "/")).await.expect("the dashboard after sign-in");
}

fn url_of(app: &TestApp, path: &str) -> url::Url {
    url::Url::parse(&app.url(path)).unwrap()
}

#[tokio::test]
async fn each_demo_role_signs_in_and_sees_its_dashboard_in_english_and_chinese() {
    let (app, logins) = demo_app().await;
    let cases: [(&str, &str, &str, &str); 3] = [
        ("admin@", "admin", "Manage users", "管理用户"),
        ("amelia.hart@", "doctor", "Agenda for the next 7 days", "未来 7 天日程"),
        ("nora.berg@", "patient", "Your consultations", "您的会诊"),
    ];
    for (lang, vp) in [("en", DESKTOP), ("zh-CN", DESKTOP), ("en", PHONE), ("zh-CN", PHONE)] {
        let Some(b) = Browser::start(lang, vp).await else { return };
        for (prefix, role, en, zh) in cases {
            sign_in(&b, &app, login_of(&logins, prefix)).await;
            let body = b.text("main").await;
            let expected = if lang == "en" { en } else { zh };
            assert!(body.contains(expected), "{role} {lang} {}: {body}", vp.name);
            b.screenshot(&format!("dashboard-{role}-{lang}-{}", vp.name)).await;
            sign_out(&b, vp).await;
            assert_eq!(b.path().await, "/login");
        }
        b.close().await;
    }
}

async fn sign_out(b: &Browser, vp: Viewport) {
    if vp.mobile {
        b.click(".menu-toggle").await;
    }
    b.click("form[action='/logout'] button").await;
    b.client.wait().for_element(fantoccini::Locator::Css("form[action='/login']")).await.unwrap();
}

#[tokio::test]
async fn the_login_page_and_a_failed_sign_in_render_in_both_languages() {
    let (app, logins) = demo_app().await;
    for (lang, vp, failed_text) in
        [("en", DESKTOP, "The email or password is wrong."), ("zh-CN", PHONE, "电子邮箱或密码错误。")]
    {
        let Some(b) = Browser::start(lang, vp).await else { return };
        b.goto(&app.url("/login")).await;
        b.screenshot(&format!("login-{lang}-{}", vp.name)).await;
        b.fill("input[name=email]", login_of(&logins, "li.na@").email).await;
        b.fill("input[name=password]", "not the password").await;
        b.click("form[action='/login'] button[type=submit]").await;
        assert_eq!(b.text(".alert").await, failed_text);
        b.screenshot(&format!("login-failed-{lang}-{}", vp.name)).await;
        b.close().await;
    }
}

#[tokio::test]
async fn the_phone_menu_opens_with_script_allowed_by_the_content_security_policy() {
    let (app, logins) = demo_app().await;
    let Some(b) = Browser::start("en", PHONE).await else { return };
    sign_in(&b, &app, login_of(&logins, "admin@")).await;
    let visible = "getComputedStyle(document.getElementById('nav')).display !== 'none'";
    assert_eq!(b.eval(&format!("return {visible}")).await, false, "the menu starts folded on a phone");
    b.click(".menu-toggle").await;
    assert_eq!(b.eval(&format!("return {visible}")).await, true, "app.js ran and opened the menu");
    b.screenshot("menu-open-en-phone").await;
    // Tables become stacked cards on a phone: no sideways scrolling.
    b.goto(&app.url("/admin/users")).await;
    let overflow = b.eval("return document.documentElement.scrollWidth > window.innerWidth").await;
    assert_eq!(overflow, false, "the user list fits the phone's width");
    b.screenshot("admin-users-en-phone").await;
    b.goto(&app.url("/settings")).await;
    b.screenshot("settings-en-phone").await;
    b.close().await;
}

#[tokio::test]
async fn an_admin_creates_and_deactivates_a_user_in_the_browser() {
    let (app, logins) = demo_app().await;
    let Some(b) = Browser::start("en", DESKTOP).await else { return };
    sign_in(&b, &app, login_of(&logins, "admin@")).await;
    b.goto(&app.url("/admin/users")).await;
    b.fill("#new input[name=name]", "Dr. Browser Test").await;
    b.fill("#new input[name=email]", "browser.test@consilium.demo").await;
    b.eval("document.querySelector('#new select[name=role]').value = 'doctor'; return null").await;
    b.fill("#new input[name=password]", "a browser password").await;
    b.fill("#new input[name=timezone]", "Asia/Tokyo").await;
    b.fill("#new input[name=specialty]", "Cardiology").await;
    b.click("#new button[type=submit]").await;
    assert_eq!(b.text(".notice").await, "The user was created.");
    let table = b.text("table").await;
    assert!(table.contains("Dr. Browser Test") && table.contains("Asia/Tokyo"), "{table}");
    b.screenshot("admin-users-en-desktop").await;
    b.client.find(fantoccini::Locator::LinkText("Dr. Browser Test")).await.unwrap().click().await.unwrap();
    // Accept the confirmation dialog that app.js raises.
    b.eval("window.confirm = () => true; return null").await;
    b.click("button.danger").await;
    assert_eq!(b.text(".notice").await, "The account was deactivated.");
    b.goto(&app.url("/admin/audit")).await;
    let audit = b.text("table").await;
    assert!(audit.contains("user.deactivate") && audit.contains("user.create"), "{audit}");
    b.screenshot("admin-audit-en-desktop").await;
    b.close().await;
}

/// The whole booking story: a patient books in the browser in their own zone, the doctor sees
/// it in the agenda, an admin moves it from the week grid, and the .ics is offered.
#[tokio::test]
async fn a_patient_books_the_doctor_sees_it_and_an_admin_moves_it() {
    let (app, logins) = demo_app().await;
    for (lang, vp) in [("en", DESKTOP), ("zh-CN", PHONE)] {
        let Some(b) = Browser::start(lang, vp).await else { return };
        let patient =
            if lang == "en" { login_of(&logins, "nora.berg@") } else { login_of(&logins, "li.na@") };
        sign_in(&b, &app, patient).await;
        b.goto(&app.url("/book")).await;
        b.screenshot(&format!("book-doctors-{lang}-{}", vp.name)).await;
        b.client
            .find(fantoccini::Locator::Css("section.doctor a.button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        b.client.wait().for_element(fantoccini::Locator::Css("a.slot")).await.unwrap();
        b.screenshot(&format!("book-slots-{lang}-{}", vp.name)).await;
        b.click("a.slot").await;
        b.fill("textarea[name=reason]", "Itchy rash on the forearm").await;
        b.screenshot(&format!("book-confirm-{lang}-{}", vp.name)).await;
        b.click("form[action^='/book/'] button[type=submit]").await;
        let notice = b.text(".notice").await;
        assert!(notice == "Your appointment is booked." || notice == "预约成功。", "{notice}");
        assert!(b.text("main").await.contains("Itchy rash on the forearm"));
        b.screenshot(&format!("appointment-{lang}-{}", vp.name)).await;
        let ics = b.eval("return document.querySelector('a[href$=\"/ics\"]').getAttribute('href')").await;
        let ics_text = b
            .eval(&format!(
                "const r = await fetch({ics}); return r.status + ' ' + (await r.text()).slice(0, 15)"
            ))
            .await;
        assert_eq!(ics_text, "200 BEGIN:VCALENDAR", "the .ics link works with the browser session");
        sign_out(&b, vp).await;
        b.close().await;
    }
    // The doctor of the first doctor card (Dermatology: Dr. Hart) sees both in the agenda.
    let Some(b) = Browser::start("en", DESKTOP).await else { return };
    sign_in(&b, &app, login_of(&logins, "amelia.hart@")).await;
    b.goto(&app.url("/appointments")).await;
    let agenda = b.text("main").await;
    assert!(agenda.contains("Nora Berg") && agenda.contains("Li Na"), "{agenda}");
    b.screenshot("agenda-doctor-en-desktop").await;
    sign_out(&b, DESKTOP).await;
    // The admin opens the week grid and moves Nora's appointment to another free time.
    sign_in(&b, &app, login_of(&logins, "admin@")).await;
    b.goto(&app.url("/admin/schedule")).await;
    b.screenshot("admin-schedule-en-desktop").await;
    let cells = b.eval("return [...document.querySelectorAll('a.appt-cell')].map(a => a.textContent)").await;
    assert_eq!(cells.as_array().map(Vec::len), Some(2), "both bookings in the grid: {cells}");
    b.client
        .find(fantoccini::Locator::XPath("//a[contains(@class,'appt-cell') and contains(., 'Nora Berg')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.click("a[href*='reschedule=']").await;
    b.client.wait().for_element(fantoccini::Locator::Css("a.slot")).await.unwrap();
    // Take a later slot than the first (the first may be the one just left).
    b.eval("document.querySelectorAll('a.slot')[3].click(); return null").await;
    b.fill("textarea[name=reason]", "Doctor is in surgery").await;
    b.click("form[action^='/book/'] button[type=submit]").await;
    assert_eq!(b.text(".notice").await, "The appointment was moved.");
    assert!(b.text("main").await.contains("Doctor is in surgery"));
    b.close().await;
}

/// A coordinator plans a review for the three demo doctors (London, Shanghai, New York), finds
/// a time shown in each one's zone, schedules it, adds a case; an expert accepts in Chinese.
#[tokio::test]
async fn a_coordinator_plans_a_review_across_three_time_zones() {
    let (app, logins) = demo_app().await;
    let Some(b) = Browser::start("en", DESKTOP).await else { return };
    sign_in(&b, &app, login_of(&logins, "admin@")).await;
    b.goto(&app.url("/reviews")).await;
    b.fill("input[name=title]", "Skin cancer board").await;
    b.eval("document.querySelectorAll('input[name=experts]').forEach(c => c.checked = true); return null")
        .await;
    b.click("form[action='/reviews'] button[type=submit]").await;
    b.click("a[href$='?find=1#find']").await;
    b.client.wait().for_element(fantoccini::Locator::Css("form.proposal")).await.unwrap();
    let proposal = b.text("form.proposal").await;
    for who in ["Dr. Amelia Hart", "Dr. Wei Zhang", "Dr. Lucas Moreno"] {
        assert!(proposal.contains(who), "{who} is in the proposal: {proposal}");
    }
    assert!(proposal.contains("CST"), "Shanghai's local time is shown: {proposal}");
    b.screenshot("review-proposals-en-desktop").await;
    b.click("form.proposal button").await;
    b.wait_for_text("main", "Scheduled").await;
    b.eval("document.querySelector('select[name=patient_id]').selectedIndex = 0; return null").await;
    b.fill("input[name=question]", "Excise or observe the lesion?").await;
    b.click("form[action$='/cases'] button").await;
    b.wait_for_text("main", "Excise or observe the lesion?").await;
    b.screenshot("review-scheduled-en-desktop").await;
    sign_out(&b, DESKTOP).await;
    b.close().await;
    let Some(b) = Browser::start("zh-CN", PHONE).await else { return };
    sign_in(&b, &app, login_of(&logins, "wei.zhang@")).await;
    b.client.find(fantoccini::Locator::LinkText("Skin cancer board")).await.unwrap().click().await.unwrap();
    b.click("button[value=accepted]").await;
    b.wait_for_text("main", "已接受").await;
    b.screenshot("review-accepted-zh-CN-phone").await;
    // The admin planned it, so an expert who accepted writes and signs the case's outcome.
    b.eval("document.querySelector('form.outcome select[name=presenter_id]').selectedIndex = 1; return null")
        .await;
    b.fill("form.outcome textarea[name=discussion]", "Dermoscopy suggests a dysplastic naevus.").await;
    b.eval("document.querySelector('form.outcome select[name=recommendation]').value = 'surveillance'; return null").await;
    b.fill("form.outcome textarea[name=recommendation_text]", "Photograph and review in three months.").await;
    b.click("form.outcome button[value=sign]").await;
    b.wait_for_text("main", "签署人").await;
    let shown = b.text("main").await;
    assert!(shown.contains("随访观察") && shown.contains("Photograph and review"), "{shown}");
    b.screenshot("review-outcome-signed-zh-CN-phone").await;
    b.close().await;
    // The admin sees the signed outcome on a desktop, in English.
    let Some(b) = Browser::start("en", DESKTOP).await else { return };
    sign_in(&b, &app, login_of(&logins, "admin@")).await;
    b.goto(&app.url("/reviews")).await;
    b.client.find(fantoccini::Locator::LinkText("Skin cancer board")).await.unwrap().click().await.unwrap();
    b.wait_for_text("main", "Surveillance").await;
    b.eval("document.querySelector('.case .outcome').scrollIntoView(); return null").await;
    b.screenshot("review-outcome-signed-en-desktop").await;
    b.close().await;
}
