//! Who is in a room, asked by every in-room feature (images, findings, invites, devices) the
//! same way: the caller's place in the room and audit actor ([`member`], [`clinical_member`]),
//! a clinician of the room ([`clinician`], and the [`RoomClinician`] extractor for
//! `/rooms/{id}/…` routes), a cheap 401 before any lookup ([`signed_in`]), and the patient
//! whose data the room holds ([`room_patient`]).

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use sqlx::Row;

use super::access::{self, Access};
use super::ws::{Entrant, entrant};
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{AppError, Result};
use crate::records::audit::Actor;
use crate::web::input::Path;

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
    if !who.access.role.is_clinical() && !state.hub.in_call(room_id, &who.user_id).await {
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
