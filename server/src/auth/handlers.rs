//! Sign-in for API clients (`POST /api/v1/auth/token`), logout, and the caller's own profile.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ClientAddr, CurrentUser, password};
use crate::AppState;
use crate::accounts::db as users;
use crate::accounts::model::{Email, User, parse_locale, parse_name, parse_timezone};
use crate::error::{AppError, ErrorBody, Result};
use crate::records::audit::{self, Actor, Event};
use crate::web::ApiJson;

/// Credentials for a token.
#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    pub email: String,
    pub password: String,
}

/// A bearer token for the `Authorization` header.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// Checks credentials (throttled per account and per address) and returns the account.
/// Failure answers are identical for unknown emails, wrong passwords and inactive accounts.
pub async fn authenticate(state: &AppState, addr: &str, email: &str, pw: String) -> Result<User> {
    state.throttle.check(email.trim(), addr)?;
    let email = Email::parse(email).map_err(|_| AppError::Unauthorized)?;
    let found = users::find_for_login(&state.db, email.as_str()).await?;
    let (user, hash) = match found {
        Some((u, h)) => (Some(u), Some(h)),
        None => (None, None),
    };
    let ok = password::verify(pw, hash).await?;
    let actor = Actor {
        id: user.as_ref().map(|u| u.id.clone()),
        role: user.as_ref().map(|u| u.role),
        client_addr: Some(addr.into()),
        visitor: None,
    };
    match user {
        Some(u) if ok && u.active => {
            audit::record_read(&state.db, &actor, Event::new("auth.login").object("user", &u.id)).await?;
            Ok(u)
        }
        u => {
            let id = u.as_ref().map(|u| u.id.as_str());
            let mut e = Event::new("auth.login_failed");
            if let Some(id) = id {
                e = e.object("user", id);
            }
            audit::record_read(&state.db, &actor, e).await?;
            Err(AppError::Unauthorized)
        }
    }
}

/// Exchange email and password for an access token.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", request_body = TokenRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "wrong email or password", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "too many attempts; see Retry-After", body = ErrorBody)))]
pub async fn token(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<Json<TokenResponse>> {
    if req.email.trim().is_empty() {
        return Err(AppError::invalid("email", "email is required"));
    }
    if req.password.is_empty() {
        return Err(AppError::invalid("password", "password is required"));
    }
    let user = authenticate(&state, &addr, &req.email, req.password).await?;
    let (token, _) = state.keys.issue(&user)?;
    Ok(Json(TokenResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: state.keys.ttl.as_secs(),
    }))
}

/// Ends the session of the presented token (header or cookie).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn logout(State(state): State<AppState>, user: CurrentUser) -> Result<StatusCode> {
    revoke(&state, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Records the token id as revoked until its expiry.
pub async fn revoke(state: &AppState, user: &CurrentUser) -> Result<()> {
    let now = crate::db::now_ms();
    let mut tx = state.db.write().await?;
    sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1").bind(now).execute(&mut *tx).await?;
    sqlx::query("INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2)")
        .bind(&user.jti)
        .bind(user.exp * 1000)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = User), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn me(State(state): State<AppState>, user: CurrentUser) -> Result<Json<User>> {
    let mut conn = state.db.acquire().await?;
    users::find(&mut conn, &user.id).await?.map(Json).ok_or(AppError::NotFound("user"))
}

/// Fields a person may change on their own account.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct MePatch {
    pub name: Option<String>,
    pub timezone: Option<String>,
    /// `en`, `zh`, or `auto` to follow the browser.
    pub locale: Option<String>,
}

/// Change one's own name, time zone or language.
#[utoipa::path(patch, path = "/api/v1/me", tag = "auth", request_body = MePatch,
    responses((status = 200, body = User), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_me(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    ApiJson(patch): ApiJson<MePatch>,
) -> Result<Json<User>> {
    update_own_profile(&state, &user, &addr, patch).await.map(Json)
}

/// Shared by the API and the settings page.
pub async fn update_own_profile(
    state: &AppState,
    user: &CurrentUser,
    addr: &str,
    patch: MePatch,
) -> Result<User> {
    let changes = users::Changes {
        name: patch.name.as_deref().map(parse_name).transpose()?,
        timezone: patch.timezone.as_deref().map(parse_timezone).transpose()?,
        locale: match patch.locale.as_deref() {
            Some(l) => Some(parse_locale(Some(l))?.map(|l| l.code().to_string())),
            None => None,
        },
        ..Default::default()
    };
    let mut tx = state.db.write().await?;
    let updated = users::update(&mut tx, &user.id, &changes).await?.ok_or(AppError::NotFound("user"))?;
    let patient = (updated.role == crate::accounts::model::Role::Patient).then_some(updated.id.as_str());
    audit::record(
        &mut tx,
        &Actor::user(user, addr),
        Event::new("user.update").object("user", &updated.id).patient(patient).detail("own profile"),
    )
    .await?;
    tx.commit().await?;
    Ok(updated)
}

/// A password change by the account holder.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordChange { .. }")
    }
}

/// Checks the current password (throttled like a sign-in), sets the new one and ends every
/// session of the account, this one included; returns the account for a fresh token.
pub async fn change_password(
    state: &AppState,
    user: &CurrentUser,
    addr: &str,
    input: PasswordChange,
) -> Result<User> {
    password::validate(&input.new_password)?;
    if input.new_password == input.current_password {
        return Err(AppError::invalid("new_password", "the new password must differ from the current one"));
    }
    let checked = authenticate(state, addr, &user.email, input.current_password).await;
    if matches!(checked, Err(AppError::Unauthorized)) {
        return Err(AppError::invalid("current_password", "the current password is wrong"));
    }
    checked?;
    let hash = password::hash(input.new_password).await?;
    let changes = users::Changes { password_hash: Some(hash), ..Default::default() };
    let mut tx = state.db.write().await?;
    let updated = users::update(&mut tx, &user.id, &changes).await?.ok_or(AppError::NotFound("user"))?;
    let patient = (updated.role == crate::accounts::model::Role::Patient).then_some(updated.id.as_str());
    audit::record(
        &mut tx,
        &Actor::user(user, addr),
        Event::new("user.password").object("user", &updated.id).patient(patient),
    )
    .await?;
    tx.commit().await?;
    Ok(updated)
}

/// Change one's own password; every existing token of the account stops working, and a new
/// token is returned.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", request_body = PasswordChange,
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_password(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    ApiJson(input): ApiJson<PasswordChange>,
) -> Result<Json<TokenResponse>> {
    let updated = change_password(&state, &user, &addr, input).await?;
    let (token, _) = state.keys.issue(&updated)?;
    Ok(Json(TokenResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: state.keys.ttl.as_secs(),
    }))
}
