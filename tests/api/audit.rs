//! The audit log records reads and changes of patient data, never secrets, and only admins
//! may browse it.

use consilium::accounts::model::Role;
use consilium_tests::spawn_app;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn reading_and_changing_a_patient_account_writes_audit_rows() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let patient = app.create_user(Role::Patient).await;
    let path = format!("/api/v1/users/{}", patient.user.id);
    assert_eq!(app.get_json(&path, Some(&admin.token)).await.0, 200);
    app.send_json(
        Method::PATCH,
        &path,
        Some(&admin.token),
        &json!({"name": "Renamed Patient", "password": "new secret passphrase"}),
    )
    .await;
    let (s, rows) =
        app.get_json(&format!("/api/v1/audit?patient={}", patient.user.id), Some(&admin.token)).await;
    assert_eq!(s, 200);
    let actions: Vec<&str> = rows.as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["user.update", "user.read", "user.create"], "newest first");
    let update = &rows[0];
    assert_eq!(update["actor_id"], admin.user.id.as_str());
    assert_eq!(update["actor_role"], "admin");
    assert_eq!(update["actor_name"], "Test admin");
    assert_eq!(update["patient_name"], "Renamed Patient");
    assert_eq!(update["client_addr"], "127.0.0.1");
    assert_eq!(update["object_type"], "user");
    assert!(update["detail"].as_str().unwrap().contains("password"), "which fields changed is recorded");
    let everything = serde_json::to_string(&app.audit_actions().await).unwrap();
    assert!(!everything.contains("new secret passphrase"), "no password in the audit log");
    assert!(!everything.contains(&admin.token), "no token in the audit log");
    assert!(!everything.contains("$argon2"), "no hash in the audit log");
}

#[tokio::test]
async fn sign_ins_and_failed_sign_ins_are_recorded() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let d = app.create_user(Role::Doctor).await;
    app.send_json(
        Method::POST,
        "/api/v1/auth/token",
        None,
        &json!({"email": d.email, "password": "wrong password!"}),
    )
    .await;
    app.send_json(
        Method::POST,
        "/api/v1/auth/token",
        None,
        &json!({"email": d.email, "password": d.password}),
    )
    .await;
    let (_, rows) = app.get_json("/api/v1/audit?action=auth.", Some(&admin.token)).await;
    let actions: Vec<&str> = rows.as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["auth.login", "auth.login_failed"]);
    assert!(!serde_json::to_string(&rows).unwrap().contains("wrong password!"));
}

#[tokio::test]
async fn audit_filters_work_and_bad_filters_are_422() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let p = app.create_user(Role::Patient).await;
    app.get_json(&format!("/api/v1/users/{}", p.user.id), Some(&admin.token)).await;
    let (_, rows) = app.get_json(&format!("/api/v1/audit?actor={}", admin.user.id), Some(&admin.token)).await;
    assert!(rows.as_array().unwrap().iter().all(|r| r["actor_id"] == admin.user.id.as_str()));
    assert!(!rows.as_array().unwrap().is_empty());
    let (_, rows) = app.get_json("/api/v1/audit?action=user.read&limit=1", Some(&admin.token)).await;
    assert_eq!(rows.as_array().unwrap().len(), 1);
    let future = consilium::db::now_ms() + 3_600_000;
    let (_, rows) = app.get_json(&format!("/api/v1/audit?from={future}"), Some(&admin.token)).await;
    assert!(rows.as_array().unwrap().is_empty());
    assert_eq!(app.get_json("/api/v1/audit?limit=5000", Some(&admin.token)).await.0, 422);
    assert_eq!(app.get_json("/api/v1/audit?from=10&to=5", Some(&admin.token)).await.0, 422);
    assert_eq!(app.get_json("/api/v1/audit?from=yesterday", Some(&admin.token)).await.0, 400);
}

#[tokio::test]
async fn only_admins_read_the_audit_log() {
    let app = spawn_app().await;
    let d = app.create_user(Role::Doctor).await;
    let p = app.create_user(Role::Patient).await;
    assert_eq!(app.get_json("/api/v1/audit", Some(&d.token)).await.0, 403);
    assert_eq!(app.get_json("/api/v1/audit", Some(&p.token)).await.0, 403);
    assert_eq!(app.get_json("/api/v1/audit", None).await.0, 401);
}
