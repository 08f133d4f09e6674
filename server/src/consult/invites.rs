//! One-time invite links. A clinician in a room creates a link for a guest (interpreter,
//! family member) or for the appointment's patient; it is valid from 30 minutes before the
//! consultation until an hour after it (24 hours for rooms without a time). Opening it once
//! marks it used and gives that browser a guest session for that room alone: a cookie holding
//! the invite id and an HMAC of it under the server's secret. The room still admits guests
//! and patients only from the waiting room.

use crate::web::input::Path;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sqlx::Row;
use utoipa::ToSchema;

use super::access::RoomRole;
use super::admission::RoomClinician;
use crate::AppState;
use crate::auth::ClientAddr;
use crate::auth::token::token_hash;
use crate::db::{new_id, now_ms};
use crate::error::{AppError, ErrorBody, Result};
use crate::records::audit::{self, Actor, Event};
use crate::web::ApiJson;

/// Cookie of a guest session.
pub const GUEST_COOKIE: &str = "consilium_guest";
const EARLY_MS: i64 = 30 * 60_000;
const LATE_MS: i64 = 60 * 60_000;

/// Who the link is for.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvite {
    /// `guest` (interpreter, family member) or `patient` (the appointment's patient).
    pub kind: String,
    /// The name others in the call see; required for guests.
    pub name: Option<String>,
}

/// A created link, shown once.
#[derive(Serialize, ToSchema)]
pub struct InviteLink {
    pub url: String,
    /// RFC 3339; the link opens 30 minutes before the consultation.
    pub not_before: String,
    pub expires_at: String,
    /// The IANA time zone to tell the link's times in: the invited patient's for a patient
    /// link, the creator's for a guest's (whose zone is not known).
    pub timezone: String,
}

/// The patient of an appointment's room, whom a patient link invites.
pub struct RoomPatient {
    pub id: String,
    pub name: String,
    pub timezone: String,
}

/// When a room's links work, and the patient a patient link is for.
struct Window {
    not_before: i64,
    expires_at: i64,
    patient: Option<RoomPatient>,
}

fn mac(secret: &[u8], invite_id: &str) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(b"guest:");
    m.update(invite_id.as_bytes());
    m.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// The patient of an appointment's room, if it is one.
pub async fn room_patient(state: &AppState, room_id: &str) -> Result<Option<RoomPatient>> {
    Ok(appointment_of(state, room_id).await?.map(|(_, _, p)| p))
}

async fn appointment_of(state: &AppState, room_id: &str) -> Result<Option<(i64, i64, RoomPatient)>> {
    let row = sqlx::query(
        "SELECT a.starts_at, a.ends_at, a.patient_id, u.name, u.timezone FROM appointments a JOIN users u ON u.id = a.patient_id
         WHERE a.room_id = $1",
    )
    .bind(room_id)
    .fetch_optional(state.db.read())
    .await?;
    let Some(r) = row else { return Ok(None) };
    let patient = RoomPatient {
        id: r.try_get("patient_id")?,
        name: r.try_get("name")?,
        timezone: r.try_get("timezone")?,
    };
    Ok(Some((r.try_get("starts_at")?, r.try_get("ends_at")?, patient)))
}

/// The time window of a room: around its appointment or review, else the next 24 hours.
async fn window(state: &AppState, room_id: &str) -> Result<Window> {
    let now = now_ms();
    if let Some((starts, ends, patient)) = appointment_of(state, room_id).await? {
        return Ok(Window {
            not_before: starts - EARLY_MS,
            expires_at: ends + LATE_MS,
            patient: Some(patient),
        });
    }
    if let Some(r) =
        sqlx::query("SELECT starts_at, ends_at FROM reviews WHERE room_id = $1 AND starts_at IS NOT NULL")
            .bind(room_id)
            .fetch_optional(state.db.read())
            .await?
    {
        return Ok(Window {
            not_before: r.try_get::<i64, _>("starts_at")? - EARLY_MS,
            expires_at: r.try_get::<i64, _>("ends_at")? + LATE_MS,
            patient: None,
        });
    }
    Ok(Window { not_before: now, expires_at: now + 24 * 3_600_000, patient: None })
}

