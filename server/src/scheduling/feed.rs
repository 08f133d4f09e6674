//! Calendar subscription feeds: a secret, revocable URL per person that calendar programs poll
//! for all of that person's appointments and case reviews. Only the token's SHA-256 is stored;
//! creating a new URL revokes the old one.

use crate::web::input::Path;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use super::db::AppointmentFilter;
use super::ics;
use crate::AppState;
use crate::accounts::model::Lang;
use crate::accounts::model::Role;
use crate::auth::token::token_hash;
use crate::auth::{ClientAddr, CurrentUser};
use crate::db::now_ms;
use crate::error::{AppError, ErrorBody, Result};
use crate::records::audit::{self, Actor, Event};

/// The subscription address, shown once.
#[derive(Serialize, ToSchema)]
pub struct FeedUrl {
    /// Paste into a calendar program's "subscribe by URL". Keep it secret.
    pub url: String,
}

/// Creates (or replaces) the caller's feed URL.
pub async fn create(state: &AppState, user: &CurrentUser, addr: &str) -> Result<String> {
    let token = crate::auth::token::random_token::<32>();
    let mut tx = state.db.write().await?;
    // One statement, so two requests at once never meet each other's row (no 409): the later
    // one's URL replaces the earlier one's, as a second request made later would.
    sqlx::query(
        "INSERT INTO calendar_feeds (user_id, token_hash, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at",
    )
    .bind(&user.id)
        .bind(token_hash(&token))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        &Actor::user(user, addr),
        Event::new("calendar.feed_create").object("user", &user.id),
    )
    .await?;
    tx.commit().await?;
    Ok(format!("{}/calendar/{token}.ics", state.config.base_url()))
}

/// Create a calendar subscription URL (replaces any earlier one).
#[utoipa::path(post, path = "/api/v1/me/calendar-feed", tag = "scheduling",
    responses((status = 201, body = FeedUrl), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_feed(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
) -> Result<(StatusCode, Json<FeedUrl>)> {
    Ok((StatusCode::CREATED, Json(FeedUrl { url: create(&state, &user, &addr).await? })))
}

/// Revokes the caller's feed URL.
pub async fn revoke(state: &AppState, user: &CurrentUser) -> Result<bool> {
    let r =
        state.db.execute(sqlx::query("DELETE FROM calendar_feeds WHERE user_id = $1").bind(&user.id)).await?;
    Ok(r.rows_affected() > 0)
}

/// Revoke the calendar subscription URL.
#[utoipa::path(delete, path = "/api/v1/me/calendar-feed", tag = "scheduling",
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn revoke_feed(State(state): State<AppState>, user: CurrentUser) -> Result<StatusCode> {
    if revoke(&state, &user).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound("calendar feed"))
    }
}

/// `GET /calendar/{token}.ics`: the feed; the token is the only credential.
pub async fn serve(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Path(file): Path<String>,
) -> Result<Response> {
    let token = file.strip_suffix(".ics").ok_or(AppError::NotFound("calendar"))?;
    let row = sqlx::query(
        "SELECT u.id, u.role, u.locale FROM calendar_feeds f JOIN users u ON u.id = f.user_id
         WHERE f.token_hash = $1 AND u.active = 1",
    )
    .bind(token_hash(token))
    .fetch_optional(state.db.read())
    .await?
    .ok_or(AppError::NotFound("calendar"))?;
    let user_id: String = row.try_get("id")?;
    let role = Role::parse(&row.try_get::<String, _>("role")?)?;
    let lang = row.try_get::<Option<String>, _>("locale")?.as_deref().and_then(Lang::from_code);
    let now = now_ms();
    let mut filter = AppointmentFilter {
        from: Some(now - 30 * 86_400_000),
        to: Some(now + 365 * 86_400_000),
        limit: 500,
        ..Default::default()
    };
    match role {
        Role::Patient => filter.patient_id = Some(user_id.clone()),
        Role::Doctor | Role::Admin => filter.doctor_id = Some(user_id.clone()),
    }
    let mut events: Vec<_> = super::db::appointments(&state.db, &filter)
        .await?
        .iter()
        .map(|a| ics::appointment_event(a, role, lang))
        .collect();
    let ids = super::reviews::db::ids_for(&state.db, Some(&user_id), 200).await?;
    let mut conn = state.db.acquire().await?;
    let mut reviews = Vec::with_capacity(ids.len());
    for id in ids {
        reviews.extend(super::reviews::db::load(&mut conn, &id).await?);
    }
    drop(conn);
    events.extend(reviews.iter().filter_map(ics::review_event));
    let actor = Actor { id: Some(user_id.clone()), role: Some(role), client_addr: Some(addr), visitor: None };
    audit::record_read(
        &state.db,
        &actor,
        Event::new("calendar.feed_read").detail(format!("events={}", events.len())),
    )
    .await?;
    Ok(([(header::CONTENT_TYPE, "text/calendar; charset=utf-8")], ics::calendar(&events)).into_response())
}
