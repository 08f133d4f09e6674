//! Image flows: share one into a room (decode off the runtime, store the blobs, then one write
//! with the room's limit checked inside it), list a room's, and render one for display.

use axum::body::Bytes;
use image::{ImageFormat, RgbImage};

use super::db::{self, NewImage};
use super::decode::{self, Window};
use super::{ImageView, Kind};
use crate::AppState;
use crate::consult::admission::Entrant;
use crate::consult::admission::room_patient;
use crate::db::{new_id, now_ms};
use crate::error::{AppError, Result};
use crate::ids::RoomId;
use crate::records::audit::{self, Actor, Event};

/// Longest side of the picture sent to browsers; larger uploads are scaled down for display
/// (the original is kept for analysis).
const DISPLAY_SIDE: u32 = 2048;
/// Images one room may hold: a bound on what one participant can make us store.
pub const MAX_IMAGES_PER_ROOM: i64 = 200;

/// What the sharer said about the upload.
pub struct Share<'a> {
    pub room_id: &'a str,
    pub filename: Option<&'a str>,
    pub case_id: Option<&'a str>,
}

/// Shares `bytes` into the room: decoded and stored, one row and its audit row, then announced
/// to everyone in the call.
pub async fn share(
    state: &AppState,
    who: &Entrant,
    actor: &Actor,
    s: Share<'_>,
    bytes: Bytes,
) -> Result<ImageView> {
    if bytes.is_empty() {
        return Err(AppError::invalid("image", "the upload is empty"));
    }
    let filename: String =
        s.filename.unwrap_or("image").trim().chars().filter(|c| !c.is_control()).take(200).collect();
    let case_id = s.case_id.filter(|c| !c.is_empty());
    if let Some(case) = case_id
        && !db::case_in_room(&state.db, case, s.room_id).await?
    {
        return Err(AppError::invalid("case_id", "no such case in this review"));
    }
    // Decoding, encoding and hashing are CPU work: off the async runtime.
    let limits = state.config.image_limits;
    let blobs = state.blobs.clone();
    let (decoded, sha, shown_sha, shown_type, size) = state
        .decode_slots
        .run(move || {
            let decoded = decode::decode(&bytes, limits)?;
            let (shown, shown_type) = encode_display(&decoded.image, decoded.kind);
            let sha = blobs.put(&bytes).map_err(anyhow::Error::from)?;
            let shown_sha = blobs.put(&shown).map_err(anyhow::Error::from)?;
            Ok((decoded, sha, shown_sha, shown_type, bytes.len()))
        })
        .await?;
    let info = decoded
        .dicom
        .as_ref()
        .map(|d| serde_json::to_string(d).unwrap_or_default())
        .unwrap_or_else(|| "{}".into());
    let id = new_id();
    let patient = room_patient(state, s.room_id, case_id).await?;
    let mut tx = state.db.write().await?;
    if db::count_for_insert(&mut tx, s.room_id).await? >= MAX_IMAGES_PER_ROOM {
        return Err(full());
    }
    let row = NewImage {
        id: &id,
        room_id: s.room_id,
        case_id,
        sha256: &sha,
        display_sha256: &shown_sha,
        display_type: shown_type,
        kind: decoded.kind,
        width: decoded.image.width(),
        height: decoded.image.height(),
        bytes: i64::try_from(size).unwrap_or(i64::MAX),
        filename: &filename,
        info: &info,
        shared_by: &who.user_id,
        shared_by_name: &who.name,
        created_at: now_ms(),
    };
    db::insert(&mut tx, &row).await?;
    let event = Event::new("image.share").object("image", &id).patient(patient.as_deref()).detail(format!(
        "{} in room {}",
        decoded.kind.as_str(),
        s.room_id
    ));
    audit::record(&mut tx, actor, event).await?;
    tx.commit().await?;
    let image = db::find(&state.db, &id).await?.view;
    (state.events.imaging)(RoomId::new(s.room_id), super::Event::Shared(image.clone())).await;
    Ok(image)
}

fn full() -> AppError {
    AppError::Conflict(format!("this room already holds {MAX_IMAGES_PER_ROOM} images"))
}

/// 409 if the room is full: asked before an upload is read, so a full room is not sent
/// 20 MiB for nothing. The count that decides is the one inside [`share`]'s write.
pub async fn ensure_room_for_one_more(state: &AppState, room_id: &str) -> Result<()> {
    if db::count(&state.db, room_id).await? >= MAX_IMAGES_PER_ROOM {
        return Err(full());
    }
    Ok(())
}

/// A room's images, oldest first; the read is audited.
pub async fn list(state: &AppState, actor: &Actor, room_id: &str) -> Result<Vec<ImageView>> {
    let images = db::in_room(&state.db, room_id).await?;
    let patient = room_patient(state, room_id, None).await?;
    let event = Event::new("image.list").object("room", room_id).patient(patient.as_deref());
    audit::record_read(&state.db, actor, event).await?;
    Ok(images)
}

/// Checks that `frame` exists in `image` (only DICOM files have more than frame 0).
pub fn check_frame(image: &ImageView, frame: u32) -> Result<()> {
    let frames = image.dicom.as_ref().map_or(1, |d| d.frames.max(1));
    if frame >= frames {
        return Err(AppError::invalid("frame", format!("this image has {frames} frame(s), counted from 0")));
    }
    Ok(())
}

/// The picture of a stored image: the stored display picture, or for DICOM another window or
/// frame decoded again. The read is audited.
pub async fn render(
    state: &AppState,
    actor: &Actor,
    stored: db::Stored,
    window: Option<Window>,
    frame: u32,
) -> Result<(Vec<u8>, String)> {
    let image = stored.view;
    check_frame(&image, frame)?;
    let blobs = state.blobs.clone();
    let limits = state.config.image_limits;
    let original = image.sha256.clone();
    let shown_sha = stored.display_sha256;
    let picture = if window.is_none() && frame == 0 {
        let shown =
            tokio::task::spawn_blocking(move || blobs.get(&shown_sha)).await.map_err(anyhow::Error::from)?;
        (shown.map_err(anyhow::Error::from)?, stored.display_type)
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
    let patient = room_patient(state, &image.room_id, image.case_id.as_deref()).await?;
    let event = Event::new("image.view").object("image", &image.id).patient(patient.as_deref());
    audit::record_read(&state.db, actor, event).await?;
    Ok(picture)
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
