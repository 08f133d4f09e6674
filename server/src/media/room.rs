//! One media room: the task that owns its participants' peer connections and the tracks they
//! publish, and keeps every subscriber's receiving connection in step with what is published.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{RTCIceCandidateInit, RTCSessionDescription};

use super::forward::Published;
use super::net::Net;
use super::participant::{Participant, Subscriber, add_sending, offer, start_forwarding};
use super::peer::Peer;
use super::{Candidate, Counters, Direction, Leg, MediaError, PeerId, Request, RoomId, Signal, SignalSink};

type Reply = oneshot::Sender<Result<String, MediaError>>;

pub enum Cmd {
    Join { peer: PeerId, signals: SignalSink },
    Request { peer: PeerId, request: Request },
    Leave { peer: PeerId },
    Stream { peer: PeerId, direction: Direction, offer: String, signals: SignalSink, reply: Reply },
    TrackOpened { peer: PeerId, generation: u64, track: Arc<dyn TrackRemote> },
    TrackEnded { key: String },
    PeerFailed { peer: PeerId, leg: Leg, generation: u64 },
}

impl Cmd {
    fn name(&self) -> &'static str {
        match self {
            Cmd::Join { .. } => "join",
            Cmd::Request { request, .. } => match request {
                Request::Publish { .. } => "publish",
                Request::Answer { .. } => "answer",
                Request::Candidate { .. } => "candidate",
                Request::AudioOnly(_) => "audio_only",
                Request::HoldAudio(_) => "hold_audio",
            },
            Cmd::Leave { .. } => "leave",
            Cmd::Stream { direction: Direction::Ingest, .. } => "ingest",
            Cmd::Stream { direction: Direction::Egress, .. } => "egress",
            Cmd::TrackOpened { .. } => "track_opened",
            Cmd::TrackEnded { .. } => "track_ended",
            Cmd::PeerFailed { .. } => "peer_failed",
        }
    }
}

/// Candidates that came before their connection could take them.
const MAX_EARLY_CANDIDATES: usize = 64;

pub struct Room {
    id: RoomId,
    net: Arc<Net>,
    counters: Arc<Counters>,
    me: mpsc::WeakSender<Cmd>,
    participants: HashMap<PeerId, Participant>,
    published: HashMap<String, Arc<Published>>,
    /// Publication order, for egress: the latest camera wins.
    order: Vec<String>,
    readers: HashMap<String, JoinHandle<()>>,
    generation: u64,
}

fn bad_sdp(e: impl std::fmt::Display) -> MediaError {
    MediaError::BadSdp(e.to_string())
}

fn failed(e: impl std::fmt::Display) -> MediaError {
    MediaError::Failed(e.to_string())
}

fn ice(c: &Candidate) -> RTCIceCandidateInit {
    RTCIceCandidateInit {
        candidate: c.candidate.clone(),
        sdp_mid: c.sdp_mid.clone(),
        sdp_mline_index: c.sdp_mline_index,
        ..Default::default()
    }
}

impl Room {
    pub fn new(id: RoomId, net: Arc<Net>, counters: Arc<Counters>, me: mpsc::WeakSender<Cmd>) -> Room {
        Room {
            id,
            net,
            counters,
            me,
            participants: HashMap::new(),
            published: HashMap::new(),
            order: Vec::new(),
            readers: HashMap::new(),
            generation: 0,
        }
    }

