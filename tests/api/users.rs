//! Account administration through `/api/v1/users`.

use consilium::accounts::model::Role;
use consilium_tests::{TestApp, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

fn new_user(email: &str) -> Value {
    json!({"email": email, "name": "Dr. Test", "role": "doctor", "password": "long enough password",
           "timezone": "Asia/Shanghai", "specialty": "Cardiology"})
}

async fn user_count(app: &TestApp) -> i64 {
    consilium::accounts::db::count(&app.state.db).await.unwrap()
}

#[tokio::test]
async fn an_admin_creates_a_doctor_who_can_then_sign_in() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let (s, body) = app
        .send_json(Method::POST, "/api/v1/users", Some(&admin.token), &new_user("New.Doc@Test.example"))
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["email"], "new.doc@test.example");
    assert_eq!(body["role"], "doctor");
    assert_eq!(body["timezone"], "Asia/Shanghai");
    assert_eq!(body["specialty"], "Cardiology");
    assert_eq!(body["active"], true);
    let (s, _) = app
        .send_json(
            Method::POST,
            "/api/v1/auth/token",
            None,
            &json!({"email": "new.doc@test.example", "password": "long enough password"}),
        )
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_duplicate_email_is_a_409_and_writes_nothing() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    assert_eq!(
        app.send_json(Method::POST, "/api/v1/users", Some(&admin.token), &new_user("dup@test.example"))
            .await
            .0,
        201
    );
    let before = user_count(&app).await;
    let (s, body) =
        app.send_json(Method::POST, "/api/v1/users", Some(&admin.token), &new_user("DUP@test.example")).await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["error"]["message"], "a user with this email already exists");
    assert_eq!(user_count(&app).await, before);
}

#[tokio::test]
async fn concurrent_creations_of_one_email_give_exactly_one_account() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let body = new_user("race@test.example");
    let attempts = (0..8).map(|_| app.send_json(Method::POST, "/api/v1/users", Some(&admin.token), &body));
    let mut statuses: Vec<u16> =
        futures_util::future::join_all(attempts).await.into_iter().map(|(s, _)| s).collect();
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);
}

#[tokio::test]
async fn invalid_fields_get_422_naming_the_field_and_write_nothing() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let before = user_count(&app).await;
    let cases = [
        ("role", json!({"role": "nurse"})),
        ("email", json!({"email": "not-an-email"})),
        ("email", json!({"email": "a@b"})),
        ("password", json!({"password": "short"})),
        ("timezone", json!({"timezone": "Mars/Olympus_Mons"})),
        ("name", json!({"name": "   "})),
        ("specialty", json!({"specialty": "x".repeat(200)})),
        ("locale", json!({"locale": "fr"})),
    ];
    for (field, change) in cases {
        let mut body = new_user("valid@test.example");
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, resp) = app.send_json(Method::POST, "/api/v1/users", Some(&admin.token), &body).await;
        assert_eq!(s, 422, "{field}: {resp}");
        assert_eq!(resp["error"]["field"], field, "{resp}");
        assert!(!resp["error"]["message"].as_str().unwrap().is_empty());
    }
    let (s, resp) =
        app.send_json(Method::POST, "/api/v1/users", Some(&admin.token), &json!({"email": "x@y.org"})).await;
    assert_eq!(s, 422, "missing fields: {resp}");
    assert_eq!(user_count(&app).await, before);
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let mut body = new_user("big@test.example");
    body["name"] = json!("x".repeat(200 * 1024));
    let (s, resp) = app.send_json(Method::POST, "/api/v1/users", Some(&admin.token), &body).await;
    assert_eq!(s, 413, "{resp}");
    assert_eq!(resp["error"]["code"], "too_large");
}

