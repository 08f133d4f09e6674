//! `/api/v1/appointments/{id}/note*`: parse, call the service, answer.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::model::{AddendumInput, AddendumView, NoteInput, NoteView, SignInput};
use super::service;
use crate::AppState;
use crate::auth::{ClientAddr, CurrentUser};
use crate::error::{ErrorBody, Result};
use crate::web::ApiJson;
use crate::web::input::Path;

/// The appointment's consultation note. Its doctor and admins read all of it (an empty draft,
/// `status: empty`, `version: 0`, while nothing is saved); the patient reads it only once
/// signed, without the subjective and objective sections (404 before). Every read is audited.
#[utoipa::path(get, path = "/api/v1/appointments/{id}/note", tag = "records", params(("id" = String, Path)),
    responses((status = 200, body = NoteView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody, description = "no such appointment, not yours, or (patients) not signed yet")),
    security(("bearer" = [])))]
pub async fn read(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Json<NoteView>> {
    Ok(Json(service::read(&state.db, &user, &addr, &id).await?))
}

/// Saves the draft (the whole note each time). Only the appointment's doctor writes. `version`
/// is the version the draft was edited from (0 for the first save); the answer carries the new
/// one. At most 48 KiB of text in all; at most 30 diagnoses, each 1–500 characters, a code
/// needs its `system` (`icd10` or `snomed`) and is checked for shape.
#[utoipa::path(put, path = "/api/v1/appointments/{id}/note", tag = "records", params(("id" = String, Path)), request_body = NoteInput,
    responses((status = 200, body = NoteView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "not the appointment's doctor"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "a newer version was saved (the message names who saved it), the note is signed, or the appointment was cancelled"),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn save(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<NoteInput>,
) -> Result<Json<NoteView>> {
    Ok(Json(service::save(&state.db, &user, &addr, &id, input).await?))
}

/// Signs the note as it stands at `version`: from then on it is never changed (the database
/// refuses it too), only added to. `content_sha256` is the SHA-256 of the canonical JSON of
/// the note's id, appointment, patient, sections and diagnoses, signer and time.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/note/sign", tag = "records", params(("id" = String, Path)), request_body = SignInput,
    responses((status = 200, body = NoteView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "signed already, a newer version exists, or the appointment was cancelled"),
        (status = 422, body = ErrorBody, description = "the note is empty"), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn sign(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<SignInput>,
) -> Result<Json<NoteView>> {
    Ok(Json(service::sign(&state.db, &user, &addr, &id, input).await?))
}

/// Adds an addendum to a signed note, signed by its author as it is written (1 character to
/// 16 KiB). Addenda are numbered in order and never changed.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/note/addenda", tag = "records", params(("id" = String, Path)), request_body = AddendumInput,
    responses((status = 201, body = AddendumView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the appointment was cancelled"), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "the note is not signed yet, or the text is empty"), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_addendum(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<AddendumInput>,
) -> Result<(StatusCode, Json<AddendumView>)> {
    Ok((StatusCode::CREATED, Json(service::add_addendum(&state.db, &user, &addr, &id, input).await?)))
}
