//! Request extractors: [`CurrentUser`] (Bearer token or session cookie, checked against the
//! database on every request), [`RequireRole`] and [`ClientAddr`].

use std::marker::PhantomData;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum_extra::extract::CookieJar;
use sqlx::Row;

use super::token::Claims;
use crate::AppState;
use crate::accounts::model::Lang;
use crate::accounts::model::Role;
use crate::error::AppError;

/// Name of the HttpOnly cookie that carries the browser's access token.
pub const SESSION_COOKIE: &str = "consilium_session";

/// The signed-in account behind a request.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub timezone: String,
    pub locale: Option<Lang>,
    /// Token id, for logout.
    pub jti: String,
    /// Token expiry, seconds since the epoch.
    pub exp: i64,
    /// True when the token came from the cookie rather than an `Authorization` header.
    pub via_cookie: bool,
}

/// Finds the token: the `Authorization: Bearer` header wins over the cookie.
fn token_from(parts: &Parts) -> Option<(String, bool)> {
    if parts.headers.contains_key(header::AUTHORIZATION) {
        return bearer(&parts.headers).map(|t| (t.to_string(), false));
    }
    CookieJar::from_headers(&parts.headers).get(SESSION_COOKIE).map(|c| (c.value().to_string(), true))
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl CurrentUser {
    /// Resolves the request's user, or `None` when there is no valid session.
    pub async fn resolve(parts: &mut Parts, state: &AppState) -> Result<Option<CurrentUser>, AppError> {
        if let Some(u) = parts.extensions.get::<Option<CurrentUser>>() {
            return Ok(u.clone());
        }
        let user = match token_from(parts) {
            Some((token, via_cookie)) => match state.keys.verify(&token) {
                Some(claims) => load(state, claims, via_cookie).await?,
                None => None,
            },
            None => None,
        };
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

/// A token is good only while its account is active, its version matches the account's
/// (bumped on deactivation and password change) and it was not revoked by logout.
async fn load(state: &AppState, c: Claims, via_cookie: bool) -> Result<Option<CurrentUser>, AppError> {
    let row = sqlx::query(
        "SELECT id, email, name, role, timezone, locale FROM users
         WHERE id = $1 AND active = 1 AND token_version = $2
           AND NOT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $3)",
    )
    .bind(&c.sub)
    .bind(c.ver)
    .bind(&c.jti)
    .fetch_optional(state.db.read())
    .await?;
    let Some(r) = row else { return Ok(None) };
    let role: String = r.try_get("role")?;
    let locale: Option<String> = r.try_get("locale")?;
    Ok(Some(CurrentUser {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        role: Role::parse(&role)?,
        timezone: r.try_get("timezone")?,
        locale: locale.as_deref().and_then(Lang::from_code),
        jti: c.jti,
        exp: c.exp,
        via_cookie,
    }))
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        CurrentUser::resolve(parts, state).await?.ok_or(AppError::Unauthorized)
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, AppError> {
        CurrentUser::resolve(parts, state).await
    }
}

/// A set of roles allowed through a [`RequireRole`] guard.
pub trait RoleSet: Send + Sync {
    const ROLES: &'static [Role];
}

/// Admins only.
#[derive(Debug)]
pub struct Admins;
impl RoleSet for Admins {
    const ROLES: &'static [Role] = &[Role::Admin];
}

/// Doctors and admins.
#[derive(Debug)]
pub struct Clinicians;
impl RoleSet for Clinicians {
    const ROLES: &'static [Role] = &[Role::Doctor, Role::Admin];
}

/// A signed-in user whose role is in `R`; 401 without a session, 403 with the wrong role.
#[derive(Debug)]
pub struct RequireRole<R: RoleSet>(pub CurrentUser, PhantomData<R>);

impl<R: RoleSet> std::ops::Deref for RequireRole<R> {
    type Target = CurrentUser;
    fn deref(&self) -> &CurrentUser {
        &self.0
    }
}

impl<R: RoleSet> FromRequestParts<AppState> for RequireRole<R> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if R::ROLES.contains(&user.role) {
            Ok(RequireRole(user, PhantomData))
        } else {
            Err(AppError::Forbidden)
        }
    }
}

/// The client's address: the socket peer, or the first `X-Forwarded-For` hop when
/// `CONSILIUM_TRUST_PROXY` is set.
#[derive(Clone, Debug)]
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        Ok(ClientAddr(client_addr(&parts.headers, parts.extensions.get(), state.config.trust_proxy)))
    }
}

pub fn client_addr(headers: &HeaderMap, peer: Option<&ConnectInfo<SocketAddr>>, trust_proxy: bool) -> String {
    if trust_proxy
        && let Some(first) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
    {
        return first.to_string();
    }
    peer.map(|ConnectInfo(a)| a.ip().to_string()).unwrap_or_else(|| "unknown".into())
}
