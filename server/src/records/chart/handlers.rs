//! `/api/v1/patients/{id}/chart`, `/api/v1/patients/{id}/emergency-access` and the admin report
//! `/api/v1/emergency-access`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use super::model::{ChartQuery, ChartView, Demographics, EmergencyGrant, EmergencyInput, OwnRecord};
use super::service;
use crate::AppState;
use crate::auth::{Admins, ClientAddr, CurrentUser, RequireRole};
use crate::error::{ErrorBody, Result};
use crate::web::ApiJson;
use crate::web::input::{Path, Query};

/// A patient's chart: appointments, signed notes and addenda, signed case-review outcomes,
/// signed-off findings and shared images, newest first (at most 2000). For admins, doctors who
/// care for the patient, and doctors with emergency access; 404 for anyone else. Audited.
#[utoipa::path(get, path = "/api/v1/patients/{id}/chart", tag = "records", params(("id" = String, Path), ChartQuery),
    responses((status = 200, body = ChartView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn chart(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    Query(q): Query<ChartQuery>,
) -> Result<Json<ChartView>> {
    Ok(Json(service::open(&state.db, &user, &addr, &id, &q).await?))
}

/// Emergency access to the chart of a patient the doctor has no care relationship with: a
/// reason (10–500 characters), 12 hours, on the admin report. Doctors only.
#[utoipa::path(post, path = "/api/v1/patients/{id}/emergency-access", tag = "records", params(("id" = String, Path)), request_body = EmergencyInput,
    responses((status = 201, body = EmergencyGrant), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "not a doctor"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "the doctor cares for the patient already"),
        (status = 422, body = ErrorBody, description = "no reason, or too long"), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn emergency_access(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<EmergencyInput>,
) -> Result<(StatusCode, Json<EmergencyGrant>)> {
    Ok((StatusCode::CREATED, Json(service::emergency_access(&state.db, &user, &addr, &id, input).await?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// The last this many days (1–366, default 30).
    pub days: Option<i64>,
}

/// Emergency accesses granted lately, newest first (admins).
#[utoipa::path(get, path = "/api/v1/emergency-access", tag = "records", params(ReportQuery),
    responses((status = 200, body = [EmergencyGrant]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn report(
    State(state): State<AppState>,
    _admin: RequireRole<Admins>,
    Query(q): Query<ReportQuery>,
) -> Result<Json<Vec<EmergencyGrant>>> {
    Ok(Json(service::report(&state.db, q.days.unwrap_or(30)).await?))
}

/// The caller's own record, to read or keep (patients): their appointments, signed notes (the
/// assessment, plan and instructions, with addenda), signed case-review outcomes, signed-off
/// findings and shared images. Sent as a download (`Content-Disposition: attachment`).
#[utoipa::path(get, path = "/api/v1/me/record", tag = "records",
    responses((status = 200, body = OwnRecord), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "not a patient")),
    security(("bearer" = [])))]
pub async fn own_record(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
) -> Result<([(axum::http::HeaderName, &'static str); 1], Json<OwnRecord>)> {
    let record = service::own(&state.db, &user, &addr).await?;
    Ok((
        [(axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"consilium-record.json\"")],
        Json(record),
    ))
}

/// Replaces a patient's demographics (send every field; empty or missing ones become unknown).
/// Admins and the doctors who care for the patient; 404 for anyone else, 403 with emergency
/// access only.
#[utoipa::path(put, path = "/api/v1/patients/{id}/demographics", tag = "records", params(("id" = String, Path)), request_body = Demographics,
    responses((status = 200, body = Demographics), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn save_demographics(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<Demographics>,
) -> Result<Json<Demographics>> {
    Ok(Json(service::save_demographics(&state.db, &user, &addr, &id, input).await?))
}
