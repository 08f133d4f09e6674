//! The signalling protocol: JSON messages with a `type` field, one per WebSocket text frame.

use serde::{Deserialize, Serialize};

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
    /// `host`, `expert`, `patient` or `guest`.
    pub role: &'static str,
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
