//! Images shared in a consultation: upload (PNG, JPEG, DICOM, recognised by content), limits,
//! the content-addressed blob store, and serving them to the people in the room. The shared
//! viewer itself (zoom, pan, pointer) is signalling: see `consult::protocol::ViewerState`.

pub mod db;
pub mod decode;
mod dicom_lengths;
pub mod handlers;
pub mod service;
pub mod slots;
pub mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use decode::{DicomInfo, Kind, Limits, Window};
pub use handlers::api_router;
pub use service::MAX_IMAGES_PER_ROOM;

/// A value already on the 0–255 scale as a byte, clamped (so the cast cannot truncate).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "clamped to 0..=255 first")]
pub fn byte(x: f64) -> u8 {
    x.clamp(0.0, 255.0) as u8
}

/// News about a room's images, sent to the room without knowing how a room delivers it (the
/// room hub turns it into its wire message: `consult::hub::Hub::imaging_sink`).
#[derive(Clone, Debug)]
pub enum Event {
    /// Someone shared an image; everyone in the call sees it.
    Shared(ImageView),
}

/// Where imaging sends a room's events: `(room id, event)`.
pub type EventSink = std::sync::Arc<
    dyn Fn(crate::ids::RoomId, Event) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync,
>;

/// A shared image as clients see it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ImageView {
    pub id: String,
    pub room_id: String,
    pub case_id: Option<String>,
    pub kind: Kind,
    pub width: u32,
    pub height: u32,
    pub bytes: i64,
    pub filename: String,
    /// sha256 of the uploaded bytes.
    pub sha256: String,
    pub shared_by_name: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// Where the picture is served (re-encoded, no metadata).
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dicom: Option<DicomInfo>,
}
