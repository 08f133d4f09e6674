//! `/api/v1/models` and findings: list the models; analyse a shared image; read findings (a
//! patient or guest sees only signed-off ones); a clinician's accept / amend / reject.

use crate::web::input::Path;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::findings::{self, AnalyseRequest, FindingView};
use super::manifest::Manifest;
use super::service::{self, DecisionRequest};
use crate::AppState;
use crate::auth::{ClientAddr, CurrentUser};
use crate::consult::admission::{RoomMember, clinical_member, member, room_patient};
use crate::error::{AppError, ErrorBody, Result};
use crate::records::audit::{self, Event};
use crate::web::ApiJson;

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(models))
        .routes(routes!(analyse))
        .routes(routes!(room_findings))
        .routes(routes!(get_finding))
        .routes(routes!(heatmap))
        .routes(routes!(decide))
}

/// A model as listed: its manifest and whether it is loaded.
#[derive(Serialize, ToSchema)]
pub struct ModelView {
    #[serde(flatten)]
    pub manifest: Manifest,
    pub loaded: bool,
    /// sha256 of model.onnx, once loaded.
    pub sha256: Option<String>,
    /// The engine that runs it (`tract` or `ort`).
    pub engine: &'static str,
}

/// The diagnosis models this server has, with their model cards' facts.
#[utoipa::path(get, path = "/api/v1/models", tag = "diagnosis",
    responses((status = 200, body = Vec<ModelView>), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn models(State(state): State<AppState>, _user: CurrentUser) -> Json<Vec<ModelView>> {
    let registry = &state.diagnosis.registry;
    Json(
        registry
            .models()
            .map(|m| ModelView {
                manifest: m.manifest.clone(),
                loaded: registry.is_loaded(m),
                sha256: registry.model_sha256(m),
                engine: registry.engine(),
            })
            .collect(),
    )
}

/// Run a model on a shared image (clinicians in the room). Returns at once with the running
/// finding; progress and the result reach the room's clinicians over signalling.
#[utoipa::path(post, path = "/api/v1/images/{id}/findings", tag = "diagnosis", params(("id" = String, Path)), request_body = AnalyseRequest,
    responses((status = 202, body = FindingView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn analyse(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Path(image_id): Path<String>,
    ApiJson(input): ApiJson<AnalyseRequest>,
) -> Result<(StatusCode, Json<FindingView>)> {
    let image = crate::imaging::db::find(&state.db, &image_id).await?.view;
    let (who, actor) = clinical_member(&state, user, &headers, &image.room_id, &addr).await?;
    let patient = room_patient(&state, &image.room_id, image.case_id.as_deref()).await?;
    let finding = findings::start(&state, &actor, &who.user_id, &image, input, patient.as_deref()).await?;
    Ok((StatusCode::ACCEPTED, Json(finding)))
}

/// A room's findings, oldest first: all of them for clinicians, signed-off ones for others.
#[utoipa::path(get, path = "/api/v1/rooms/{id}/findings", tag = "diagnosis", params(("id" = String, Path)),
    responses((status = 200, body = Vec<FindingView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn room_findings(
    State(state): State<AppState>,
    RoomMember { who, actor, room_id }: RoomMember,
) -> Result<Json<Vec<FindingView>>> {
    Ok(Json(service::in_room(&state, &who, &actor, &room_id).await?))
}

/// One finding, with the same visibility rule as the room's list. Unsigned findings are 404
/// for patients and guests: they do not learn that one exists; signed-off ones reach them in
/// their form ([`FindingView::for_patients`]), and a rejected one's heatmap not at all.
async fn visible(
    state: &AppState,
    user: Option<CurrentUser>,
    headers: &HeaderMap,
    addr: &str,
    id: &str,
) -> Result<(FindingView, Option<String>, crate::records::audit::Actor, bool)> {
    crate::consult::admission::signed_in(state, &user, headers).await?;
    let (finding, heatmap) = findings::find(state, id).await?;
    let (who, actor) = member(state, user, headers, &finding.room_id, addr).await?;
    let clinical = who.access.role.is_clinical();
    if clinical {
        return Ok((finding, heatmap, actor, clinical));
    }
    if !finding.signed_off() {
        return Err(AppError::NotFound("finding"));
    }
    let heatmap = heatmap.filter(|_| finding.shows_heatmap_to_patients());
    Ok((finding.for_patients(), heatmap, actor, clinical))
}

#[utoipa::path(get, path = "/api/v1/findings/{id}", tag = "diagnosis", params(("id" = String, Path)),
    responses((status = 200, body = FindingView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_finding(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<FindingView>> {
    let (finding, _, actor, _) = visible(&state, user, &headers, &addr, &id).await?;
    let patient = service::patient_of(&state, &finding).await?;
    audit::record_read(
        &state.db,
        &actor,
        Event::new("finding.read").object("finding", &id).patient(patient.as_deref()),
    )
    .await?;
    Ok(Json(finding))
}

/// The explanation overlay of a finding (a transparent PNG to draw over the image).
#[utoipa::path(get, path = "/api/v1/findings/{id}/heatmap", tag = "diagnosis", params(("id" = String, Path)),
    responses((status = 200, description = "PNG", content_type = "image/png"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn heatmap(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let (finding, heatmap, actor, _) = visible(&state, user, &headers, &addr, &id).await?;
    let sha = heatmap.ok_or(AppError::NotFound("heatmap"))?;
    let blobs = state.blobs.clone();
    let png = tokio::task::spawn_blocking(move || blobs.get(&sha))
        .await
        .map_err(anyhow::Error::from)?
        .map_err(anyhow::Error::from)?;
    let patient = service::patient_of(&state, &finding).await?;
    audit::record_read(
        &state.db,
        &actor,
        Event::new("finding.heatmap").object("finding", &id).patient(patient.as_deref()),
    )
    .await?;
    Ok(([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "private, max-age=3600")], png)
        .into_response())
}

/// Accept, amend or reject a ready finding (clinicians in the room). Then it enters the record
/// and everyone in the room sees it.
#[utoipa::path(post, path = "/api/v1/findings/{id}/decision", tag = "diagnosis", params(("id" = String, Path)), request_body = DecisionRequest,
    responses((status = 200, body = FindingView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn decide(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<DecisionRequest>,
) -> Result<Json<FindingView>> {
    let (finding, _) = findings::find(&state, &id).await?;
    let (who, actor) = clinical_member(&state, user, &headers, &finding.room_id, &addr).await?;
    let (decision, note) = service::parse(&input)?;
    Ok(Json(service::decide(&state, &who, &actor, &finding, decision, note.as_deref()).await?))
}
