//! The signalling protocol: JSON messages with a `type` field, one per WebSocket text frame.

use serde::{Deserialize, Serialize};

use crate::media::{Candidate, Leg};

/// What a browser may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    /// A chat line (admitted participants).
    Chat { text: String },
    /// Let someone in from the waiting room (clinicians).
    Admit { participant: String },
    /// Turn someone away from the waiting room (clinicians).
    Deny { participant: String },
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
    Mute { participant: String },
    /// Keep-alive; answered with `pong`.
    Ping,
}

/// A participant as others see them.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Peer {
    /// Connection id, stable for this connection.
    pub id: String,
    pub user_id: String,
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
        id: String,
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
