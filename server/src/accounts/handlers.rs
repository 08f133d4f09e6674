//! `/api/v1/users`: account administration for admins.

use crate::web::input::{Path, Query};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use super::db::ListFilter;
use super::model::{NewUser, Role, User, UserPatch};
use super::service;
use crate::AppState;
use crate::auth::{Admins, ClientAddr, RequireRole};
use crate::error::{AppError, ErrorBody, Result};
use crate::records::audit::Actor;
use crate::web::ApiJson;

/// Filters for the user list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only this role: patient, doctor or admin.
    pub role: Option<String>,
    /// Case-insensitive part of a name or email.
    pub q: Option<String>,
    /// Include deactivated accounts (default false).
    pub include_inactive: Option<bool>,
    /// Page size, 1–500 (default 100).
    pub limit: Option<i64>,
    /// Rows to skip (default 0).
    pub offset: Option<i64>,
}

impl ListParams {
    pub fn into_filter(self) -> Result<ListFilter> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=500).contains(&limit) {
            return Err(AppError::invalid("limit", "limit must be between 1 and 500"));
        }
        let offset = self.offset.unwrap_or(0);
        if offset < 0 {
            return Err(AppError::invalid("offset", "offset must not be negative"));
        }
        let q = self.q.map(|q| q.trim().to_string()).filter(|q| !q.is_empty());
        if q.as_ref().is_some_and(|q| q.chars().count() > 100) {
            return Err(AppError::invalid("q", "search text must be at most 100 characters"));
        }
        Ok(ListFilter {
            role: self.role.as_deref().filter(|r| !r.is_empty()).map(Role::parse).transpose()?,
            query: q,
            include_inactive: self.include_inactive.unwrap_or(false),
            limit,
            offset,
        })
    }
}

/// List accounts.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(ListParams),
    responses((status = 200, body = [User]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_users(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ClientAddr(addr): ClientAddr,
    Query(params): Query<ListParams>,
) -> Result<Json<Vec<User>>> {
    let filter = params.into_filter()?;
    Ok(Json(service::list(&state.db, &Actor::user(&admin, &addr), &filter).await?))
}

/// Create an account.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = User), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "email already in use", body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_user(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ClientAddr(addr): ClientAddr,
    ApiJson(input): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<User>)> {
    let user = service::create(&state.db, &Actor::user(&admin, &addr), input).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Read one account.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = User), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_user(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Json<User>> {
    Ok(Json(service::get(&state.db, &Actor::user(&admin, &addr), &id).await?))
}

/// Change an account: name, role, time zone, specialty, language, password, or `active`
/// (false deactivates it and ends its sessions).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path, description = "user id")), request_body = UserPatch,
    responses((status = 200, body = User), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_user(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> Result<Json<User>> {
    Ok(Json(service::update(&state.db, &Actor::user(&admin, &addr), &id, patch).await?))
}
