//! `/api/v1/reviews/{id}/cases/{case_id}/outcome*`: parse, call the service, answer.

use axum::Json;
use axum::extract::State;

use super::model::{OutcomeInput, OutcomeView, SignOutcome};
use super::service;
use crate::AppState;
use crate::auth::{ClientAddr, CurrentUser};
use crate::error::{ErrorBody, Result};
use crate::web::ApiJson;
use crate::web::input::Path;

/// A case's outcome. The review's coordinator and experts and admins read all of it (an empty
/// draft, `version: 0`, while nothing is saved); the case's patient reads it once signed,
/// without the discussion (404 before). Every read is audited.
#[utoipa::path(get, path = "/api/v1/reviews/{id}/cases/{case_id}/outcome", tag = "records",
    params(("id" = String, Path), ("case_id" = String, Path)),
    responses((status = 200, body = OutcomeView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn read(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path((id, case_id)): Path<(String, String)>,
) -> Result<Json<OutcomeView>> {
    Ok(Json(service::read(&state.db, &user, &addr, &id, &case_id).await?))
}

/// Saves the draft outcome (the whole of it, with the version it was edited from; 0 first).
/// The coordinator and the review's experts write; `presenter_id` is one of them,
/// `responsible_id` any active doctor; at most 32 KiB of text.
#[utoipa::path(put, path = "/api/v1/reviews/{id}/cases/{case_id}/outcome", tag = "records",
    params(("id" = String, Path), ("case_id" = String, Path)), request_body = OutcomeInput,
    responses((status = 200, body = OutcomeView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "stale version (naming who saved), signed, or the review was cancelled"),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn save(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path((id, case_id)): Path<(String, String)>,
    ApiJson(input): ApiJson<OutcomeInput>,
) -> Result<Json<OutcomeView>> {
    let saved = service::save(&state.db, &user, &addr, &id, &case_id, input).await?;
    super::announce(&state, &saved).await?;
    Ok(Json(saved))
}

/// The coordinator signs the outcome at `version` (an expert who accepted, when the
/// coordinator is not a clinician); it is frozen from then on and the patient
/// can read it. A recommendation is needed.
#[utoipa::path(post, path = "/api/v1/reviews/{id}/cases/{case_id}/outcome/sign", tag = "records",
    params(("id" = String, Path), ("case_id" = String, Path)), request_body = SignOutcome,
    responses((status = 200, body = OutcomeView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "not the coordinator"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody, description = "no recommendation yet"),
        (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn sign(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path((id, case_id)): Path<(String, String)>,
    ApiJson(input): ApiJson<SignOutcome>,
) -> Result<Json<OutcomeView>> {
    let signed = service::sign(&state.db, &user, &addr, &id, &case_id, input).await?;
    super::announce(&state, &signed).await?;
    Ok(Json(signed))
}
