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
use image::{ImageFormat, RgbImage};
use serde::Deserialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::decode::{self, ImageError, Window};
use super::{ImageView, Kind};
use crate::AppState;
use crate::auth::{ClientAddr, CurrentUser};
use crate::consult::protocol::ServerMsg;
use crate::consult::ws::{Entrant, entrant};
use crate::db::{new_id, now_ms};
use crate::error::{AppError, ErrorBody, Result};
use crate::records::audit::{self, Actor, Event};

/// Longest side of the picture sent to browsers; larger uploads are scaled down for display
/// (the original is kept for analysis).
const DISPLAY_SIDE: u32 = 2048;
/// Images one room may hold: a bound on what one participant can make us store.
pub const MAX_IMAGES_PER_ROOM: i64 = 200;

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
    if user.is_none() && crate::consult::invites::guest(state, headers).await?.is_none() {
        return Err(AppError::Unauthorized);
    }
    Ok(())
}

/// The patient whose data a room holds: the appointment's patient, or a review case's.
pub async fn room_patient(state: &AppState, room_id: &str, case_id: Option<&str>) -> Result<Option<String>> {
    if let Some(case) = case_id {
        let row = sqlx::query("SELECT patient_id FROM review_cases WHERE id = $1")
            .bind(case)
            .fetch_optional(state.db.read())
            .await?;
        return Ok(row.map(|r| r.try_get("patient_id")).transpose()?);
    }
    let row = sqlx::query("SELECT patient_id FROM appointments WHERE room_id = $1")
        .bind(room_id)
        .fetch_optional(state.db.read())
        .await?;
    Ok(row.map(|r| r.try_get("patient_id")).transpose()?)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The file's name, for people (the kind is read from the content).
    pub filename: Option<String>,
    /// In a case review: the case the image belongs to.
    pub case_id: Option<String>,
}

const IMAGE_COLUMNS: &str = "id, room_id, case_id, sha256, display_sha256, display_type, kind, width, height, bytes, filename, info, shared_by_name, created_at";

fn view(r: &AnyRow) -> Result<ImageView> {
    let id: String = r.try_get("id")?;
    let kind = match r.try_get::<String, _>("kind")?.as_str() {
        "png" => Kind::Png,
        "jpeg" => Kind::Jpeg,
        _ => Kind::Dicom,
    };
    let info: String = r.try_get("info")?;
    Ok(ImageView {
        url: format!("/api/v1/images/{id}/display"),
        id,
        room_id: r.try_get("room_id")?,
        case_id: r.try_get("case_id")?,
        kind,
        width: r.try_get::<i32, _>("width")? as u32,
        height: r.try_get::<i32, _>("height")? as u32,
        bytes: r.try_get("bytes")?,
        filename: r.try_get("filename")?,
        sha256: r.try_get("sha256")?,
        shared_by_name: r.try_get("shared_by_name")?,
        created_at: r.try_get("created_at")?,
        dicom: if kind == Kind::Dicom { serde_json::from_str(&info).ok() } else { None },
    })
}

/// One image row with its display blob name.
pub async fn find(state: &AppState, id: &str) -> Result<(ImageView, String, String)> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {IMAGE_COLUMNS} FROM images WHERE id = $1")))
        .bind(id)
        .fetch_optional(state.db.read())
        .await?
        .ok_or(AppError::NotFound("image"))?;
    Ok((view(&row)?, row.try_get("display_sha256")?, row.try_get("display_type")?))
}