/// Create a one-time invite link into a room (clinicians in that room).
#[utoipa::path(post, path = "/api/v1/rooms/{id}/invites", tag = "consult", params(("id" = String, Path)), request_body = NewInvite,
    responses((status = 201, body = InviteLink), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    RoomClinician { user, room_id, access }: RoomClinician,
    ClientAddr(addr): ClientAddr,
    ApiJson(input): ApiJson<NewInvite>,
) -> Result<(StatusCode, Json<InviteLink>)> {
    let Window { not_before, expires_at, patient } = window(&state, &room_id).await?;
    if expires_at <= now_ms() {
        return Err(AppError::Conflict("this consultation is over".into()));
    }
    let name = match input.kind.as_str() {
        "guest" => match input.name.as_deref().map(str::trim) {
            Some(n) if !n.is_empty() && n.chars().count() <= 120 => n.to_string(),
            _ => return Err(AppError::invalid("name", "a guest needs a name of 1 to 120 characters")),
        },
        "patient" => match &patient {
            Some(p) => p.name.clone(),
            None => return Err(AppError::invalid("kind", "only an appointment's room has a patient")),
        },
        _ => return Err(AppError::invalid("kind", "kind is guest or patient")),
    };
    let token = crate::auth::token::random_token::<32>();
    let id = new_id();
    let mut tx = state.db.write().await?;
    sqlx::query(
        "INSERT INTO invites (id, room_id, kind, display_name, token_hash, created_by, not_before, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(&room_id)
    .bind(&input.kind)
    .bind(&name)
    .bind(token_hash(&token))
    .bind(&user.id)
    .bind(not_before)
    .bind(expires_at)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &Actor::user(&user, &addr),
        Event::new("room.invite")
            .object("room", &room_id)
            .patient(access.patient_id.as_deref())
            .detail(input.kind.clone()),
    )
    .await?;
    tx.commit().await?;
    let iso = |ms: i64| crate::scheduling::model::iso(ms);
    let timezone = match (input.kind.as_str(), patient) {
        ("patient", Some(p)) => p.timezone,
        _ => user.timezone.clone(),
    };
    let link = InviteLink {
        url: format!("{}/join/{token}", state.config.base_url()),
        not_before: iso(not_before),
        expires_at: iso(expires_at),
        timezone,
    };
    Ok((StatusCode::CREATED, Json(link)))
}

/// The page of a link opened too early: when it opens, in the invitee's zone (the patient's,
/// or for a guest the zone of the clinician who made it), and a reload by itself.
#[derive(askama::Template)]
#[template(path = "invite_early.html")]
struct EarlyPage {
    page: crate::web::PageCtx,
    opens: String,
    opens_iso: String,
    reload_secs: i64,
}

async fn too_early(
    state: &AppState,
    page: crate::web::PageCtx,
    room_id: &str,
    kind: &str,
    created_by: &str,
    not_before: i64,
) -> Result<Response> {
    let zone = match room_patient(state, room_id).await? {
        Some(p) if kind == "patient" => p.timezone,
        _ => sqlx::query_scalar::<_, String>("SELECT timezone FROM users WHERE id = $1")
            .bind(created_by)
            .fetch_optional(state.db.read())
            .await?
            .unwrap_or_else(|| "UTC".into()),
    };
    let at = jiff::Timestamp::from_millisecond(not_before).map_err(anyhow::Error::from)?;
    let opens = crate::web::time::moment(at, &crate::web::time::zone(&zone), &page.tr);
    // Reload when it opens, and at least every five minutes (a clock that drifts, a move).
    let reload_secs = ((not_before - now_ms()) / 1000 + 1).clamp(5, 300);
    let mut answer = crate::web::render(&EarlyPage { page, opens, opens_iso: at.to_string(), reload_secs });
    if answer.status().is_success() {
        *answer.status_mut() = StatusCode::CONFLICT;
    }
    Ok(answer)
}

