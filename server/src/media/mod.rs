//! The media plane: a selective forwarding unit. Every participant of a room publishes audio and
//! video (and perhaps a screen) on one peer connection and receives everyone else's tracks on a
//! second one, so each connection is negotiated from one side only and offers never collide.
//!
//! The rest of the server sees the small [`MediaPlane`] trait; [`Sfu`] implements it on the
//! `webrtc` crate. One task per room owns that room's peers and tracks (commands over a channel);
//! packets go from a publisher's reader task through a broadcast channel to one forwarding task per
//! subscriber, with no lock in between. No axum and no SQL here.

mod forward;
mod net;
mod participant;
mod peer;
mod room;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use crate::ids::{PeerId, RoomId};

pub use net::MediaConfig;
pub use peer::{KeyframeTap, OPUS_PT, VP8_PT, codec, is_keyframe_request, media_engine};

/// Which way a device stream goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// WHIP: the device sends into the room.
    Ingest,
    /// WHEP: the device receives from the room.
    Egress,
}

/// Which of a participant's two peer connections a message is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    /// The connection the participant sends on (they offer, we answer).
    Publish,
    /// The connection the participant receives on (we offer, they answer).
    Subscribe,
}

/// An ICE candidate as browsers write it (`RTCIceCandidateInit`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Candidate {
    pub candidate: String,
    #[serde(rename = "sdpMid", default)]
    pub sdp_mid: Option<String>,
    #[serde(rename = "sdpMLineIndex", default)]
    pub sdp_mline_index: Option<u16>,
}

/// What the media plane tells one participant.
#[derive(Clone, Debug, PartialEq)]
pub enum Signal {
    /// The answer to the participant's publish offer.
    PublishAnswer { sdp: String },
    /// An offer for the participant's receiving connection; they answer with [`Request::Answer`].
    SubscribeOffer { sdp: String },
    /// A connection of theirs failed or could not be set up; the client starts media again.
    Failed { leg: Leg, reason: String },
}

/// Where a participant's signals go (the signalling layer turns them into its own messages).
pub type SignalSink = Arc<dyn Fn(Signal) + Send + Sync>;

/// What a participant asks of the media plane.
#[derive(Clone, Debug)]
pub enum Request {
    /// An offer for the publishing connection (first, or again to add a screen track).
    Publish { sdp: String },
    /// The answer to our last [`Signal::SubscribeOffer`].
    Answer { sdp: String },
    /// A trickled ICE candidate of the participant's.
    Candidate { leg: Leg, candidate: Candidate },
    /// Stop (true) or resume receiving video: the audio-only fallback.
    AudioOnly(bool),
    /// Hold back (true) or let through this participant's audio: a clinician muted them.
    HoldAudio(bool),
}

/// Why a media request was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MediaError {
    #[error("the session description is not valid: {0}")]
    BadSdp(String),
    #[error("the media server is busy; try again")]
    Busy,
    #[error("media could not be set up: {0}")]
    Failed(String),
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The media plane as the rest of the server uses it.
pub trait MediaPlane: Send + Sync + std::fmt::Debug + 'static {
    /// `peer` is in `room` and may send requests; signals for them go to `signals`.
    fn join(&self, room: &RoomId, peer: &PeerId, signals: SignalSink);
    /// A request of a joined participant (ignored for anyone else).
    fn request(&self, room: &RoomId, peer: &PeerId, request: Request);
    /// `peer` is gone: their connections close and their tracks leave everyone else.
    fn leave(&self, room: &RoomId, peer: &PeerId);
    /// A device stream in one step: joins `peer` and answers its offer. `Ingest` (WHIP) takes a
    /// send-only offer; `Egress` (WHEP) a receive-only one, answered with the camera and microphone
    /// of whoever published video last. `signals` hears of a failed connection.
    fn stream(
        &self,
        room: &RoomId,
        peer: &PeerId,
        direction: Direction,
        offer: String,
        signals: SignalSink,
    ) -> BoxFuture<Result<String, MediaError>>;
    /// Running totals, for metrics and benchmarks.
    fn stats(&self) -> MediaStats;
    /// Closes every room's connections and completes once the room tasks have ended; nothing
    /// joins after it.
    fn shutdown(&self) -> BoxFuture<()>;
}

/// Running totals of the forwarding path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct MediaStats {
    /// Packets written to subscribers.
    pub forwarded: u64,
    /// Packets a subscriber lost because it fell behind.
    pub dropped: u64,
    /// Keyframe requests sent to publishers.
    pub keyframe_requests: u64,
    /// Rooms with media now.
    pub rooms: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    forwarded: AtomicU64,
    dropped: AtomicU64,
    keyframe_requests: AtomicU64,
}

