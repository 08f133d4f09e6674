//! What diagnosis tells a room, without knowing how a room delivers it: the room hub turns
//! each [`Event`] into its own wire message (`consult::hub::Hub::diagnosis_sink`), the way it
//! turns the media plane's signals into messages.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::findings::FindingView;
use crate::ids::RoomId;

/// News about a room's findings.
#[derive(Clone, Debug)]
pub enum Event {
    /// A finding started, finished or was signed off. Clinicians hear all of it; patients and
    /// guests hear only of a signed-off one, in [`FindingView::for_patients`]'s form.
    Finding { finding: Box<FindingView> },
    /// How far a running analysis is (0 to 1), for the room's clinicians.
    Progress { id: String, progress: f32 },
}

/// Where diagnosis sends a room's events: `(room id, event)`.
pub type Sink = Arc<dyn Fn(RoomId, Event) -> BoxFuture<'static, ()> + Send + Sync>;
