//! `/api/v1/rooms/{id}/images` and `/api/v1/images/{id}`: share an image into a room, list a
//! room's images, fetch one (DICOM re-rendered at any window). Everyone in the room may share
//! and look; patients and guests only while they are in the call. Each share and each view is
//! an audit row.

use crate::web::input::{Path, Query};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::decode::{ImageError, Window};
use super::service::{self, Share};
use super::{ImageView, Kind};
use crate::AppState;
use crate::auth::{ClientAddr, CurrentUser};
use crate::consult::admission::{RoomMember, member, signed_in};
use crate::error::{AppError, ErrorBody, Result};

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upload, list)).routes(routes!(display))
}

impl From<ImageError> for AppError {
    fn from(e: ImageError) -> AppError {
        match e {
            ImageError::Unsupported(m) => AppError::Unsupported(m),
            ImageError::Corrupt(m) => AppError::invalid("image", m),
            ImageError::TooLarge(m) => AppError::invalid("image", m),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The file's name, for people (the kind is read from the content).
    pub filename: Option<String>,
    /// In a case review: the case the image belongs to.
    pub case_id: Option<String>,
}

/// Share an image into the room: PNG, JPEG or DICOM as the raw request body (up to
/// `CONSILIUM_MAX_UPLOAD_BYTES`, 20 MiB by default). Everyone in the call sees it at once.
#[utoipa::path(post, path = "/api/v1/rooms/{id}/images", tag = "imaging", params(("id" = String, Path), UploadParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "PNG, JPEG or DICOM bytes"),
    responses((status = 201, body = ImageView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    RoomMember { who, actor, room_id }: RoomMember,
    headers: HeaderMap,
    Query(params): Query<UploadParams>,
    body: Body,
) -> Result<(StatusCode, Json<ImageView>)> {
    let limit = state.config.max_upload_bytes;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(AppError::TooLarge(limit));
    }
    service::ensure_room_for_one_more(&state, &room_id).await?;
    let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| AppError::TooLarge(limit))?;
    let share =
        Share { room_id: &room_id, filename: params.filename.as_deref(), case_id: params.case_id.as_deref() };
    let image = service::share(&state, &who, &actor, share, bytes).await?;
    Ok((StatusCode::CREATED, Json(image)))
}

/// The images shared in a room, oldest first.
#[utoipa::path(get, path = "/api/v1/rooms/{id}/images", tag = "imaging", params(("id" = String, Path)),
    responses((status = 200, body = Vec<ImageView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    RoomMember { actor, room_id, .. }: RoomMember,
) -> Result<Json<Vec<ImageView>>> {
    Ok(Json(service::list(&state, &actor, &room_id).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RenderParams {
    /// DICOM only: window centre and width (both, or neither for the file's default).
    pub center: Option<f64>,
    pub width: Option<f64>,
    /// DICOM only: which frame of a multi-frame file, from 0 (default 0).
    pub frame: Option<u32>,
}

/// The picture of a shared image; DICOM images at the asked window/level and frame.
#[utoipa::path(get, path = "/api/v1/images/{id}/display", tag = "imaging", params(("id" = String, Path), RenderParams),
    responses((status = 200, description = "PNG or JPEG"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn display(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<RenderParams>,
) -> Result<Response> {
    signed_in(&state, &user, &headers).await?;
    let stored = super::db::find(&state.db, &id).await?;
    let (_, actor) = member(&state, user, &headers, &stored.view.room_id, &addr).await?;
    let window = match (params.center, params.width) {
        (Some(center), Some(width)) if stored.view.kind == Kind::Dicom => {
            Some(Window { name: "custom".into(), center, width })
        }
        (None, None) => None,
        _ => return Err(AppError::invalid("width", "give both center and width, for DICOM images only")),
    };
    let (bytes, content_type) =
        service::render(&state, &actor, stored, window, params.frame.unwrap_or(0)).await?;
    Ok((
        [(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "private, max-age=3600".to_string())],
        bytes,
    )
        .into_response())
}