/// Commands queued to one media room before new ones are refused.
const ROOM_QUEUE: usize = 1024;

/// The rooms with a running task, by id.
type Rooms = Mutex<HashMap<RoomId, mpsc::Sender<room::Cmd>>>;

/// The SFU on the `webrtc` crate.
pub struct Sfu {
    net: Arc<net::Net>,
    rooms: Arc<Rooms>,
    counters: Arc<Counters>,
    /// The room tasks, for [`MediaPlane::shutdown`] to wait on; `None` once shut down.
    tasks: Mutex<Option<Vec<JoinHandle<()>>>>,
}

/// How long shutting down waits for the rooms' connections to close.
const SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl std::fmt::Debug for Sfu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sfu").finish_non_exhaustive()
    }
}

impl Sfu {
    pub fn new(config: MediaConfig) -> Sfu {
        Sfu {
            net: Arc::new(net::Net::new(config)),
            rooms: Arc::new(Mutex::new(HashMap::new())),
            counters: Arc::new(Counters::default()),
            tasks: Mutex::new(Some(Vec::new())),
        }
    }

    /// Queues `cmd` for the room, starting its task if it has none. Under the rooms lock: a
    /// room that has just emptied closes under the same lock, so a command either reaches the
    /// room that will handle it or finds the room gone and starts a new one, never a room
    /// that is ending.
    fn queue(&self, id: &RoomId, cmd: room::Cmd) -> Result<(), mpsc::error::TrySendError<room::Cmd>> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms.retain(|_, tx| !tx.is_closed());
        if let Some(tx) = rooms.get(id) {
            return tx.try_send(cmd);
        }
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tasks) = tasks.as_mut() else {
            // Shut down: the command is refused like one to a full room.
            return Err(mpsc::error::TrySendError::Closed(cmd));
        };
        let (tx, rx) = mpsc::channel(ROOM_QUEUE);
        rooms.insert(id.clone(), tx.clone());
        let room = room::Room::new(id.clone(), self.net.clone(), self.counters.clone(), tx.downgrade());
        tasks.retain(|t| !t.is_finished());
        tasks.push(tokio::spawn(room.run(rx, self.rooms.clone())));
        tx.try_send(cmd)
    }

    fn send(&self, room: &RoomId, cmd: room::Cmd) {
        if let Err(e) = self.queue(room, cmd) {
            tracing::warn!(%room, error = %e, "media room queue full; a command was dropped");
        }
    }
}

impl MediaPlane for Sfu {
    fn join(&self, room: &RoomId, peer: &PeerId, signals: SignalSink) {
        self.send(room, room::Cmd::Join { peer: peer.clone(), signals });
    }

    fn request(&self, room: &RoomId, peer: &PeerId, request: Request) {
        self.send(room, room::Cmd::Request { peer: peer.clone(), request });
    }

    fn leave(&self, room: &RoomId, peer: &PeerId) {
        self.send(room, room::Cmd::Leave { peer: peer.clone() });
    }

    fn stream(
        &self,
        room: &RoomId,
        peer: &PeerId,
        direction: Direction,
        offer: String,
        signals: SignalSink,
    ) -> BoxFuture<Result<String, MediaError>> {
        let (reply, answer) = oneshot::channel();
        let cmd = room::Cmd::Stream { peer: peer.clone(), direction, offer, signals, reply };
        let queued = self.queue(room, cmd);
        Box::pin(async move {
            if queued.is_err() {
                return Err(MediaError::Busy);
            }
            answer.await.unwrap_or(Err(MediaError::Busy))
        })
    }

    fn shutdown(&self) -> BoxFuture<()> {
        // Under the rooms lock, so no room starts between taking the tasks and closing them.
        let tasks = {
            let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
            let tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default();
            // Without its sender a room handles what is queued, then closes its connections.
            rooms.clear();
            tasks
        };
        Box::pin(async move {
            if tokio::time::timeout(SHUTDOWN_WAIT, futures_util::future::join_all(tasks)).await.is_err() {
                tracing::warn!("media rooms still closing after the shutdown wait");
            }
        })
    }

    fn stats(&self) -> MediaStats {
        let rooms = {
            let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
            rooms.values().filter(|tx| !tx.is_closed()).count() as u64
        };
        MediaStats {
            forwarded: self.counters.forwarded.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            keyframe_requests: self.counters.keyframe_requests.load(Ordering::Relaxed),
            rooms,
        }
    }
}