/// `GET /join/{token}`: redeems a link once and enters the room's waiting room.
pub async fn redeem(
    State(state): State<AppState>,
    page: crate::web::PageCtx,
    ClientAddr(addr): ClientAddr,
    jar: CookieJar,
    Path(token): Path<String>,
) -> Result<Response> {
    let row = sqlx::query(
        "SELECT id, room_id, not_before, expires_at, used_at, kind, display_name, created_by FROM invites WHERE token_hash = $1",
    )
    .bind(token_hash(&token))
    .fetch_optional(state.db.read())
    .await?
    .ok_or(AppError::NotFound("invite"))?;
    let (id, room_id): (String, String) = (row.try_get("id")?, row.try_get("room_id")?);
    let now = now_ms();
    if row.try_get::<i64, _>("expires_at")? <= now {
        return Err(AppError::Gone("this invitation has expired; ask the clinic for a new one".into()));
    }
    let not_before: i64 = row.try_get("not_before")?;
    if not_before > now {
        let (kind, by): (String, String) = (row.try_get("kind")?, row.try_get("created_by")?);
        return too_early(&state, page, &room_id, &kind, &by, not_before).await;
    }
    let mut tx = state.db.write().await?;
    let claimed = sqlx::query("UPDATE invites SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
        .bind(&id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    if claimed.rows_affected() != 1 {
        return Err(AppError::Gone("this invitation was already used; ask the clinic for a new one".into()));
    }
    let kind: String = row.try_get("kind")?;
    let name: Option<String> = row.try_get("display_name")?;
    let role = if kind == "patient" { RoomRole::Patient } else { RoomRole::Guest };
    let actor =
        Actor::visitor(format!("guest:{id}"), name.as_deref().unwrap_or_default(), role.as_str(), &addr);
    audit::record(&mut tx, &actor, Event::new("room.invite_redeem").object("invite", &id).detail(kind))
        .await?;
    tx.commit().await?;
    let cookie = Cookie::build((GUEST_COOKIE, format!("{id}.{}", mac(state.keys.secret(), &id))))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(time::Duration::milliseconds(row.try_get::<i64, _>("expires_at")? - now))
        .build();
    Ok((jar.add(cookie), Redirect::to(&format!("/rooms/{room_id}"))).into_response())
}

/// A browser holding a redeemed invite.
#[derive(Clone, Debug)]
pub struct Guest {
    pub invite_id: String,
    pub room_id: String,
    pub role: RoomRole,
    pub name: String,
}

/// The guest session of a request, if its cookie is genuine and the invite still valid.
pub async fn guest(state: &AppState, headers: &HeaderMap) -> Result<Option<Guest>> {
    let jar = CookieJar::from_headers(headers);
    let Some((id, tag)) = jar
        .get(GUEST_COOKIE)
        .and_then(|c| c.value().split_once('.').map(|(a, b)| (a.to_string(), b.to_string())))
    else {
        return Ok(None);
    };
    let expected = mac(state.keys.secret(), &id);
    // Compare in constant time.
    if expected.len() != tag.len()
        || expected.bytes().zip(tag.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) != 0
    {
        return Ok(None);
    }
    let row = sqlx::query("SELECT room_id, kind, display_name FROM invites WHERE id = $1 AND used_at IS NOT NULL AND expires_at > $2")
        .bind(&id)
        .bind(now_ms())
        .fetch_optional(state.db.read())
        .await?;
    Ok(match row {
        Some(r) => Some(Guest {
            invite_id: id,
            room_id: r.try_get("room_id")?,
            role: if r.try_get::<String, _>("kind")? == "patient" {
                RoomRole::Patient
            } else {
                RoomRole::Guest
            },
            name: r.try_get("display_name")?,
        }),
        None => None,
    })
}