    /// Handles commands until the last participant has left and nothing more is queued.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Cmd>, rooms: Arc<super::Rooms>) {
        while let Some(cmd) = rx.recv().await {
            self.handle(cmd).await;
            if self.participants.is_empty() {
                // Commands are queued under the rooms lock: checked and closed under it too, a
                // join that came in behind the last leave is handled here, not dropped.
                let mut rooms = rooms.lock().unwrap_or_else(|e| e.into_inner());
                if rx.is_empty() {
                    rx.close();
                    rooms.retain(|_, tx| !tx.is_closed());
                    break;
                }
            }
        }
        for p in self.participants.values_mut() {
            p.close();
        }
        for reader in self.readers.values() {
            reader.abort();
        }
        tracing::debug!(room = %self.id, "media room closed");
    }

    async fn handle(&mut self, cmd: Cmd) {
        let started = std::time::Instant::now();
        let what = cmd.name();
        self.dispatch(cmd).await;
        tracing::debug!(room = %self.id, what, took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX), "media command");
    }

    async fn dispatch(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Join { peer, signals } => {
                if let Some(mut old) = self.participants.insert(peer.clone(), Participant::new(signals, true))
                {
                    old.close();
                }
                // Whatever is already published comes their way.
                self.sync(&peer).await;
            }
            Cmd::Leave { peer } => self.leave(&peer).await,
            Cmd::Request { peer, request } => self.request(&peer, request).await,
            Cmd::Stream { peer, direction, offer, signals, reply } => {
                // A sending device receives nothing.
                let receives = direction == Direction::Egress;
                self.participants.insert(peer.clone(), Participant::new(signals, receives));
                let answer = match direction {
                    Direction::Ingest => self.publish(&peer, offer).await,
                    Direction::Egress => self.egress(&peer, offer).await,
                };
                if answer.is_err() {
                    self.leave(&peer).await;
                }
                let _ = reply.send(answer);
            }
            Cmd::TrackOpened { peer, generation, track } => self.track_opened(&peer, generation, track).await,
            Cmd::TrackEnded { key } => {
                if self.published.remove(&key).is_some() {
                    self.order.retain(|k| *k != key);
                    self.sync_all().await;
                }
            }
            Cmd::PeerFailed { peer, leg, generation } => self.peer_failed(&peer, leg, generation).await,
        }
    }

    fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    async fn request(&mut self, peer: &PeerId, request: Request) {
        let Some(p) = self.participants.get_mut(peer) else { return };
        match request {
            Request::AudioOnly(on) => p.audio_only.store(on, Ordering::Relaxed),
            Request::HoldAudio(on) => p.held.store(on, Ordering::Relaxed),
            Request::Candidate { leg, candidate } => {
                let pc = match leg {
                    Leg::Publish => p.publish.as_ref().map(|x| &x.pc),
                    Leg::Subscribe => p.subscribe.as_ref().filter(|s| !s.awaiting_answer).map(|s| &s.peer.pc),
                };
                match pc {
                    Some(pc) => {
                        if let Err(e) = pc.add_ice_candidate(ice(&candidate)).await {
                            tracing::debug!(error = %e, "a client's ICE candidate was refused");
                        }
                    }
                    None if p.early.len() < MAX_EARLY_CANDIDATES => p.early.push((leg, candidate)),
                    None => {}
                }
            }
            Request::Publish { sdp } => {
                let signals = p.signals.clone();
                match self.publish(peer, sdp).await {
                    Ok(sdp) => signals(Signal::PublishAnswer { sdp }),
                    Err(e) => signals(Signal::Failed { leg: Leg::Publish, reason: e.to_string() }),
                }
            }
            Request::Answer { sdp } => {
                if let Err(e) = self.answered(peer, sdp).await {
                    if let Some(signals) = self.participants.get(peer).map(|p| p.signals.clone()) {
                        signals(Signal::Failed { leg: Leg::Subscribe, reason: e.to_string() });
                    }
                    self.drop_subscriber(peer);
                    self.sync(peer).await;
                }
            }
        }
    }

    /// Applies candidates that arrived before `leg` could take them.
    async fn flush_early(&mut self, peer: &PeerId, leg: Leg) {
        let Some(p) = self.participants.get_mut(peer) else { return };
        let (now, later): (Vec<_>, Vec<_>) = p.early.drain(..).partition(|(l, _)| *l == leg);
        p.early = later;
        let pc = match leg {
            Leg::Publish => p.publish.as_ref().map(|x| x.pc.clone()),
            Leg::Subscribe => p.subscribe.as_ref().map(|x| x.peer.pc.clone()),
        };
        if let Some(pc) = pc {
            for (_, c) in now {
                let _ = pc.add_ice_candidate(ice(&c)).await;
            }
        }
    }

    /// Answers a publish offer (the first, or a renegotiation that adds a screen).
    async fn publish(&mut self, peer: &PeerId, offer: String) -> Result<String, MediaError> {
        let offer = RTCSessionDescription::offer(offer).map_err(bad_sdp)?;
        if self.participants.get(peer).is_some_and(|p| p.publish.is_none()) {
            let generation = self.next_generation();
            let built = Peer::build(&self.net, self.me.clone(), peer, Leg::Publish, generation)
                .await
                .map_err(failed)?;
            if let Some(p) = self.participants.get_mut(peer) {
                p.publish = Some(built);
            }
        }
        let Some(publisher) = self.participants.get_mut(peer).and_then(|p| p.publish.as_mut()) else {
            return Err(failed("not in this room"));
        };
        let pc = publisher.pc.clone();
        pc.set_remote_description(offer).await.map_err(bad_sdp)?;
        let answer = pc.create_answer(None).await.map_err(bad_sdp)?;
        pc.set_local_description(answer).await.map_err(failed)?;
        let sdp = publisher.local_sdp().await.ok_or_else(|| failed("no local description"))?;
        self.flush_early(peer, Leg::Publish).await;
        Ok(self.net.announce(sdp))
    }

    async fn track_opened(&mut self, peer: &PeerId, generation: u64, track: Arc<dyn TrackRemote>) {
        let Some(p) = self.participants.get_mut(peer) else { return };
        if p.publish.as_ref().is_none_or(|x| x.generation != generation) {
            return;
        }
        let Some(published) =
            Published::open(peer, track, p.held.clone(), &mut p.first_stream, self.counters.clone()).await
        else {
            return;
        };
        let key = published.key.clone();
        tracing::debug!(room = %self.id, %key, kind = %published.kind, "track published");
        let me = self.me.clone();
        let reader = tokio::spawn({
            let (published, key) = (published.clone(), key.clone());
            async move {
                published.read().await;
                if let Some(room) = me.upgrade() {
                    let _ = room.try_send(Cmd::TrackEnded { key });
                }
            }
        });
        if let Some(old) = self.readers.insert(key.clone(), reader) {
            old.abort();
        }
        self.order.retain(|k| *k != key);
        self.order.push(key.clone());
        self.published.insert(key, published);
        self.sync_all().await;
    }

    async fn leave(&mut self, peer: &PeerId) {
        let Some(mut p) = self.participants.remove(peer) else { return };
        p.close();
        let theirs: Vec<String> =
            self.published.values().filter(|t| t.owner == *peer).map(|t| t.key.clone()).collect();
        for key in &theirs {
            self.published.remove(key);
            if let Some(reader) = self.readers.remove(key) {
                reader.abort();
            }
        }
        self.order.retain(|k| !theirs.contains(k));
        if !theirs.is_empty() {
            self.sync_all().await;
        }
    }

    async fn peer_failed(&mut self, peer: &PeerId, leg: Leg, generation: u64) {
        let Some(p) = self.participants.get_mut(peer) else { return };
        let signals = p.signals.clone();
        match leg {
            Leg::Publish if p.publish.as_ref().is_some_and(|x| x.generation == generation) => {
                // Their tracks go; the client publishes again when told.
                let pc = p.publish.take().map(|x| x.pc);
                p.first_stream = None;
                if let Some(pc) = pc {
                    tokio::spawn(async move {
                        let _ = pc.close().await;
                    });
                }
                let keys: Vec<String> =
                    self.published.values().filter(|t| t.owner == *peer).map(|t| t.key.clone()).collect();
                for key in keys {
                    self.published.remove(&key);
                }
                signals(Signal::Failed { leg, reason: "the connection failed".into() });
                self.sync_all().await;
            }
            Leg::Subscribe if p.subscribe.as_ref().is_some_and(|x| x.peer.generation == generation) => {
                signals(Signal::Failed { leg, reason: "the connection failed".into() });
                self.drop_subscriber(peer);
                self.sync(peer).await;
            }
            _ => {}
        }
    }

    fn drop_subscriber(&mut self, peer: &PeerId) {
        if let Some(sub) = self.participants.get_mut(peer).and_then(|p| p.subscribe.take()) {
            let pc = sub.peer.pc.clone();
            drop(sub);
            tokio::spawn(async move {
                let _ = pc.close().await;
            });
        }
    }

    async fn sync_all(&mut self) {
        let peers: Vec<PeerId> = self.participants.keys().cloned().collect();
        for peer in peers {
            self.sync(&peer).await;
        }
    }

    /// Brings `peer`'s receiving connection in line with what others publish, offering anew if
    /// anything changed (or marking it to do so once the outstanding offer is answered).
    async fn sync(&mut self, peer: &PeerId) {
        let wanted: Vec<Arc<Published>> = self
            .order
            .iter()
            .filter_map(|k| self.published.get(k))
            .filter(|t| t.owner != *peer)
            .cloned()
            .collect();
        let Some(p) = self.participants.get(peer) else { return };
        if !p.receives || p.subscribe.as_ref().is_some_and(|s| s.fixed) {
            return;
        }
        if p.subscribe.is_none() {
            if wanted.is_empty() {
                return;
            }
            let generation = self.next_generation();
            match Peer::build(&self.net, self.me.clone(), peer, Leg::Subscribe, generation).await {
                Ok(built) => {
                    if let Some(p) = self.participants.get_mut(peer) {
                        p.subscribe = Some(Subscriber {
                            peer: built,
                            sending: HashMap::new(),
                            awaiting_answer: false,
                            dirty: false,
                            fixed: false,
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(room = %self.id, error = %e, "no receiving connection could be built");
                    return;
                }
            }
        }
        let Some(p) = self.participants.get_mut(peer) else { return };
        let video_off = p.audio_only.clone();
        let signals = p.signals.clone();
        let Some(sub) = p.subscribe.as_mut() else { return };
        // Tracks change only between negotiations: an offer is out, so this waits for its answer.
        if sub.awaiting_answer {
            sub.dirty = true;
            return;
        }
        let mut changed = false;
        let stale: Vec<String> =
            sub.sending.keys().filter(|k| !wanted.iter().any(|t| &t.key == *k)).cloned().collect();
        for key in stale {
            if let Some(s) = sub.sending.remove(&key) {
                let _ = sub.peer.pc.remove_track(&s.sender).await;
                changed = true;
            }
        }
        let new: Vec<Arc<Published>> =
            wanted.iter().filter(|t| !sub.sending.contains_key(&t.key)).cloned().collect();
        for track in &new {
            match add_sending(sub, track, &video_off).await {
                Ok(sending) => {
                    sub.sending.insert(track.key.clone(), sending);
                    changed = true;
                }
                Err(e) => tracing::warn!(room = %self.id, error = %e, "a track could not be added"),
            }
        }
        if !changed {
            return;
        }
        match offer(sub).await {
            Ok(sdp) => {
                sub.awaiting_answer = true;
                sub.dirty = false;
                tracing::debug!(room = %self.id, %peer, tracks = sub.sending.len(), "offering a subscriber");
                signals(Signal::SubscribeOffer { sdp: self.net.announce(sdp) });
            }
            Err(e) => tracing::warn!(room = %self.id, error = %e, "no offer for a subscriber"),
        }
    }

    /// The subscriber answered our offer: forwarding starts, and any change since goes out.
    async fn answered(&mut self, peer: &PeerId, sdp: String) -> Result<(), MediaError> {
        let answer = RTCSessionDescription::answer(sdp).map_err(bad_sdp)?;
        let Some(sub) = self.participants.get_mut(peer).and_then(|p| p.subscribe.as_mut()) else {
            return Ok(());
        };
        if !sub.awaiting_answer {
            return Ok(());
        }
        sub.peer.pc.set_remote_description(answer).await.map_err(bad_sdp)?;
        sub.awaiting_answer = false;
        tracing::debug!(room = %self.id, %peer, "a subscriber answered");
        start_forwarding(sub, &self.counters);
        let dirty = sub.dirty;
        self.flush_early(peer, Leg::Subscribe).await;
        if dirty {
            // What changed while our offer was out goes into the next one.
            if let Some(sub) = self.participants.get_mut(peer).and_then(|p| p.subscribe.as_mut()) {
                sub.dirty = false;
            }
            self.sync(peer).await;
        }
        Ok(())
    }

    /// WHEP: the client offers to receive; we answer with the camera and microphone of whoever
    /// published video last.
    async fn egress(&mut self, peer: &PeerId, offer: String) -> Result<String, MediaError> {
        let offer = RTCSessionDescription::offer(offer).map_err(bad_sdp)?;
        let owner = self
            .order
            .iter()
            .rev()
            .filter_map(|k| self.published.get(k))
            .find(|t| t.kind == RtpCodecKind::Video && t.stream_id == t.owner.as_str())
            .map(|t| t.owner.clone())
            .ok_or_else(|| failed("nothing is being published in this room yet"))?;
        let tracks: Vec<Arc<Published>> = self
            .published
            .values()
            .filter(|t| t.owner == owner && t.stream_id == owner.as_str())
            .cloned()
            .collect();
        let generation = self.next_generation();
        let built = Peer::build(&self.net, self.me.clone(), peer, Leg::Subscribe, generation)
            .await
            .map_err(failed)?;
        let mut sub = Subscriber {
            peer: built,
            sending: HashMap::new(),
            awaiting_answer: false,
            dirty: false,
            fixed: true,
        };
        sub.peer.pc.set_remote_description(offer).await.map_err(bad_sdp)?;
        let video_off = Arc::new(AtomicBool::new(false));
        for track in &tracks {
            let mut sending = add_sending(&mut sub, track, &video_off).await.map_err(failed)?;
            sending.offered = true;
            sub.sending.insert(track.key.clone(), sending);
        }
        let answer = sub.peer.pc.create_answer(None).await.map_err(bad_sdp)?;
        sub.peer.pc.set_local_description(answer).await.map_err(failed)?;
        let sdp = sub.peer.local_sdp().await.ok_or_else(|| failed("no local description"))?;
        start_forwarding(&mut sub, &self.counters);
        if let Some(p) = self.participants.get_mut(peer) {
            p.subscribe = Some(sub);
        }
        Ok(self.net.announce(sdp))
    }
}
