//! The signalling protocol: JSON messages with a `type` field, one per WebSocket text frame.

use serde::{Deserialize, Serialize};

use crate::ids::{PeerId, UserId};
use crate::media::{Candidate, Leg};

/// What a browser may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    /// A chat line (admitted participants).
    Chat { text: String },
    /// Let someone in from the waiting room (clinicians).
    Admit { participant: PeerId },
    /// Turn someone away from the waiting room (clinicians).
    Deny { participant: PeerId },
    /// End the call for everyone (the host).
    End,
    /// An offer for the connection this participant sends on (admitted participants).
    Publish { sdp: String },
    /// The answer to our last `subscribe_offer`.
    Answer { sdp: String },
    /// A trickled ICE candidate for one of the two connections.
    Candidate { leg: Leg, candidate: Candidate },
    /// This participant's microphone, camera and screen share, for the others to see.
    MediaState {
        audio: bool,
        video: bool,
        #[serde(default)]
        screen: bool,
    },
    /// This participant's network as their browser measures it.
    Quality { rtt_ms: u32, loss_percent: f32 },
    /// Stop (or resume) receiving video: the audio-only fallback.
    AudioOnly { on: bool },
    /// Silence someone's microphone (clinicians); only they can turn it back on.
    Mute { participant: PeerId },
    /// What the presenter shows in the shared image viewer, for the others to follow.
    Viewer(ViewerState),
    /// In a case review's call, the coordinator puts a case of the agenda on everyone's
    /// screen (`null`: none).
    ShowCase { case: Option<String> },
    /// Keep-alive; answered with `pong`.
    Ping,
}

/// The presenter's view of a shared image: which one, zoom, pan, and where the pointer is
/// (all in image fractions, so screens of any size agree).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ViewerState {
    pub image: String,
    pub zoom: f32,
    /// The image point at the centre of the view, 0–1 on each axis.
    pub x: f32,
    pub y: f32,
    /// The pointer, 0–1 on each axis, when it is over the image.
    #[serde(default)]
    pub pointer: Option<[f32; 2]>,
    /// The frame shown, from 0 (multi-frame DICOM).
    #[serde(default)]
    pub frame: u32,
}

/// More frames than any image within the pixel limits can hold.
const MAX_FRAMES: u32 = 1 << 16;

impl ViewerState {
    pub fn check(&self) -> Result<(), &'static str> {
        let unit = |v: f32| v.is_finite() && (0.0..=1.0).contains(&v);
        let ok = self.image.len() <= 64
            && self.zoom.is_finite()
            && (1.0..=32.0).contains(&self.zoom)
            && unit(self.x)
            && unit(self.y)
            && self.pointer.is_none_or(|[px, py]| unit(px) && unit(py))
            && self.frame < MAX_FRAMES;
        if ok {
            Ok(())
        } else {
            Err("zoom is 1–32, positions are fractions 0–1 of the image, frames count from 0")
        }
    }
}

/// A participant as others see them.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Peer {
    /// Connection id, stable for this connection.
    pub id: PeerId,
    pub user_id: UserId,
    pub name: String,
    /// `host`, `expert`, `patient`, `guest` or `device`.
    pub role: &'static str,
    #[serde(flatten)]
    pub media: MediaState,
}

/// What others see of a participant's media.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct MediaState {
    pub audio: bool,
    pub video: bool,
    pub screen: bool,
    /// Round-trip time in milliseconds, as their browser last measured it.
    pub rtt_ms: Option<u32>,
    /// Packets lost on the way to them, in percent.
    pub loss_percent: Option<f32>,
}

/// A stored chat line.
#[derive(Clone, Debug, Serialize)]
pub struct ChatLine {
    pub from: String,
    pub name: String,
    pub text: String,
    /// Milliseconds since the epoch.
    pub at: i64,
}

/// What the server sends.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// You are in: who you are, who is here, the chat so far.
    Welcome {
        you: Peer,
        participants: Vec<Peer>,
        chat: Vec<ChatLine>,
        /// In a case review's call, for clinicians: the agenda case being discussed.
        #[serde(skip_serializing_if = "Option::is_none")]
        case: Option<String>,
    },
    /// You wait until a clinician admits you.
    Waiting,
    /// For clinicians: who is waiting now.
    WaitingList {
        waiting: Vec<Peer>,
    },
    ParticipantJoined {
        participant: Peer,
    },
    ParticipantLeft {
        id: PeerId,
    },
    /// Someone's microphone, camera, screen or network changed.
    ParticipantUpdated {
        participant: Peer,
    },
    /// The answer to your `publish` offer.
    PublishAnswer {
        sdp: String,
    },
    /// An offer for the connection you receive on: reply with `answer`.
    SubscribeOffer {
        sdp: String,
    },
    /// One of your media connections failed; start it again.
    MediaFailed {
        leg: Leg,
        reason: String,
    },
    /// A clinician turned your microphone off.
    Muted {
        by: String,
    },
    Chat(ChatLine),
    /// Someone shared an image in the room.
    ImageShared {
        image: Box<crate::imaging::ImageView>,
    },
    /// The presenter's view of a shared image.
    Viewer {
        from: PeerId,
        name: String,
        view: ViewerState,
    },
    /// A finding started, progressed, finished or was signed off. Clinicians see every step;
    /// patients and guests only signed-off findings.
    Finding {
        finding: Box<crate::diagnosis::findings::FindingView>,
    },
    /// How far an explanation has come, 0–1 (clinicians).
    FindingProgress {
        id: String,
        progress: f32,
    },
    /// In a case review's call, for clinicians: the coordinator opened this agenda case for
    /// everyone (`null`: closed it).
    CaseShown {
        case: Option<String>,
        by: String,
    },
    /// In a case review's call, for clinicians: a case's outcome was saved (or signed) at
    /// `version` by `by`; an open form without unsaved changes loads it.
    OutcomeSaved {
        case: String,
        version: i64,
        by: String,
        signed: bool,
    },
    /// A clinician turned you away.
    Denied,
    /// The host ended the call.
    Ended,
    Pong,
    /// Your last message was refused; the connection stays open unless said otherwise.
    Error {
        code: &'static str,
        message: String,
    },
}
