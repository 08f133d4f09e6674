//! One live room's task: its participants and waiting room, admission, chat, media
//! signalling, and in a case review's call the attendance list and the agenda case on screen.
//! The task owns this state alone; [`super::hub`] starts it and hands it commands.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::access::RoomRole;
use super::hub::{Audience, Command, Conn, Outbound};
use super::protocol::{ChatLine, ClientMsg, Peer, ServerMsg};
use crate::db::{Db, now_ms};
use crate::ids::{PeerId, RoomId, UserId};
use crate::media::{MediaPlane, Request, Signal, SignalSink};

/// Longest chat line.
pub const MAX_CHAT_CHARS: usize = 2000;
/// Chat lines a newcomer receives.
const HISTORY: i64 = 200;
/// How long an admitted participant who dropped out keeps their place: reconnecting within
/// this time (network change, page reload) skips the waiting room.
pub const GRACE_MS: i64 = 120_000;

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

pub struct Room {
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
    pub fn new(id: RoomId, db: Db, media: Arc<dyn MediaPlane>) -> Room {
        Room {
            id,
            db,
            media,
            conns: Vec::new(),
            recently_admitted: HashMap::new(),
            review: None,
            shown_case: None,
        }
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
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
                Command::Announce { msg, audience } => {
                    for m in self.conns.iter().filter(|m| m.admitted) {
                        let heard = match (&audience, m.conn.role.is_clinical()) {
                            (_, true) | (Audience::Everyone, false) => &msg,
                            (Audience::OthersHear(theirs), false) => theirs,
                            (Audience::CliniciansOnly, false) => continue,
                        };
                        self.send(&m.conn.peer.id, (**heard).clone());
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

    /// Notes when a person (not a device) joins or leaves: in every room (the consultation's
    /// Encounter), and in a review's call also on its attendance list. A failure is logged:
    /// the call goes on, and the coordinator can correct the review's list.
    async fn attendance(&mut self, who: &Peer, joined: bool) {
        if who.role == RoomRole::Device.as_str() {
            return;
        }
        let user = who.user_id.as_str();
        let written = if joined {
            super::db::joined(&self.db, &self.id, user, &who.name, who.role).await
        } else {
            super::db::left(&self.db, &self.id, user).await
        };
        if let Err(e) = written {
            tracing::warn!(room = %self.id, error = %e, "recording who is in the call");
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

    /// Refuses `id`'s message, in that connection's language.
    fn error(&self, id: &PeerId, code: &'static str, message: &str) {
        let lang = self
            .conns
            .iter()
            .find(|m| m.conn.peer.id == *id)
            .map_or(crate::web::i18n::Lang::En, |m| m.conn.lang);
        let message = crate::web::i18n::Tr(lang).message(message).into_owned();
        self.send(id, ServerMsg::Error { code, message });
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
                    if let Err(e) = super::db::end(&self.db, &self.id).await {
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
