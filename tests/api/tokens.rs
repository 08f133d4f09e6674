//! Every way a bearer token can be wrong gets 401.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use consilium::accounts::model::Role;
use consilium::auth::token::Claims;
use consilium_tests::{TestApp, TestUser, spawn_app};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::json;

fn claims_for(u: &TestUser) -> Claims {
    let now = consilium::db::now_ms() / 1000;
    Claims {
        sub: u.user.id.clone(),
        role: u.user.role,
        ver: 0,
        jti: uuid::Uuid::now_v7().to_string(),
        iat: now,
        exp: now + 600,
        iss: "consilium".into(),
        aud: "consilium".into(),
    }
}

fn sign(app: &TestApp, claims: &Claims) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(app.state.keys.secret()),
    )
    .unwrap()
}

async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.get_json("/api/v1/me", Some(token)).await.0
}

#[tokio::test]
async fn a_correctly_signed_token_is_accepted() {
    let app = spawn_app().await;
    let u = app.create_user(Role::Patient).await;
    assert_eq!(me_status(&app, &sign(&app, &claims_for(&u))).await, 200);
}

#[tokio::test]
async fn expired_tokens_are_rejected() {
    let app = spawn_app().await;
    let u = app.create_user(Role::Patient).await;
    let mut c = claims_for(&u);
    c.iat -= 7200;
    c.exp = c.iat + 60;
    let r = app.request(Method::GET, "/api/v1/me", Some(&sign(&app, &c))).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn tampered_payloads_are_rejected() {
    let app = spawn_app().await;
    let u = app.create_user(Role::Patient).await;
    let token = sign(&app, &claims_for(&u));
    let parts: Vec<&str> = token.split('.').collect();
    let mut c = claims_for(&u);
    c.role = Role::Admin;
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(me_status(&app, &forged).await, 401);
}

#[tokio::test]
async fn alg_none_is_rejected() {
    let app = spawn_app().await;
    let u = app.create_user(Role::Admin).await;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims_for(&u)).unwrap());
    assert_eq!(me_status(&app, &format!("{header}.{payload}.")).await, 401);
    assert_eq!(me_status(&app, &format!("{header}.{payload}")).await, 401);
}

#[tokio::test]
async fn tokens_signed_with_another_key_or_algorithm_are_rejected() {
    let app = spawn_app().await;
    let u = app.create_user(Role::Patient).await;
    let other = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims_for(&u),
        &EncodingKey::from_secret(b"another-secret-another-secret-another"),
    )
    .unwrap();
    assert_eq!(me_status(&app, &other).await, 401);
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims_for(&u),
        &EncodingKey::from_secret(app.state.keys.secret()),
    )
    .unwrap();
    assert_eq!(me_status(&app, &hs512).await, 401, "the algorithm is fixed server-side");
}

#[tokio::test]
async fn wrong_issuer_audience_or_garbage_is_rejected() {
    let app = spawn_app().await;
    let u = app.create_user(Role::Patient).await;
    let mut c = claims_for(&u);
    c.aud = "someone-else".into();
    assert_eq!(me_status(&app, &sign(&app, &c)).await, 401);
    let mut c = claims_for(&u);
    c.iss = "someone-else".into();
    assert_eq!(me_status(&app, &sign(&app, &c)).await, 401);
    assert_eq!(me_status(&app, "not-a-token").await, 401);
    let r = app
        .http
        .get(app.url("/api/v1/me"))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(app.get_json("/api/v1/me", None).await.0, 401);
}

#[tokio::test]
async fn deactivating_a_user_ends_their_existing_tokens() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let u = app.create_user(Role::Doctor).await;
    assert_eq!(me_status(&app, &u.token).await, 200);
    let (s, body) = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/users/{}", u.user.id),
            Some(&admin.token),
            &json!({"active": false}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(me_status(&app, &u.token).await, 401);
    let (s, _) = app
        .send_json(
            Method::POST,
            "/api/v1/auth/token",
            None,
            &json!({"email": u.email, "password": u.password}),
        )
        .await;
    assert_eq!(s, 401, "a deactivated account cannot sign in");
    // Reactivation lets them sign in again, but the old token stays dead.
    app.send_json(
        Method::PATCH,
        &format!("/api/v1/users/{}", u.user.id),
        Some(&admin.token),
        &json!({"active": true}),
    )
    .await;
    assert_eq!(me_status(&app, &u.token).await, 401);
    let (s, _) = app
        .send_json(
            Method::POST,
            "/api/v1/auth/token",
            None,
            &json!({"email": u.email, "password": u.password}),
        )
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_password_reset_ends_existing_tokens() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let u = app.create_user(Role::Patient).await;
    let (s, _) = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/users/{}", u.user.id),
            Some(&admin.token),
            &json!({"password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(me_status(&app, &u.token).await, 401);
    let (s, _) = app
        .send_json(
            Method::POST,
            "/api/v1/auth/token",
            None,
            &json!({"email": u.email, "password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(s, 200);
}