#[tokio::test]
async fn non_admins_cannot_manage_users() {
    let app = spawn_app().await;
    let before_patient = app.create_user(Role::Patient).await;
    let doctor = app.create_user(Role::Doctor).await;
    for t in [&before_patient.token, &doctor.token] {
        assert_eq!(
            app.send_json(Method::POST, "/api/v1/users", Some(t), &new_user("x@test.example")).await.0,
            403
        );
        assert_eq!(app.get_json("/api/v1/users", Some(t)).await.0, 403);
        let path = format!("/api/v1/users/{}", before_patient.user.id);
        assert_eq!(app.send_json(Method::PATCH, &path, Some(t), &json!({"role": "admin"})).await.0, 403);
    }
    assert_eq!(app.send_json(Method::POST, "/api/v1/users", None, &new_user("x@test.example")).await.0, 401);
    let (_, me) = app.get_json("/api/v1/me", Some(&before_patient.token)).await;
    assert_eq!(me["role"], "patient");
}

#[tokio::test]
async fn list_filters_by_role_and_text_and_hides_inactive_by_default() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let d1 = app.create_user_named(Role::Doctor, "alice.derm@test.example").await;
    app.create_user_named(Role::Doctor, "bob.onc@test.example").await;
    app.create_user_named(Role::Patient, "carol@test.example").await;
    let (s, doctors) = app.get_json("/api/v1/users?role=doctor", Some(&admin.token)).await;
    assert_eq!(s, 200);
    assert_eq!(doctors.as_array().unwrap().len(), 2);
    let (_, found) = app.get_json("/api/v1/users?q=ALICE", Some(&admin.token)).await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["email"], "alice.derm@test.example");
    app.send_json(
        Method::PATCH,
        &format!("/api/v1/users/{}", d1.user.id),
        Some(&admin.token),
        &json!({"active": false}),
    )
    .await;
    let (_, doctors) = app.get_json("/api/v1/users?role=doctor", Some(&admin.token)).await;
    assert_eq!(doctors.as_array().unwrap().len(), 1);
    let (_, all) = app.get_json("/api/v1/users?role=doctor&include_inactive=true", Some(&admin.token)).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert_eq!(app.get_json("/api/v1/users?role=nurse", Some(&admin.token)).await.0, 422);
    assert_eq!(app.get_json("/api/v1/users?limit=0", Some(&admin.token)).await.0, 422);
    assert_eq!(app.get_json("/api/v1/users?limit=abc", Some(&admin.token)).await.0, 400);
}

#[tokio::test]
async fn edits_apply_and_unknown_users_are_404() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let d = app.create_user(Role::Doctor).await;
    let path = format!("/api/v1/users/{}", d.user.id);
    let (s, body) = app
        .send_json(
            Method::PATCH,
            &path,
            Some(&admin.token),
            &json!({"name": "Dr. Renamed", "specialty": "", "timezone": "America/New_York"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["name"], "Dr. Renamed");
    assert_eq!(body["specialty"], Value::Null);
    assert_eq!(body["timezone"], "America/New_York");
    let (s, body) = app.get_json(&path, Some(&admin.token)).await;
    assert_eq!((s, body["name"].as_str()), (200, Some("Dr. Renamed")));
    assert_eq!(app.get_json("/api/v1/users/does-not-exist", Some(&admin.token)).await.0, 404);
    let (s, _) = app
        .send_json(Method::PATCH, "/api/v1/users/does-not-exist", Some(&admin.token), &json!({"name": "x"}))
        .await;
    assert_eq!(s, 404);
    let (s, _) = app.send_json(Method::PATCH, &path, Some(&admin.token), &json!({"password": "short"})).await;
    assert_eq!(s, 422);
    let (s, _) = app.send_json(Method::PATCH, &path, Some(&admin.token), &json!({"colour": "blue"})).await;
    assert_eq!(s, 422, "unknown fields are refused");
}

#[tokio::test]
async fn an_admin_cannot_lock_themselves_out() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let path = format!("/api/v1/users/{}", admin.user.id);
    let (s, body) = app.send_json(Method::PATCH, &path, Some(&admin.token), &json!({"active": false})).await;
    assert_eq!(s, 409, "{body}");
    let (s, _) = app.send_json(Method::PATCH, &path, Some(&admin.token), &json!({"role": "doctor"})).await;
    assert_eq!(s, 409);
    assert_eq!(app.get_json("/api/v1/me", Some(&admin.token)).await.0, 200);
}
