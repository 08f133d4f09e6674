//! One task per live room owns that room's state (participants, waiting room); connections
//! talk to it over channels, so no lock is held across an await or per message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::access::RoomRole;
use super::protocol::{ChatLine, ClientMsg, Peer, ServerMsg};
use crate::db::{Db, now_ms};
use crate::ids::{PeerId, RoomId, UserId};
use crate::media::{MediaPlane, Request, Signal, SignalSink};

/// Messages queued to one connection before it counts as too slow and is dropped.
pub const OUTBOUND_QUEUE: usize = 64;
/// Commands queued to one room.
const ROOM_QUEUE: usize = 256;
/// Longest chat line.
pub const MAX_CHAT_CHARS: usize = 2000;
/// Chat lines a newcomer receives.
const HISTORY: i64 = 200;
/// How long an admitted participant who dropped out keeps their place: reconnecting within
/// this time (network change, page reload) skips the waiting room.
pub const GRACE_MS: i64 = 120_000;

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
    /// A server event for everyone in the call, or for its clinicians only.
    Announce {
        msg: Box<ServerMsg>,
        clinicians_only: bool,
    },
    /// The process is stopping: everyone is disconnected and the room task ends.
    Shutdown,
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
    pub async fn announce(&self, room_id: &RoomId, msg: ServerMsg, clinicians_only: bool) {
        if let Some(room) = self.live(room_id) {
            let _ = room.send(Command::Announce { msg: Box::new(msg), clinicians_only }).await;
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
        let room = Room {
            id: room_id.clone(),
            db: self.db.clone(),
            media: self.media.clone(),
            conns: Vec::new(),
            recently_admitted: HashMap::new(),
            review: None,
            shown_case: None,
        };
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

/// Where the media plane's signals for one connection go: into its socket, as protocol messages.
fn signal_sink(tx: mpsc::Sender<Outbound>) -> SignalSink {
    Arc::new(move |signal| {
        let msg = match signal {
            Signal::PublishAnswer { sdp } => ServerMsg::PublishAnswer { sdp },
            Signal::SubscribeOffer { sdp } => ServerMsg::SubscribeOffer { sdp },
            Signal::Failed { leg, reason } => ServerMsg::MediaFailed { leg, reason },
        };
        let _ = tx.try_send(Outbound::Msg(msg));
    })
}

struct Member {
    conn: Conn,
    admitted: bool,
}

struct Room {
    id: RoomId,
    db: Db,
    media: Arc<dyn MediaPlane>,
    conns: Vec<Member>,
    /// User id → until when an admitted participant who left may come back without waiting.
    recently_admitted: HashMap<UserId, i64>,
    /// The case review this is the call of (looked up at the first join): its attendance is
    /// recorded as people come and go.
    review: Option<Option<String>>,
    /// The agenda case the coordinator has on everyone's screen.
    shown_case: Option<String>,
}

impl Room {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        loop {
            // An empty room waits out the grace period for anyone coming back, then closes.
            let next = if self.conns.is_empty() {
                match tokio::time::timeout(std::time::Duration::from_millis(GRACE_MS as u64), rx.recv()).await
                {
                    Ok(cmd) => cmd,
                    Err(_) => break,
                }
            } else {
                rx.recv().await
            };
            let Some(cmd) = next else { break };
            match cmd {
                Command::Connect(conn) => self.connect(conn).await,
                Command::Disconnect { id } => self.disconnect(&id).await,
                Command::InCall { user_id, reply } => {
                    let _ =
                        reply.send(self.conns.iter().any(|m| m.admitted && m.conn.peer.user_id == user_id));
                }
                Command::Announce { msg, clinicians_only } => {
                    for m in self
                        .conns
                        .iter()
                        .filter(|m| m.admitted && (!clinicians_only || m.conn.role.is_clinical()))
                    {
                        self.send(&m.conn.peer.id, (*msg).clone());
                    }
                }
                Command::Message { id, msg } => {
                    if self.handle(&id, msg).await {
                        break;
                    }
                }
                Command::Shutdown => {
                    self.restart_all();
                    break;
                }
            }
            // The room stays up while anyone is in it or a place is being kept.
            let now = now_ms();
            self.recently_admitted.retain(|_, until| *until > now);
            if self.conns.is_empty() && self.recently_admitted.is_empty() {
                break;
            }
        }
    }

    /// The server is stopping: everyone, the waiting too, is disconnected with "service
    /// restart", and their media leaves the media plane.
    fn restart_all(&mut self) {
        for m in self.conns.drain(..) {
            if m.admitted {
                self.media.leave(&self.id, &m.conn.peer.id);
            }
            let _ = m.conn.tx.try_send(Outbound::Restart);
        }
    }

    fn send(&self, id: &PeerId, msg: ServerMsg) {
        if let Some(m) = self.conns.iter().find(|m| m.conn.peer.id == *id) {
            // A full queue means a stalled client; it is closed rather than waited for.
            if m.conn.tx.try_send(Outbound::Msg(msg)).is_err() {
                let _ = m.conn.tx.try_send(Outbound::Close);
            }
        }
    }

    fn broadcast(&self, msg: &ServerMsg, except: Option<&PeerId>) {
        for m in self.conns.iter().filter(|m| m.admitted && Some(&m.conn.peer.id) != except) {
            self.send(&m.conn.peer.id, msg.clone());
        }
    }

    fn participants(&self) -> Vec<Peer> {
        self.conns.iter().filter(|m| m.admitted).map(|m| m.conn.peer.clone()).collect()
    }

    fn waiting_list(&self) {
        let waiting: Vec<Peer> =
            self.conns.iter().filter(|m| !m.admitted).map(|m| m.conn.peer.clone()).collect();
        for m in self.conns.iter().filter(|m| m.admitted && m.conn.role.is_clinical()) {
            self.send(&m.conn.peer.id, ServerMsg::WaitingList { waiting: waiting.clone() });
        }
    }

    async fn history(&self) -> Vec<ChatLine> {
        super::db::chat_history(&self.db, &self.id, HISTORY).await.unwrap_or_else(|e| {
            tracing::error!(room = %self.id, error = %e, "reading the chat history");
            Vec::new()
        })
    }

    async fn admit(&mut self, id: &PeerId) {
        let Some(m) = self.conns.iter_mut().find(|m| m.conn.peer.id == *id) else { return };
        m.admitted = true;
        let you = m.conn.peer.clone();
        let m_clinical = m.conn.role.is_clinical();
        if m.conn.role != RoomRole::Device {
            self.media.join(&self.id, id, signal_sink(m.conn.tx.clone()));
        }
        self.attendance(&you, true).await;
        let chat = self.history().await;
        let case = if m_clinical { self.shown_case.clone() } else { None };
        self.send(id, ServerMsg::Welcome { you: you.clone(), participants: self.participants(), chat, case });
        self.broadcast(&ServerMsg::ParticipantJoined { participant: you }, Some(id));
        self.waiting_list();
    }

    async fn connect(&mut self, conn: Conn) {
        let id = conn.peer.id.clone();
        let returning =
            self.recently_admitted.remove(&conn.peer.user_id).is_some_and(|until| until > now_ms());
        let clinical = conn.role.is_clinical() || conn.role == RoomRole::Device || returning;
        self.conns.push(Member { conn, admitted: false });
        if clinical {
            self.admit(&id).await;
        } else {
            self.send(&id, ServerMsg::Waiting);
            self.waiting_list();
        }
    }

    async fn disconnect(&mut self, id: &PeerId) {
        let Some(pos) = self.conns.iter().position(|m| m.conn.peer.id == *id) else { return };
        let gone = self.conns.remove(pos);
        if gone.admitted {
            self.attendance(&gone.conn.peer, false).await;
            self.media.leave(&self.id, id);
            self.recently_admitted.insert(gone.conn.peer.user_id.clone(), now_ms() + GRACE_MS);
            self.broadcast(&ServerMsg::ParticipantLeft { id: id.clone() }, None);
        } else {
            self.waiting_list();
        }
    }

    /// In a review's call, puts a person (not a device) on the attendance list as they join,
    /// or notes when they left. A failure is logged: the call goes on, and the coordinator
    /// can correct the list.
    async fn attendance(&mut self, who: &Peer, joined: bool) {
        if who.role == RoomRole::Device.as_str() {
            return;
        }
        if self.review.is_none() {
            match crate::records::attendance::review_of_room(&self.db, self.id.as_str()).await {
                Ok(review) => self.review = Some(review),
                Err(e) => return tracing::warn!(room = %self.id, error = %e, "looking up the room's review"),
            }
        }
        let Some(Some(review)) = &self.review else { return };
        let user = who.user_id.as_str();
        let written = if joined {
            crate::records::attendance::joined(&self.db, review, user, &who.name, who.role).await
        } else {
            crate::records::attendance::left(&self.db, review, user).await
        };
        if let Err(e) = written {
            tracing::warn!(room = %self.id, error = %e, "recording attendance");
        }
    }

    /// Changes what others see of `id`'s media and tells everyone in the call.
    fn update(&mut self, id: &PeerId, change: impl FnOnce(&mut super::protocol::MediaState)) {
        let Some(m) = self.conns.iter_mut().find(|m| m.conn.peer.id == *id && m.admitted) else { return };
        change(&mut m.conn.peer.media);
        let participant = m.conn.peer.clone();
        self.broadcast(&ServerMsg::ParticipantUpdated { participant }, None);
    }

    fn error(&self, id: &PeerId, code: &'static str, message: &str) {
        self.send(id, ServerMsg::Error { code, message: message.to_string() });
    }

    /// Handles one message; true when the room has ended.
    async fn handle(&mut self, id: &PeerId, msg: ClientMsg) -> bool {
        let Some(me) = self.conns.iter().find(|m| m.conn.peer.id == *id) else { return false };
        let (role, admitted, peer) = (me.conn.role, me.admitted, me.conn.peer.clone());
        match msg {
            ClientMsg::Ping => self.send(id, ServerMsg::Pong),
            ClientMsg::Chat { text } => {
                let text = text.trim();
                if !admitted {
                    self.error(id, "not_admitted", "you can chat once a clinician has let you in");
                } else if text.is_empty() || text.chars().count() > MAX_CHAT_CHARS {
                    self.error(id, "invalid", "a chat message has 1 to 2000 characters");
                } else {
                    let line = ChatLine {
                        from: peer.user_id.to_string(),
                        name: peer.name.clone(),
                        text: text.to_string(),
                        at: now_ms(),
                    };
                    let stored = super::db::store_chat(&self.db, &self.id, &line).await;
                    match stored {
                        Ok(_) => self.broadcast(&ServerMsg::Chat(line), None),
                        Err(e) => {
                            tracing::error!(error = %e, "storing a chat line");
                            self.error(
                                id,
                                "unavailable",
                                "the message could not be saved; please send it again",
                            );
                        }
                    }
                }
            }
            ClientMsg::Admit { participant } | ClientMsg::Deny { participant }
                if !role.is_clinical() || !admitted =>
            {
                let _ = participant;
                self.error(id, "forbidden", "only a clinician in the call can admit or turn away");
            }
            ClientMsg::Admit { participant } => {
                if self.conns.iter().any(|m| m.conn.peer.id == participant && !m.admitted) {
                    self.admit(&participant).await;
                } else {
                    self.error(id, "not_found", "nobody with this id is waiting");
                }
            }
            ClientMsg::Deny { participant } => {
                if let Some(pos) =
                    self.conns.iter().position(|m| m.conn.peer.id == participant && !m.admitted)
                {
                    let m = self.conns.remove(pos);
                    self.recently_admitted.remove(&m.conn.peer.user_id);
                    let _ = m.conn.tx.try_send(Outbound::Msg(ServerMsg::Denied));
                    let _ = m.conn.tx.try_send(Outbound::Close);
                    self.waiting_list();
                } else {
                    self.error(id, "not_found", "nobody with this id is waiting");
                }
            }
            ClientMsg::Publish { .. }
            | ClientMsg::Answer { .. }
            | ClientMsg::Candidate { .. }
            | ClientMsg::AudioOnly { .. }
            | ClientMsg::MediaState { .. }
            | ClientMsg::Quality { .. }
                if !admitted =>
            {
                self.error(id, "not_admitted", "media starts once a clinician has let you in");
            }
            ClientMsg::Publish { sdp } => self.media.request(&self.id, id, Request::Publish { sdp }),
            ClientMsg::Answer { sdp } => self.media.request(&self.id, id, Request::Answer { sdp }),
            ClientMsg::Candidate { leg, candidate } => {
                self.media.request(&self.id, id, Request::Candidate { leg, candidate })
            }
            ClientMsg::AudioOnly { on } => self.media.request(&self.id, id, Request::AudioOnly(on)),
            ClientMsg::MediaState { audio, video, screen } => {
                if audio {
                    // Turning one's own microphone back on lifts a clinician's mute.
                    self.media.request(&self.id, id, Request::HoldAudio(false));
                }
                self.update(id, |m| {
                    m.audio = audio;
                    m.video = video;
                    m.screen = screen;
                });
            }
            ClientMsg::Quality { rtt_ms, loss_percent } => {
                if !loss_percent.is_finite() || !(0.0..=100.0).contains(&loss_percent) || rtt_ms > 60_000 {
                    self.error(id, "invalid", "loss is a percentage and round-trip time at most a minute");
                } else {
                    self.update(id, |m| {
                        m.rtt_ms = Some(rtt_ms);
                        m.loss_percent = Some(loss_percent);
                    });
                }
            }
            ClientMsg::Viewer(view) => {
                if !admitted {
                    self.error(id, "not_admitted", "the shared viewer opens once a clinician has let you in");
                } else if let Err(message) = view.check() {
                    self.error(id, "invalid", message);
                } else {
                    self.broadcast(
                        &ServerMsg::Viewer { from: id.clone(), name: peer.name.clone(), view },
                        Some(id),
                    );
                }
            }
            ClientMsg::Mute { participant } => {
                if !role.is_clinical() || !admitted {
                    self.error(id, "forbidden", "only a clinician in the call can mute others");
                } else if !self.conns.iter().any(|m| m.admitted && m.conn.peer.id == participant) {
                    self.error(id, "not_found", "nobody with this id is in the call");
                } else {
                    self.media.request(&self.id, &participant, Request::HoldAudio(true));
                    self.send(&participant, ServerMsg::Muted { by: peer.name.clone() });
                    self.update(&participant, |m| m.audio = false);
                }
            }
            ClientMsg::ShowCase { case } => {
                if role != RoomRole::Host || !admitted {
                    self.error(id, "forbidden", "only the review's coordinator steps through the agenda");
                    return false;
                }
                if let Some(c) = &case {
                    match super::db::case_in_room(&self.db, &self.id, c).await {
                        Ok(true) => {}
                        Ok(false) => {
                            self.error(id, "not_found", "no such case on this review's agenda");
                            return false;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "looking up an agenda case");
                            self.error(id, "unavailable", "the case could not be opened; please try again");
                            return false;
                        }
                    }
                }
                self.shown_case = case.clone();
                let msg = ServerMsg::CaseShown { case, by: peer.name.clone() };
                for m in self.conns.iter().filter(|m| m.admitted && m.conn.role.is_clinical()) {
                    self.send(&m.conn.peer.id, msg.clone());
                }
            }
            ClientMsg::End => {
                if role != RoomRole::Host {
                    self.error(id, "forbidden", "only the host can end the call");
                } else {
                    for m in &self.conns {
                        if m.admitted {
                            self.media.leave(&self.id, &m.conn.peer.id);
                        }
                        let _ = m.conn.tx.try_send(Outbound::Msg(ServerMsg::Ended));
                        let _ = m.conn.tx.try_send(Outbound::Close);
                    }
                    if let Err(e) = super::db::end_adhoc(&self.db, &self.id).await {
                        tracing::error!(error = %e, "marking a room ended");
                    }
                    self.conns.clear();
                    return true;
                }
            }
        }
        false
    }
}
