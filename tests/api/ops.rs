//! Probes, metrics, security headers, request ids and the cross-site request guard.

use consilium::accounts::model::Role;
use consilium_tests::spawn_app;

#[tokio::test]
async fn health_and_readiness_probes_answer() {
    let app = spawn_app().await;
    let (s, body) = app.get_json("/healthz", None).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("ok")));
    let (s, body) = app.get_json("/readyz", None).await;
    assert_eq!((s, body["database"].as_str()), (200, Some("ok")));
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.state.db.close().await;
    let (s, body) = app.get_json("/readyz", None).await;
    assert_eq!(s, 503, "{body}");
    assert_eq!(app.get_json("/healthz", None).await.0, 200, "the process itself is still up");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = spawn_app().await;
    app.get_json("/api/v1/me", None).await;
    app.get_json("/api/v1/users/some-id", None).await;
    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(r#"http_requests_total{method="GET",route="/api/v1/me",status="401"}"#), "{text}");
    assert!(text.contains(r#"route="/api/v1/users/{id}""#), "routes are labelled by template, not raw path");
    assert!(!text.contains("some-id"));
    assert!(text.contains("http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn every_response_carries_security_headers_and_a_request_id() {
    let app = spawn_app().await;
    for path in ["/login", "/api/v1/me", "/healthz", "/static/app.css", "/no-such-page"] {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(h.contains_key("x-request-id"), "{path}");
        let cache = h["cache-control"].to_str().unwrap();
        assert_eq!(cache == "no-store", path != "/static/app.css", "{path}: {cache}");
    }
    let r = app.http.get(app.url("/healthz")).header("x-request-id", "trace-me-42").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-me-42", "a caller's request id is kept");
}

#[tokio::test]
async fn cross_site_form_posts_with_a_cookie_are_refused() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let cookie = app.browser_login(&admin.email, &admin.password).await;
    let form = [
        ("name", "Evil"),
        ("email", "evil@test.example"),
        ("role", "admin"),
        ("password", "evil password 123"),
        ("timezone", "UTC"),
    ];
    let attack = app
        .http
        .post(app.url("/admin/users"))
        .header("cookie", format!("consilium_session={cookie}"))
        .header("origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(attack.status().as_u16(), 403);
    let fetch_meta = app
        .http
        .post(app.url("/admin/users"))
        .header("cookie", format!("consilium_session={cookie}"))
        .header("sec-fetch-site", "cross-site")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(fetch_meta.status().as_u16(), 403);
    let (_, users) = app.get_json("/api/v1/users?q=evil", Some(&admin.token)).await;
    assert!(users.as_array().unwrap().is_empty(), "nothing was created");
    // The same form from our own origin works.
    let ok = app
        .http
        .post(app.url("/admin/users"))
        .header("cookie", format!("consilium_session={cookie}"))
        .header("origin", format!("http://{}", app.addr))
        .header("sec-fetch-site", "same-origin")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 303);
}

/// Collects log output in memory.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// A process-wide subscriber: a thread-local one misses events whose callsites other tests,
// running at the same time without a subscriber, have already cached as disabled. Only this
// test installs one; it looks only for its own request's lines.
#[tokio::test]
async fn request_logs_carry_a_request_id_and_no_secrets() {
    let buffer = LogBuffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("only this test sets a subscriber");
    let app = spawn_app().await;
    let u = app.create_user(Role::Doctor).await;
    let (s, body) = app
        .send_json(
            reqwest::Method::POST,
            "/api/v1/auth/token",
            None,
            &serde_json::json!({"email": u.email, "password": u.password}),
        )
        .await;
    assert_eq!(s, 200);
    let token = body["access_token"].as_str().unwrap().to_string();
    app.http
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .header("x-request-id", "req-abc-123")
        .send()
        .await
        .unwrap();
    app.browser_login(&u.email, &u.password).await;
    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("req-abc-123"), "the request id is in the request's log lines: {logs}");
    assert!(logs.contains(r#""path":"/api/v1/me""#), "{logs}");
    assert!(!logs.contains(&u.password), "no password in logs");
    assert!(!logs.contains(&token), "no token in logs");
    assert!(!logs.contains("test-secret-test-secret"), "no signing key in logs");
}
