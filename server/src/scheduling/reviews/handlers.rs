//! `/api/v1/reviews*`: multi-expert case reviews.

use crate::web::input::{Path, Query};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::model::{NewCase, NewReview, Proposal, Review, RsvpRequest, ScheduleRequest};
use super::service;
use crate::AppState;
use crate::auth::{ClientAddr, CurrentUser};
use crate::error::{ErrorBody, Result};
use crate::web::ApiJson;

/// Plan a case review (doctors and admins).
#[utoipa::path(post, path = "/api/v1/reviews", tag = "reviews", request_body = NewReview,
    responses((status = 201, body = Review), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    ApiJson(input): ApiJson<NewReview>,
) -> Result<(StatusCode, Json<Review>)> {
    Ok((StatusCode::CREATED, Json(service::create(&state.db, &user, &addr, input).await?)))
}

/// Reviews the caller coordinates or is invited to (admins: all); cases are left out.
#[utoipa::path(get, path = "/api/v1/reviews", tag = "reviews",
    responses((status = 200, body = [Review]), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, user: CurrentUser) -> Result<Json<Vec<Review>>> {
    Ok(Json(service::list(&state.db, &user, 200).await?))
}

/// One review with experts, answers and the case agenda.
#[utoipa::path(get, path = "/api/v1/reviews/{id}", tag = "reviews", params(("id" = String, Path)),
    responses((status = 200, body = Review), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Json<Review>> {
    Ok(Json(service::get(&state.db, &user, &addr, &id).await?))
}

/// Add a patient case to the agenda (coordinator or admin).
#[utoipa::path(post, path = "/api/v1/reviews/{id}/cases", tag = "reviews", params(("id" = String, Path)), request_body = NewCase,
    responses((status = 201, body = Review), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_case(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<NewCase>,
) -> Result<(StatusCode, Json<Review>)> {
    Ok((StatusCode::CREATED, Json(service::add_case(&state.db, &user, &addr, &id, input).await?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProposalQuery {
    /// How many proposals, 1–50 (default 5).
    pub limit: Option<usize>,
}

/// Find a time: the earliest common free times of all experts, in each expert's zone.
#[utoipa::path(get, path = "/api/v1/reviews/{id}/proposals", tag = "reviews", params(("id" = String, Path), ProposalQuery),
    responses((status = 200, body = [Proposal]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn proposals(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<ProposalQuery>,
) -> Result<Json<Vec<Proposal>>> {
    Ok(Json(service::proposals(&state.db, &user, &id, q.limit.unwrap_or(5)).await?))
}

/// Fix the review at one of the proposed times (coordinator or admin).
#[utoipa::path(post, path = "/api/v1/reviews/{id}/schedule", tag = "reviews", params(("id" = String, Path)), request_body = ScheduleRequest,
    responses((status = 200, body = Review), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn schedule(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ScheduleRequest>,
) -> Result<Json<Review>> {
    Ok(Json(service::schedule(&state.db, &user, &addr, &id, &req.starts_at).await?))
}

/// Accept or decline (invited experts).
#[utoipa::path(post, path = "/api/v1/reviews/{id}/rsvp", tag = "reviews", params(("id" = String, Path)), request_body = RsvpRequest,
    responses((status = 200, body = Review), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn rsvp(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RsvpRequest>,
) -> Result<Json<Review>> {
    Ok(Json(service::rsvp(&state.db, &user, &addr, &id, &req.response, req.comment.as_deref()).await?))
}

/// Cancel the review (coordinator or admin).
#[utoipa::path(post, path = "/api/v1/reviews/{id}/cancel", tag = "reviews", params(("id" = String, Path)),
    responses((status = 200, body = Review), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Json<Review>> {
    Ok(Json(service::cancel(&state.db, &user, &addr, &id).await?))
}

/// The review as an iCalendar file (once scheduled).
#[utoipa::path(get, path = "/api/v1/reviews/{id}/ics", tag = "reviews", params(("id" = String, Path)),
    responses((status = 200, content_type = "text/calendar", description = "one VEVENT"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn ics(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Response> {
    let r = service::get(&state.db, &user, &addr, &id).await?;
    let event = crate::scheduling::ics::review_event(&r)
        .ok_or_else(|| crate::error::AppError::Conflict("the review has no time yet".into()))?;
    Ok(crate::scheduling::ics::download(&format!("review-{}.ics", r.id), &[event]))
}
