//! Server-rendered pages: sign-in, dashboards by role, admin pages, languages.

use consilium::accounts::model::Role;
use consilium_tests::{TestApp, spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::json;

async fn page(app: &TestApp, path: &str, cookie: Option<&str>, lang: &str) -> (u16, String) {
    let mut rb = app.http.get(app.url(path)).header("accept-language", lang);
    if let Some(c) = cookie {
        rb = rb.header("cookie", format!("consilium_session={c}"));
    }
    let r = rb.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn the_login_page_speaks_english_or_chinese_by_accept_language() {
    let app = spawn_app().await;
    let (s, en) = page(&app, "/login", None, "en-GB,en;q=0.9").await;
    assert_eq!(s, 200);
    assert!(en.contains("<html lang=\"en\">") && en.contains("Sign in"));
    let (_, zh) = page(&app, "/login", None, "zh-CN,zh;q=0.9,en;q=0.5").await;
    assert!(zh.contains("<html lang=\"zh-CN\">") && zh.contains("登录"), "{zh}");
    assert!(!zh.contains("Sign in to your"));
}

#[tokio::test]
async fn the_language_link_remembers_the_choice() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/lang/zh?next=/login")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/login");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let html = app
        .http
        .get(app.url("/login"))
        .header("cookie", cookie)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("登录"));
    let r = app.http.get(app.url("/lang/zh?next=https://evil.example")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/", "no open redirect");
    assert_eq!(app.http.get(app.url("/lang/xx")).send().await.unwrap().status().as_u16(), 422);
}

