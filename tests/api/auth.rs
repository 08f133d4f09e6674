use consilium::accounts::model::Role;
use consilium_tests::spawn_app;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn valid_credentials_give_a_bearer_token_that_identifies_the_user() {
    let app = spawn_app().await;
    let doc = app.create_user(Role::Doctor).await;
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/v1/auth/token",
            None,
            &json!({"email": doc.email, "password": doc.password}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 12 * 3600);
    let token = body["access_token"].as_str().unwrap();
    let (status, me) = app.get_json("/api/v1/me", Some(token)).await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], doc.email);
    assert_eq!(me["role"], "doctor");
    assert!(me.get("password_hash").is_none() && me.get("token_version").is_none());
}

#[tokio::test]
async fn email_is_matched_case_insensitively() {
    let app = spawn_app().await;
    let p = app.create_user(Role::Patient).await;
    let (status, _) = app
        .send_json(
            Method::POST,
            "/api/v1/auth/token",
            None,
            &json!({"email": p.email.to_uppercase(), "password": p.password}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_401() {
    let app = spawn_app().await;
    let p = app.create_user(Role::Patient).await;
    let (s1, b1) = app
        .send_json(
            Method::POST,
            "/api/v1/auth/token",
            None,
            &json!({"email": p.email, "password": "wrong password!"}),
        )
        .await;
    let (s2, b2) = app
        .send_json(
            Method::POST,
            "/api/v1/auth/token",
            None,
            &json!({"email": "nobody@test.example", "password": "wrong password!"}),
        )
        .await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(b1, b2, "responses must not reveal which emails exist");
}

#[tokio::test]
async fn malformed_token_requests_get_clear_4xx() {
    let app = spawn_app().await;
    let r = app
        .request(Method::POST, "/api/v1/auth/token", None)
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("JSON"), "{body}");

    let (status, body) =
        app.send_json(Method::POST, "/api/v1/auth/token", None, &json!({"email": "a@b.org"})).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("password"), "{body}");

    let (status, body) =
        app.send_json(Method::POST, "/api/v1/auth/token", None, &json!({"email": "", "password": "x"})).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["field"], "email");

    let r = app.request(Method::POST, "/api/v1/auth/token", None).body("email=a").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400, "a body without a JSON content type is refused");
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled_with_retry_after() {
    let app = spawn_app_with_small_budget().await;
    let p = app.create_user(Role::Patient).await;
    let wrong = json!({"email": p.email, "password": "wrong password!"});
    let attempt = || app.send_json(Method::POST, "/api/v1/auth/token", None, &wrong);
    for _ in 0..3 {
        assert_eq!(attempt().await.0, 401);
    }
    let r = app
        .request(Method::POST, "/api/v1/auth/token", None)
        .json(&json!({"email": p.email, "password": p.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429, "even the right password waits once the budget is spent");
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "retry-after {retry}");
}

#[tokio::test]
async fn throttling_is_per_client_address_too() {
    let app = spawn_app_with_small_budget().await;
    // Different accounts from one address: the address budget (5) runs out.
    let mut statuses = Vec::new();
    for i in 0..6 {
        let (s, _) = app
            .send_json(
                Method::POST,
                "/api/v1/auth/token",
                None,
                &json!({"email": format!("user{i}@test.example"), "password": "wrong password!"}),
            )
            .await;
        statuses.push(s);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
}

async fn spawn_app_with_small_budget() -> consilium_tests::TestApp {
    consilium_tests::spawn_app_with(|c| {
        c.login_burst_account = 3;
        c.login_burst_addr = 5;
        c.login_refill = std::time::Duration::from_secs(60);
    })
    .await
}

#[tokio::test]
async fn logout_revokes_the_token() {
    let app = spawn_app().await;
    let u = app.create_user(Role::Doctor).await;
    let r = app.request(Method::POST, "/api/v1/auth/logout", Some(&u.token)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(app.get_json("/api/v1/me", Some(&u.token)).await.0, 401);
    // Another token of the same account still works.
    let other = app.token_for(&u.user);
    assert_eq!(app.get_json("/api/v1/me", Some(&other)).await.0, 200);
}

#[tokio::test]
async fn a_user_updates_their_own_language_and_time_zone() {
    let app = spawn_app().await;
    let u = app.create_user(Role::Patient).await;
    let (s, body) = app
        .send_json(
            Method::PATCH,
            "/api/v1/me",
            Some(&u.token),
            &json!({"locale": "zh", "timezone": "Asia/Shanghai"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["locale"], "zh");
    assert_eq!(body["timezone"], "Asia/Shanghai");
    let (s, body) =
        app.send_json(Method::PATCH, "/api/v1/me", Some(&u.token), &json!({"timezone": "Mars/Base"})).await;
    assert_eq!(s, 422);
    assert_eq!(body["error"]["field"], "timezone");
    let (s, _) = app.send_json(Method::PATCH, "/api/v1/me", Some(&u.token), &json!({"role": "admin"})).await;
    assert_eq!(s, 422, "one cannot promote oneself: unknown fields are refused");
    let (_, me) = app.get_json("/api/v1/me", Some(&u.token)).await;
    assert_eq!(me["role"], "patient");
    assert_eq!(me["timezone"], "Asia/Shanghai");
}

#[tokio::test]
async fn a_user_changes_their_own_password_and_other_sessions_end() {
    let app = spawn_app().await;
    let u = app.create_user(Role::Patient).await;
    let other_session = app.token_for(&u.user);
    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let (s, b) = app
        .send_json(
            Method::POST,
            "/api/v1/me/password",
            Some(&u.token),
            &change("not it at all", "a new long passphrase"),
        )
        .await;
    assert_eq!((s, b["error"]["field"].as_str()), (422, Some("current_password")));
    let (s, b) = app
        .send_json(Method::POST, "/api/v1/me/password", Some(&u.token), &change(&u.password, "short"))
        .await;
    assert_eq!((s, b["error"]["field"].as_str()), (422, Some("password")));
    let (s, b) = app
        .send_json(Method::POST, "/api/v1/me/password", Some(&u.token), &change(&u.password, &u.password))
        .await;
    assert_eq!((s, b["error"]["field"].as_str()), (422, Some("new_password")));
    let (s, b) = app
        .send_json(
            Method::POST,
            "/api/v1/me/password",
            Some(&u.token),
            &change(&u.password, "a new long passphrase"),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let fresh = b["access_token"].as_str().unwrap();
    assert_eq!(app.get_json("/api/v1/me", Some(&other_session)).await.0, 401, "old sessions end");
    assert_eq!(app.get_json("/api/v1/me", Some(fresh)).await.0, 200, "the new token works");
    let (s, _) = app
        .send_json(
            Method::POST,
            "/api/v1/auth/token",
            None,
            &json!({"email": u.email, "password": "a new long passphrase"}),
        )
        .await;
    assert_eq!(s, 200);
    let rows = app.audit_actions().await;
    assert!(rows.iter().any(|r| r["action"] == "user.password"));
    assert!(!serde_json::to_string(&rows).unwrap().contains("a new long passphrase"));
}

#[tokio::test]
async fn the_settings_page_changes_the_password_and_keeps_this_browser_signed_in() {
    let app = spawn_app().await;
    let u = app.create_user(Role::Doctor).await;
    let cookie = format!("consilium_session={}", app.browser_login(&u.email, &u.password).await);
    let form = |confirm: &str| {
        vec![
            ("current_password", u.password.clone()),
            ("new_password", "another long passphrase".to_string()),
            ("confirm_password", confirm.to_string()),
        ]
    };
    let r = app
        .http
        .post(app.url("/settings/password"))
        .header("cookie", &cookie)
        .form(&form("different words"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.unwrap().contains("The two new passwords differ."));
    let r = app
        .http
        .post(app.url("/settings/password"))
        .header("cookie", &cookie)
        .form(&form("another long passphrase"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let fresh = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    assert_eq!(
        app.http.get(app.url("/")).header("cookie", &cookie).send().await.unwrap().status().as_u16(),
        303,
        "the old cookie is out"
    );
    assert_eq!(
        app.http.get(app.url("/")).header("cookie", &fresh).send().await.unwrap().status().as_u16(),
        200,
        "this browser stays in"
    );
}

#[tokio::test]
async fn behind_a_tls_proxy_every_session_cookie_is_secure() {
    let app = consilium_tests::spawn_app_with(|c| c.trust_proxy = true).await;
    let u = app.create_user(Role::Doctor).await;
    let r = app
        .http
        .post(app.url("/login"))
        .header("x-forwarded-proto", "https")
        .form(&[("email", u.email.as_str()), ("password", u.password.as_str())])
        .send()
        .await
        .unwrap();
    let login_cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(login_cookie.contains("Secure"), "{login_cookie}");
    let session = login_cookie.split(';').next().unwrap().to_string();
    let r = app
        .http
        .post(app.url("/settings/password"))
        .header("cookie", &session)
        .header("x-forwarded-proto", "https")
        .form(&[
            ("current_password", u.password.as_str()),
            ("new_password", "a fresh long passphrase"),
            ("confirm_password", "a fresh long passphrase"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Secure"), "the renewed cookie too");
}