/// Encodes the picture browsers get: scaled to at most 2048 px, re-encoded without metadata.
fn encode_display(image: &RgbImage, kind: Kind) -> (Vec<u8>, &'static str) {
    let scaled;
    let img = if image.width().max(image.height()) > DISPLAY_SIDE {
        scaled = image::DynamicImage::ImageRgb8(image.clone())
            .resize(DISPLAY_SIDE, DISPLAY_SIDE, image::imageops::FilterType::Triangle)
            .into_rgb8();
        &scaled
    } else {
        image
    };
    let mut out = Vec::new();
    let mut cursor = std::io::Cursor::new(&mut out);
    if kind == Kind::Jpeg {
        let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut cursor, 90);
        img.write_with_encoder(enc).expect("encoding in memory");
        (out, "image/jpeg")
    } else {
        img.write_to(&mut cursor, ImageFormat::Png).expect("encoding in memory");
        (out, "image/png")
    }
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
    user: Option<CurrentUser>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Path(room_id): Path<String>,
    Query(params): Query<UploadParams>,
    body: Body,
) -> Result<(StatusCode, Json<ImageView>)> {
    let (who, actor) = member(&state, user, &headers, &room_id, &addr).await?;
    let limit = state.config.max_upload_bytes;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(AppError::TooLarge(limit));
    }
    let held: i64 = sqlx::query("SELECT COUNT(*) AS n FROM images WHERE room_id = $1")
        .bind(&room_id)
        .fetch_one(state.db.read())
        .await?
        .try_get("n")?;
    if held >= MAX_IMAGES_PER_ROOM {
        return Err(AppError::Conflict(format!("this room already holds {MAX_IMAGES_PER_ROOM} images")));
    }
    let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| AppError::TooLarge(limit))?;
    if bytes.is_empty() {
        return Err(AppError::invalid("image", "the upload is empty"));
    }
    let filename: String = params
        .filename
        .as_deref()
        .unwrap_or("image")
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let case_id = match params.case_id.as_deref().filter(|c| !c.is_empty()) {
        Some(case) => {
            let ok = sqlx::query("SELECT c.id FROM review_cases c JOIN reviews r ON r.id = c.review_id WHERE c.id = $1 AND r.room_id = $2")
                .bind(case)
                .bind(&room_id)
                .fetch_optional(state.db.read())
                .await?
                .is_some();
            if !ok {
                return Err(AppError::invalid("case_id", "no such case in this review"));
            }
            Some(case.to_string())
        }
        None => None,
    };
    // Decoding, encoding and hashing are CPU work: off the async runtime.
    let limits = state.config.image_limits;
    let blobs = state.blobs.clone();
    let stored = state
        .decode_slots
        .run(move || {
            let decoded = decode::decode(&bytes, limits)?;
            let (shown, shown_type) = encode_display(&decoded.image, decoded.kind);
            let sha = blobs.put(&bytes).map_err(anyhow::Error::from)?;
            let shown_sha = blobs.put(&shown).map_err(anyhow::Error::from)?;
            Ok((decoded, sha, shown_sha, shown_type, bytes.len()))
        })
        .await?;
    let (decoded, sha, shown_sha, shown_type, size) = stored;
    let info = decoded
        .dicom
        .as_ref()
        .map(|d| serde_json::to_string(d).unwrap_or_default())
        .unwrap_or_else(|| "{}".into());
    let (id, now) = (new_id(), now_ms());
    let patient = room_patient(&state, &room_id, case_id.as_deref()).await?;
    let mut tx = state.db.write().await?;
    sqlx::query(
        "INSERT INTO images (id, room_id, case_id, sha256, display_sha256, display_type, kind, width, height, bytes,
                             filename, info, shared_by, shared_by_name, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&id)
    .bind(&room_id)
    .bind(&case_id)
    .bind(&sha)
    .bind(&shown_sha)
    .bind(shown_type)
    .bind(decoded.kind.as_str())
    .bind(decoded.image.width() as i32)
    .bind(decoded.image.height() as i32)
    .bind(size as i64)
    .bind(&filename)
    .bind(&info)
    .bind(&who.user_id)
    .bind(&who.name)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let event = Event::new("image.share")
        .object("image", &id)
        .patient(patient.as_deref())
        .detail(format!("{} in room {room_id}", decoded.kind.as_str()));
    audit::record(&mut tx, &actor, event).await?;
    tx.commit().await?;
    let (image, _, _) = find(&state, &id).await?;
    state.hub.announce(&room_id, ServerMsg::ImageShared { image: Box::new(image.clone()) }, false).await;
    Ok((StatusCode::CREATED, Json(image)))
}

/// The images shared in a room, oldest first.
#[utoipa::path(get, path = "/api/v1/rooms/{id}/images", tag = "imaging", params(("id" = String, Path)),
    responses((status = 200, body = Vec<ImageView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Path(room_id): Path<String>,
) -> Result<Json<Vec<ImageView>>> {
    let (_, actor) = member(&state, user, &headers, &room_id, &addr).await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {IMAGE_COLUMNS} FROM images WHERE room_id = $1 ORDER BY created_at, id"
    )))
    .bind(&room_id)
    .fetch_all(state.db.read())
    .await?;
    let images = rows.iter().map(view).collect::<Result<Vec<_>>>()?;
    let patient = room_patient(&state, &room_id, None).await?;
    audit::record_read(
        &state.db,
        &actor,
        Event::new("image.list").object("room", &room_id).patient(patient.as_deref()),
    )
    .await?;
    Ok(Json(images))
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

/// Checks that `frame` exists in `image` (only DICOM files have more than frame 0).
pub fn check_frame(image: &ImageView, frame: u32) -> Result<()> {
    let frames = image.dicom.as_ref().map_or(1, |d| d.frames.max(1));
    if frame >= frames {
        return Err(AppError::invalid("frame", format!("this image has {frames} frame(s), counted from 0")));
    }
    Ok(())
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
    let (image, shown_sha, shown_type) = find(&state, &id).await?;
    let (_, actor) = member(&state, user, &headers, &image.room_id, &addr).await?;
    let window = match (params.center, params.width) {
        (Some(center), Some(width)) if image.kind == Kind::Dicom => {
            Some(Window { name: "custom".into(), center, width })
        }
        (None, None) => None,
        _ => return Err(AppError::invalid("width", "give both center and width, for DICOM images only")),
    };
    let frame = params.frame.unwrap_or(0);
    check_frame(&image, frame)?;
    let blobs = state.blobs.clone();
    let limits = state.config.image_limits;
    let original = image.sha256.clone();
    // The stored picture is read as it is; another window or frame is decoded again.
    let (bytes, content_type) = if window.is_none() && frame == 0 {
        let shown =
            tokio::task::spawn_blocking(move || blobs.get(&shown_sha)).await.map_err(anyhow::Error::from)?;
        (shown.map_err(anyhow::Error::from)?, shown_type)
    } else {
        state
            .decode_slots
            .run(move || {
                let raw = blobs.get(&original).map_err(anyhow::Error::from)?;
                let (img, _) = decode::dicom(&raw, limits, window.as_ref(), frame)?;
                Ok((encode_display(&img, Kind::Png).0, "image/png".to_string()))
            })
            .await?
    };
    let patient = room_patient(&state, &image.room_id, image.case_id.as_deref()).await?;
    audit::record_read(
        &state.db,
        &actor,
        Event::new("image.view").object("image", &id).patient(patient.as_deref()),
    )
    .await?;
    Ok((
        [(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "private, max-age=3600".to_string())],
        bytes,
    )
        .into_response())
}