#[tokio::test]
async fn the_login_form_sets_an_httponly_lax_cookie() {
    let app = spawn_app().await;
    let d = app.create_user(Role::Doctor).await;
    let r = app
        .http
        .post(app.url("/login"))
        .form(&[("email", d.email.as_str()), ("password", d.password.as_str()), ("next", "/settings")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/settings");
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http on loopback: {cookie}");
}

#[tokio::test]
async fn the_cookie_is_secure_when_configured() {
    let app = spawn_app_with(|c| c.cookie_secure = consilium::config::CookieSecure::Always).await;
    let d = app.create_user(Role::Doctor).await;
    let r = app
        .http
        .post(app.url("/login"))
        .form(&[("email", d.email.as_str()), ("password", d.password.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Secure"));
}

#[tokio::test]
async fn a_wrong_password_in_the_form_shows_an_error_and_no_cookie() {
    let app = spawn_app().await;
    let d = app.create_user(Role::Doctor).await;
    let r = app
        .http
        .post(app.url("/login"))
        .header("accept-language", "zh")
        .form(&[("email", d.email.as_str()), ("password", "nope nope nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    let html = r.text().await.unwrap();
    assert!(html.contains("电子邮箱或密码错误"), "{html}");
    assert!(html.contains(&d.email), "the email is kept in the form");
}

#[tokio::test]
async fn each_role_lands_on_its_own_dashboard() {
    let app = spawn_app().await;
    for (role, marker) in [
        (Role::Patient, "Your consultations"),
        (Role::Doctor, "Agenda for the next 7 days"),
        (Role::Admin, "Manage users"),
    ] {
        let u = app.create_user(role).await;
        let cookie = app.browser_login(&u.email, &u.password).await;
        let (s, html) = page(&app, "/", Some(&cookie), "en").await;
        assert_eq!(s, 200);
        assert!(html.contains(marker), "{role:?}: {html}");
        assert_eq!(html.contains("/admin/users"), role == Role::Admin, "{role:?} admin link");
        if role == Role::Admin {
            for label in ["Patient", "Doctor", "Administrator"] {
                assert!(html.contains(&format!("<dt>{label}</dt><dd>1</dd>")), "one {label} counted: {html}");
            }
            assert!(html.contains("<dt>Inactive</dt><dd>0</dd>"));
        }
    }
}

#[tokio::test]
async fn pages_need_a_session_and_the_right_role() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/admin/users?q=x")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/login?next=/admin/users%3Fq%3Dx");
    let d = app.create_user(Role::Doctor).await;
    let cookie = app.browser_login(&d.email, &d.password).await;
    for path in ["/admin/users", "/admin/audit", "/admin/users/whatever"] {
        let (s, html) = page(&app, path, Some(&cookie), "en").await;
        assert_eq!(s, 403, "{path}");
        assert!(html.contains("Not allowed"), "{path}: an HTML error page");
    }
    let (s, html) = page(&app, "/no-such-page", Some(&cookie), "zh").await;
    assert_eq!(s, 404);
    assert!(html.contains("未找到"));
}

#[tokio::test]
async fn logout_ends_the_browser_session() {
    let app = spawn_app().await;
    let d = app.create_user(Role::Doctor).await;
    let cookie = app.browser_login(&d.email, &d.password).await;
    let r = app
        .http
        .post(app.url("/logout"))
        .header("cookie", format!("consilium_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert!(r.headers()["set-cookie"].to_str().unwrap().starts_with("consilium_session=;"));
    let (s, _) = page(&app, "/", Some(&cookie), "en").await;
    assert_eq!(s, 303, "the old cookie no longer signs in");
}

#[tokio::test]
async fn an_admin_manages_users_through_the_pages() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let cookie = format!("consilium_session={}", app.browser_login(&admin.email, &admin.password).await);
    let form = |email: &'static str, pw: &'static str| {
        vec![
            ("name", "Dr. Page"),
            ("email", email),
            ("role", "doctor"),
            ("password", pw),
            ("timezone", "Europe/Paris"),
            ("specialty", "Neurology"),
        ]
    };
    let bad = app
        .http
        .post(app.url("/admin/users"))
        .header("cookie", &cookie)
        .form(&form("page@test.example", "short"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 422);
    let html = bad.text().await.unwrap();
    assert!(
        html.contains("at least 10 characters") && html.contains("page@test.example"),
        "the form comes back filled in"
    );
    let ok = app
        .http
        .post(app.url("/admin/users"))
        .header("cookie", &cookie)
        .form(&form("page@test.example", "long enough password"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 303);
    let (_, list) = app.get_json("/api/v1/users?q=page@", Some(&admin.token)).await;
    let id = list[0]["id"].as_str().unwrap().to_string();
    let (s, html) =
        page(&app, "/admin/users", Some(cookie.trim_start_matches("consilium_session=")), "en").await;
    assert_eq!(s, 200);
    assert!(html.contains("Dr. Page") && html.contains("Neurology"));
    let r = app
        .http
        .post(app.url(&format!("/admin/users/{id}/active")))
        .header("cookie", &cookie)
        .form(&[("active", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let (_, u) = app.get_json(&format!("/api/v1/users/{id}"), Some(&admin.token)).await;
    assert_eq!(u["active"], false);
    let r = app
        .http
        .post(app.url(&format!("/admin/users/{id}")))
        .header("cookie", &cookie)
        .form(&[("name", "Dr. Page II"), ("role", "doctor"), ("timezone", "Nowhere/Land"), ("specialty", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let (_, u) = app.get_json(&format!("/api/v1/users/{id}"), Some(&admin.token)).await;
    assert_eq!(u["name"], "Dr. Page", "a refused edit changes nothing");
}

#[tokio::test]
async fn the_audit_page_lists_entries_in_the_admins_time_zone() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let p = app.create_user(Role::Patient).await;
    app.get_json(&format!("/api/v1/users/{}", p.user.id), Some(&admin.token)).await;
    let cookie = app.browser_login(&admin.email, &admin.password).await;
    let (s, html) = page(&app, &format!("/admin/audit?patient={}", p.user.id), Some(&cookie), "en").await;
    assert_eq!(s, 200);
    assert!(html.contains("user.read") && html.contains("user.create"), "{html}");
    assert!(html.contains("CET") || html.contains("CEST"), "times shown in Europe/Berlin");
    let (s, html) = page(&app, "/admin/audit?from=not-a-date", Some(&cookie), "en").await;
    assert_eq!(s, 200);
    assert!(html.contains("is not a date"));
}

#[tokio::test]
async fn the_account_language_overrides_the_browser() {
    let app = spawn_app().await;
    let u = app.create_user(Role::Patient).await;
    app.send_json(Method::PATCH, "/api/v1/me", Some(&u.token), &json!({"locale": "zh"})).await;
    let cookie = app.browser_login(&u.email, &u.password).await;
    let (_, html) = page(&app, "/", Some(&cookie), "en-US").await;
    assert!(html.contains("您的会诊"), "{html}");
}

/// The consultation-hours page says how to write hours instead of showing sample hours in
/// empty days (they looked like real ones), and time off asks for a note, not "the reason for
/// the visit".
#[tokio::test]
async fn the_hours_page_shows_empty_days_as_no_consultations_and_asks_time_off_for_a_note() {
    let app = spawn_app().await;
    let d = app.create_user(Role::Doctor).await;
    let jar = app.browser_login(&d.email, &d.password).await;
    let (s, html) = page(&app, &format!("/schedule/{}/availability", d.user.id), Some(&jar), "en").await;
    assert_eq!(s, 200);
    assert!(!html.contains("placeholder=\"09:00-12:00"), "no sample hours in empty days");
    assert!(html.contains("placeholder=\"No consultations\"") && html.contains("Leave a day empty"));
    assert!(!html.contains("Reason for the visit") && html.contains("Note (conference, holiday…)"));
    let (_, zh) = page(&app, &format!("/schedule/{}/availability", d.user.id), Some(&jar), "zh-CN").await;
    assert!(zh.contains("placeholder=\"不出诊\"") && zh.contains("备注"), "{zh}");
}

/// A doctor opens an ad-hoc room from the dashboard and lands in it as its host; a patient
/// cannot.
#[tokio::test]
async fn a_doctor_opens_a_room_from_the_dashboard() {
    let app = spawn_app().await;
    let d = app.create_user(Role::Doctor).await;
    let jar = app.browser_login(&d.email, &d.password).await;
    let (_, home) = page(&app, "/", Some(&jar), "en").await;
    assert!(home.contains("action=\"/rooms\"") && home.contains("Open a consultation room"), "{home}");
    let post = |cookie: String| {
        app.http.post(app.url("/rooms")).header("cookie", format!("consilium_session={cookie}")).send()
    };
    let r = post(jar.clone()).await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let room = r.headers()["location"].to_str().unwrap().trim_start_matches("/rooms/").to_string();
    let (s, view) = app.get_json(&format!("/api/v1/rooms/{room}"), Some(&d.token)).await;
    assert_eq!((s, view["role"].as_str()), (200, Some("host")), "{view}");
    let p = app.create_user(Role::Patient).await;
    let patient = app.browser_login(&p.email, &p.password).await;
    assert_eq!(post(patient).await.unwrap().status().as_u16(), 403);
}

/// The audit page says what happened in words, in the reader's language, and keeps each
/// action's code as the link that filters by it.
#[tokio::test]
async fn the_audit_page_names_actions_in_words() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let session = app.browser_login(&admin.email, &admin.password).await;
    let (s, en) = page(&app, "/admin/audit", Some(&session), "en").await;
    assert_eq!(s, 200);
    assert!(en.contains("Signed in"), "{en}");
    assert!(en.contains("href=\"/admin/audit?action=auth.login\""));
    let (_, zh) = page(&app, "/admin/audit", Some(&session), "zh-CN").await;
    assert!(zh.contains("登录") && !zh.contains(">Signed in"), "{zh}");
    let (_, only) = page(&app, "/admin/audit?action=auth.login", Some(&session), "en").await;
    assert!(only.contains("Signed in"));
}
