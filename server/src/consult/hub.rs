//! The live rooms of this process: one task per room (its state and rules are in
//! [`super::room`]) started on first use, reached by connections over channels, so no lock is
//! held across an await or per message; announcements from other domains; shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::access::RoomRole;
use super::protocol::{ClientMsg, Peer, ServerMsg};
use super::room::Room;
use crate::db::Db;
use crate::ids::{PeerId, RoomId, UserId};
use crate::media::MediaPlane;

/// Messages queued to one connection before it counts as too slow and is dropped.
pub const OUTBOUND_QUEUE: usize = 64;
/// Commands queued to one room.
const ROOM_QUEUE: usize = 256;

/// What a connection's writer sends to the socket.
#[derive(Debug)]
pub enum Outbound {
    Msg(ServerMsg),
    Close,
    /// The server is shutting down: close with 1012 (service restart), so clients come back.
    Restart,
}

/// A connection as the room sees it.
pub struct Conn {
    pub peer: Peer,
    pub role: RoomRole,
    pub tx: mpsc::Sender<Outbound>,
    /// The language the room's refusals are told to this connection in.
    pub lang: crate::web::i18n::Lang,
}

pub enum Command {
    Connect(Conn),
    Disconnect {
        id: PeerId,
    },
    Message {
        id: PeerId,
        msg: ClientMsg,
    },
    /// Whether this user is in the call (admitted), for HTTP routes that act in the room.
    InCall {
        user_id: UserId,
        reply: tokio::sync::oneshot::Sender<bool>,
    },
    /// A server event for the call's clinicians, and for the others as `audience` says.
    Announce {
        msg: Box<ServerMsg>,
        audience: Audience,
    },
    /// The process is stopping: everyone is disconnected and the room task ends.
    Shutdown,
}

/// Who in a call hears an announcement besides its clinicians, who hear it as sent.
#[derive(Debug)]
pub enum Audience {
    Everyone,
    CliniciansOnly,
    /// Patients and guests hear this message instead (a redacted form of the same news).
    OthersHear(Box<ServerMsg>),
}

/// The live rooms of this process.
pub struct Hub {
    rooms: Mutex<HashMap<RoomId, mpsc::Sender<Command>>>,
    db: Db,
    media: Arc<dyn MediaPlane>,
    /// Device streams (WHIP/WHEP sessions) by participant id, with their room.
    devices: Mutex<HashMap<PeerId, RoomId>>,
    /// The room tasks, so that shutting down can wait for them.
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Set once shutting down: no room starts after that.
    closing: std::sync::atomic::AtomicBool,
}

/// How long shutting down waits for the room tasks.
const SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Hub {
    pub fn new(db: Db, media: Arc<dyn MediaPlane>) -> Hub {
        Hub {
            rooms: Mutex::new(HashMap::new()),
            db,
            media,
            devices: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            closing: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Remembers a device stream so its `DELETE` can end it.
    pub fn add_device(&self, id: &PeerId, room_id: &RoomId) {
        self.devices.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), room_id.clone());
    }

    /// Forgets a device stream of `room_id`; false when there is none by that id.
    pub fn remove_device(&self, id: &PeerId, room_id: &RoomId) -> bool {
        let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        if devices.get(id).is_some_and(|r| r == room_id) {
            devices.remove(id);
            true
        } else {
            false
        }
    }

    /// The command channel of a running room.
    fn live(&self, room_id: &RoomId) -> Option<mpsc::Sender<Command>> {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms.get(room_id).filter(|tx| !tx.is_closed()).cloned()
    }

    /// Whether `user_id` is in the call of `room_id` now (false when nobody is).
    pub async fn in_call(&self, room_id: &RoomId, user_id: &UserId) -> bool {
        let Some(room) = self.live(room_id) else { return false };
        let (reply, answer) = tokio::sync::oneshot::channel();
        if room.send(Command::InCall { user_id: user_id.clone(), reply }).await.is_err() {
            return false;
        }
        answer.await.unwrap_or(false)
    }

    /// Tells the call of `room_id`, if one is running, about `msg`.
    pub async fn announce(&self, room_id: &RoomId, msg: ServerMsg, audience: Audience) {
        if let Some(room) = self.live(room_id) {
            let _ = room.send(Command::Announce { msg: Box::new(msg), audience }).await;
        }
    }

    /// The command channel of a room, starting its task if it is not running; `None` once the
    /// server is shutting down.
    pub fn room(&self, room_id: &RoomId) -> Option<mpsc::Sender<Command>> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if self.closing.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        rooms.retain(|_, tx| !tx.is_closed());
        if let Some(tx) = rooms.get(room_id) {
            return Some(tx.clone());
        }
        let (tx, rx) = mpsc::channel(ROOM_QUEUE);
        rooms.insert(room_id.clone(), tx.clone());
        let room = Room::new(room_id.clone(), self.db.clone(), self.media.clone());
        let task = tokio::spawn(room.run(rx));
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
        Some(tx)
    }

    /// Ends every room: each participant's socket closes with "service restart" (clients
    /// reconnect to the next server), their media leaves the media plane, and this returns once
    /// the room tasks have ended (or after five seconds).
    pub async fn shutdown(&self) {
        let rooms: Vec<mpsc::Sender<Command>> = {
            let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
            self.closing.store(true, std::sync::atomic::Ordering::SeqCst);
            rooms.drain().map(|(_, tx)| tx).collect()
        };
        for room in rooms {
            let _ = room.send(Command::Shutdown).await;
        }
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        let all = futures_util::future::join_all(tasks);
        if tokio::time::timeout(SHUTDOWN_WAIT, all).await.is_err() {
            tracing::warn!("room tasks still running after the shutdown wait");
        }
    }
}
