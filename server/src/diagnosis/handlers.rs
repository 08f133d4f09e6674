//! `/api/v1/models` and findings: list the models; analyse a shared image; read findings (a
//! patient or guest sees only signed-off ones); a clinician's accept / amend / reject.

use crate::web::input::Path;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::findings::{self, AnalyseRequest, COLUMNS, FindingView};
use super::manifest::Manifest;
use crate::AppState;
use crate::auth::{ClientAddr, CurrentUser};
use crate::consult::admission::{member, room_patient};
use crate::consult::protocol::ServerMsg;
use crate::db::now_ms;
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
    let (who, actor) = member(&state, Some(user), &headers, &image.room_id, &addr).await?;
    if !who.access.role.is_clinical() {
        return Err(AppError::Forbidden);
    }
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
    user: Option<CurrentUser>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Path(room_id): Path<String>,
) -> Result<Json<Vec<FindingView>>> {
    let (who, actor) = member(&state, user, &headers, &room_id, &addr).await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM findings WHERE room_id = $1 ORDER BY requested_at, id"
    )))
    .bind(&room_id)
    .fetch_all(state.db.read())
    .await?;
    let clinical = who.access.role.is_clinical();
    let list: Vec<FindingView> = rows
        .iter()
        .map(findings::view)
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|f| clinical || f.signed_off())
        .collect();
    let patient = room_patient(&state, &room_id, None).await?;
    audit::record_read(
        &state.db,
        &actor,
        Event::new("finding.list").object("room", &room_id).patient(patient.as_deref()),
    )
    .await?;
    Ok(Json(list))
}

/// One finding, with the same visibility rule as the room's list. Unsigned findings are 404
/// for patients and guests: they do not learn that one exists.
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
    if !clinical && !finding.signed_off() {
        return Err(AppError::NotFound("finding"));
    }
    Ok((finding, heatmap, actor, clinical))
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
    let patient = patient_of(&state, &finding).await?;
    audit::record_read(
        &state.db,
        &actor,
        Event::new("finding.read").object("finding", &id).patient(patient.as_deref()),
    )
    .await?;
    Ok(Json(finding))
}

async fn patient_of(state: &AppState, finding: &FindingView) -> Result<Option<String>> {
    let image = crate::imaging::db::find(&state.db, &finding.image_id).await?.view;
    room_patient(state, &finding.room_id, image.case_id.as_deref()).await
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
    let patient = patient_of(&state, &finding).await?;
    audit::record_read(
        &state.db,
        &actor,
        Event::new("finding.heatmap").object("finding", &id).patient(patient.as_deref()),
    )
    .await?;
    Ok(([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "private, max-age=3600")], png)
        .into_response())
}

/// A clinician's sign-off.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// `accept` (the top label), `amend` (another label or diagnosis, with a reason) or
    /// `reject` (with a reason).
    pub decision: String,
    /// For `amend`: a label of the model or the clinician's own words (1–200 characters).
    pub label: Option<String>,
    /// Why: required to amend or reject (up to 2000 characters).
    pub note: Option<String>,
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
    let (who, actor) = member(&state, Some(user), &headers, &finding.room_id, &addr).await?;
    if !who.access.role.is_clinical() {
        return Err(AppError::Forbidden);
    }
    let note = input.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > 2000) {
        return Err(AppError::invalid("note", "a note has at most 2000 characters"));
    }
    let top = finding.predictions.as_ref().and_then(|p| {
        p.iter().max_by(|a, b| a.probability.total_cmp(&b.probability)).map(|p| p.label.clone())
    });
    let (status, label) = match input.decision.as_str() {
        "accept" => ("accepted", top),
        "amend" => {
            let label =
                input.label.as_deref().map(str::trim).filter(|l| !l.is_empty() && l.chars().count() <= 200);
            let Some(label) = label else {
                return Err(AppError::invalid(
                    "label",
                    "amending needs the label or diagnosis you settle on (1–200 characters)",
                ));
            };
            if note.is_none() {
                return Err(AppError::invalid("note", "say why you amend the model's finding"));
            }
            ("amended", Some(label.to_string()))
        }
        "reject" => {
            if note.is_none() {
                return Err(AppError::invalid("note", "say why you reject the model's finding"));
            }
            ("rejected", None)
        }
        _ => return Err(AppError::invalid("decision", "accept, amend or reject")),
    };
    let patient = patient_of(&state, &finding).await?;
    let mut tx = state.db.write().await?;
    let changed = sqlx::query(
        "UPDATE findings SET status = $2, decision_label = $3, decision_note = $4, decided_by = $5, decided_by_name = $6, decided_at = $7
         WHERE id = $1 AND status = 'ready'",
    )
    .bind(&id)
    .bind(status)
    .bind(&label)
    .bind(note)
    .bind(&who.user_id)
    .bind(&who.name)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        let current =
            sqlx::query("SELECT status FROM findings WHERE id = $1").bind(&id).fetch_one(&mut *tx).await?;
        let current: String = current.try_get("status")?;
        return Err(AppError::Conflict(match current.as_str() {
            "running" => "the analysis is still running".into(),
            "failed" => "the analysis failed; there is nothing to sign off".into(),
            other => format!("this finding was already {other}"),
        }));
    }
    let verb = format!("finding.{}", &status[..status.len() - 2]);
    let event = Event::new(&verb)
        .object("finding", &id)
        .patient(patient.as_deref())
        .detail(label.clone().unwrap_or_default());
    audit::record(&mut tx, &actor, event).await?;
    tx.commit().await?;
    let (done, _) = findings::find(&state, &id).await?;
    state.hub.announce(&done.room_id, ServerMsg::Finding { finding: Box::new(done.clone()) }, false).await;
    Ok(Json(done))
}
