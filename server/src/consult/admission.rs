//! Who is in a room, asked by every in-room feature (images, findings, invites, devices) the
//! same way: the caller's place in the room and audit actor ([`member`], [`clinical_member`],
//! and the [`RoomMember`] extractor for `/rooms/{id}/…` routes), a clinician of the room
//! ([`clinician`], and the [`RoomClinician`] extractor), a cheap 401 before any lookup
//! ([`signed_in`]), and the patient whose data the room holds ([`room_patient`]).
//!
//! Routes that name a room in their path take an extractor; routes that name an image or a
//! finding look the room up first and then call [`member`] or [`clinical_member`].

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use sqlx::Row;

use super::access::{self, Access};
use crate::AppState;
use crate::auth::{ClientAddr, CurrentUser};
use crate::error::{AppError, Result};
use crate::ids::{RoomId, UserId};
use crate::records::audit::{self, Actor, Event};
use crate::web::input::Path;

/// Someone allowed into a room: an account holder, or a guest with a redeemed invite.
pub struct Entrant {
    pub access: access::Access,
    pub user_id: String,
    pub name: String,
}

/// Resolves who enters `room_id` and records it in the audit log.
pub async fn enter(
    state: &AppState,
    user: Option<CurrentUser>,
    headers: &HeaderMap,
    room_id: &str,
    addr: &str,
) -> Result<Entrant> {
    let (entrant, actor) = entrant(state, user, headers, room_id, addr).await?;
    let event = Event::new("room.join")
        .object("room", room_id)
        .patient(entrant.access.patient_id.as_deref())
        .detail(format!("{} {}", entrant.access.role.as_str(), entrant.user_id));
    audit::record_read(&state.db, &actor, event).await?;
    Ok(entrant)
}

/// Who the request is in `room_id` (an account holder or a guest with a redeemed invite),
/// recording nothing; 401 without either, 404 when they may not enter.
pub async fn entrant(
    state: &AppState,
    user: Option<CurrentUser>,
    headers: &HeaderMap,
    room_id: &str,
    addr: &str,
) -> Result<(Entrant, Actor)> {
    Ok(match user {
        Some(user) => {
            let access = access::resolve(&state.db, &user, room_id).await?;
            let actor = Actor::user(&user, addr);
            (Entrant { access, user_id: user.id, name: user.name }, actor)
        }
        None => {
            let guest = super::invites::guest(state, headers).await?.ok_or(AppError::Unauthorized)?;
            if guest.room_id != room_id {
                return Err(AppError::NotFound("room"));
            }
            let access = access::Access { room_id: room_id.to_string(), role: guest.role, patient_id: None };
            let user_id = format!("guest:{}", guest.invite_id);
            let actor = Actor::visitor(user_id.clone(), &guest.name, guest.role.as_str(), addr);
            (Entrant { access, user_id, name: guest.name }, actor)
        }
    })
}

/// `user`'s place in `room_id` if it is a clinical one (host or expert): 403 for a patient or
/// guest of the room, 404 for someone with no place in it.
pub async fn clinician(state: &AppState, user: &CurrentUser, room_id: &str) -> Result<Access> {
    let access = access::resolve(&state.db, user, room_id).await?;
    if !access.role.is_clinical() {
        return Err(AppError::Forbidden);
    }
    Ok(access)
}

/// A clinician of the room the path names (`/rooms/{id}/…`), for routes only they may use.
#[derive(Debug)]
pub struct RoomClinician {
    pub user: CurrentUser,
    pub room_id: String,
    pub access: Access,
}

impl FromRequestParts<AppState> for RoomClinician {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        let Path(room_id) = Path::<String>::from_request_parts(parts, state).await?;
        let access = clinician(state, &user, &room_id).await?;
        Ok(RoomClinician { user, room_id, access })
    }
}

/// Anyone acting in the room the path names (`/rooms/{id}/…`): see [`member`].
pub struct RoomMember {
    pub who: Entrant,
    pub actor: Actor,
    pub room_id: String,
}

impl FromRequestParts<AppState> for RoomMember {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        use axum::extract::OptionalFromRequestParts;
        let user =
            <CurrentUser as OptionalFromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        let ClientAddr(addr) = ClientAddr::from_request_parts(parts, state).await?;
        let Path(room_id) = Path::<String>::from_request_parts(parts, state).await?;
        let (who, actor) = member(state, user, &parts.headers, &room_id, &addr).await?;
        Ok(RoomMember { who, actor, room_id })
    }
}

/// [`member`], and a clinical one (host or expert): 403 otherwise.
pub async fn clinical_member(
    state: &AppState,
    user: CurrentUser,
    headers: &HeaderMap,
    room_id: &str,
    addr: &str,
) -> Result<(Entrant, Actor)> {
    let (who, actor) = member(state, Some(user), headers, room_id, addr).await?;
    if !who.access.role.is_clinical() {
        return Err(AppError::Forbidden);
    }
    Ok((who, actor))
}

/// The person acting in `room_id`: anyone who may enter, but patients and guests only while
/// they are in the call (not from the waiting room).
pub async fn member(
    state: &AppState,
    user: Option<CurrentUser>,
    headers: &HeaderMap,
    room_id: &str,
    addr: &str,
) -> Result<(Entrant, Actor)> {
    let (who, actor) = entrant(state, user, headers, room_id, addr).await?;
    if !who.access.role.is_clinical()
        && !state.hub.in_call(&RoomId::new(room_id), &UserId::new(who.user_id.as_str())).await
    {
        return Err(AppError::Forbidden);
    }
    Ok((who, actor))
}

/// 401 unless the request carries a session or a guest invite: checked before any lookup, so
/// that callers without one learn nothing about which ids exist.
pub async fn signed_in(state: &AppState, user: &Option<CurrentUser>, headers: &HeaderMap) -> Result<()> {
    if user.is_none() && super::invites::guest(state, headers).await?.is_none() {
        return Err(AppError::Unauthorized);
    }
    Ok(())
}

/// The patient whose data a room holds: the appointment's patient, or a review case's.
pub async fn room_patient(state: &AppState, room_id: &str, case_id: Option<&str>) -> Result<Option<String>> {
    let row = match case_id {
        Some(case) => {
            sqlx::query("SELECT patient_id FROM review_cases WHERE id = $1")
                .bind(case)
                .fetch_optional(state.db.read())
                .await?
        }
        None => {
            sqlx::query("SELECT patient_id FROM appointments WHERE room_id = $1")
                .bind(room_id)
                .fetch_optional(state.db.read())
                .await?
        }
    };
    Ok(row.map(|r| r.try_get("patient_id")).transpose()?)
}
