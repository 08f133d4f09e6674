//! A WebRTC client built on the same `webrtc` crate as the server, for integration tests and
//! the SFU load tool. It joins a room over the real signalling WebSocket, publishes synthetic
//! audio and video RTP (the SFU never decodes, so any payload will do), and receives everyone
//! else's, counting packets, sequence gaps, latency (the send time rides in the payload) and
//! the keyframe requests that reach it as a publisher.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use consilium::media::{KeyframeTap, OPUS_PT, VP8_PT, codec, is_keyframe_request, media_engine};
use futures_util::{SinkExt, StreamExt};
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use webrtc::media_stream::MediaStreamTrack;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCSessionDescription, Registry, SettingEngineBuilder, Slot, register_default_interceptors,
};

/// What one client publishes.
#[derive(Clone, Copy, Debug)]
pub struct Rates {
    pub video_pps: u32,
    pub video_bytes: usize,
    pub audio_pps: u32,
}

impl Rates {
    /// About 1 Mbit/s of video in 1100-byte packets, and 50 audio packets a second.
    pub const REALISTIC: Rates = Rates { video_pps: 115, video_bytes: 1100, audio_pps: 50 };
}

/// Per received stream (one publisher's track).
#[derive(Clone, Debug, Default)]
pub struct Stream {
    pub kind: String,
    pub packets: u64,
    /// Sequence numbers that never arrived between two that did.
    pub missing: u64,
    last_seq: Option<u16>,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub received: AtomicU64,
    pub keyframe_requests: AtomicU64,
    /// Keyed by `{stream id}/{kind}`.
    pub streams: Mutex<HashMap<String, Stream>>,
    /// Microseconds from send to receipt, sampled.
    pub latencies_us: Mutex<Vec<u32>>,
    pub record_latency: AtomicBool,
}

impl Stats {
    pub fn streams(&self) -> HashMap<String, Stream> {
        self.streams.lock().unwrap().clone()
    }
}

fn now_us() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros())
        .unwrap_or(u64::MAX)
}

struct Events {
    gathered: watch::Sender<bool>,
    stats: Arc<Stats>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let stats = self.stats.clone();
        tokio::spawn(async move {
            let kind = if track.kind().await == RtpCodecKind::Audio { "audio" } else { "video" };
            let key = format!("{}/{kind}", track.stream_id().await);
            while let Some(event) = track.poll().await {
                let TrackRemoteEvent::OnRtpPacket(packet) = event else { continue };
                stats.received.fetch_add(1, Ordering::Relaxed);
                if stats.record_latency.load(Ordering::Relaxed) && packet.payload.len() >= 8 {
                    let sent = u64::from_be_bytes(packet.payload[..8].try_into().unwrap());
                    let us = u32::try_from(now_us().saturating_sub(sent)).unwrap_or(u32::MAX);
                    let mut l = stats.latencies_us.lock().unwrap();
                    if l.len() < 2_000_000 {
                        l.push(us);
                    }
                }
                let mut streams = stats.streams.lock().unwrap();
                let s = streams
                    .entry(key.clone())
                    .or_insert_with(|| Stream { kind: kind.into(), ..Default::default() });
                s.packets += 1;
                let seq = packet.header.sequence_number;
                if let Some(last) = s.last_seq {
                    let step = seq.wrapping_sub(last);
                    if step > 0 && step < 0x8000 {
                        s.missing += u64::from(step - 1);
                        s.last_seq = Some(seq);
                    }
                } else {
                    s.last_seq = Some(seq);
                }
            }
        });
    }
}

struct Pc {
    pc: Arc<dyn PeerConnection>,
    gathered: watch::Receiver<bool>,
}

async fn peer_connection(stats: Arc<Stats>) -> anyhow::Result<Pc> {
    let mut engine = media_engine()?;
    let registry = register_default_interceptors(Registry::new(), &mut engine)?
        .with(Slot::from(14_000usize), KeyframeTap::default());
    let (tx, gathered) = watch::channel(false);
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .with_setting_engine(
            SettingEngineBuilder::new()
                .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
                .build(),
        )
        .with_handler(Arc::new(Events { gathered: tx, stats }) as Arc<dyn PeerConnectionEventHandler>)
        .with_udp_addrs(vec!["127.0.0.1:0".to_string()])
        .build()
        .await?;
    Ok(Pc { pc: Arc::new(pc), gathered })
}

impl Pc {
    async fn local_sdp(&mut self) -> anyhow::Result<String> {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.gathered.wait_for(|d| *d)).await;
        Ok(self.pc.local_description().await.context("no local description")?.sdp)
    }
}

type Shared<T> = Arc<Mutex<Option<T>>>;

/// One participant.
pub struct Client {
    pub stats: Arc<Stats>,
    out: mpsc::UnboundedSender<Value>,
    events: mpsc::UnboundedReceiver<Value>,
    publish: Shared<Arc<dyn PeerConnection>>,
    subscribe: Shared<Arc<dyn PeerConnection>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Client {
    /// Opens the room's signalling socket with a Bearer token.
    pub async fn join(addr: std::net::SocketAddr, room: &str, token: &str) -> anyhow::Result<Client> {
        let mut req = format!("ws://{addr}/rooms/{room}/ws").into_client_request()?;
        req.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
        let (socket, _) = tokio_tungstenite::connect_async(req).await?;
        let (mut sink, mut stream) = socket.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Value>();
        let (events_tx, events) = mpsc::unbounded_channel();
        let stats = Arc::new(Stats::default());
        let publish: Shared<Arc<dyn PeerConnection>> = Arc::default();
        let subscribe: Shared<Arc<dyn PeerConnection>> = Arc::default();
        let writer = tokio::spawn(async move {
            while let Some(v) = out_rx.recv().await {
                if sink.send(Message::Text(v.to_string().into())).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let reader = {
            let (out, stats, publish, subscribe) =
                (out.clone(), stats.clone(), publish.clone(), subscribe.clone());
            tokio::spawn(async move {
                while let Some(Ok(frame)) = stream.next().await {
                    let Message::Text(text) = frame else { continue };
                    let Ok(m) = serde_json::from_str::<Value>(&text) else { continue };
                    match m["type"].as_str() {
                        Some("publish_answer") => {
                            let pc = publish.lock().unwrap().clone();
                            if let (Some(pc), Some(sdp)) = (pc, m["sdp"].as_str()) {
                                let answer = RTCSessionDescription::answer(sdp.to_string());
                                if let Ok(answer) = answer {
                                    let _ = pc.set_remote_description(answer).await;
                                }
                            }
                        }
                        Some("subscribe_offer") => {
                            let sdp = m["sdp"].as_str().unwrap_or_default().to_string();
                            if let Err(e) = answer_offer(&subscribe, &stats, &out, sdp).await {
                                tracing::warn!(error = %e, "answering the SFU's offer");
                            }
                        }
                        _ => {}
                    }
                    if events_tx.send(m).is_err() {
                        break;
                    }
                }
                let _ = events_tx.send(json!({"type": "closed"}));
            })
        };
        Ok(Client { stats, out, events, publish, subscribe, tasks: vec![writer, reader] })
    }

    pub fn send(&self, v: Value) {
        let _ = self.out.send(v);
    }

    /// The next server message of `kind`, skipping others (10 s at most).
    pub async fn wait_for(&mut self, kind: &str) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let m = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .map_err(|_| anyhow!("no {kind} within 10 s"))?
                .ok_or_else(|| anyhow!("socket gone"))?;
            if m["type"] == kind {
                return Ok(m);
            }
            if m["type"] == "closed" {
                return Err(anyhow!("closed while waiting for {kind}"));
            }
        }
    }

    /// Starts publishing audio and video at `rates`.
    pub async fn publish(&mut self, rates: Rates) -> anyhow::Result<()> {
        let mut pc = peer_connection(self.stats.clone()).await?;
        let tracks = add_tracks(&pc, rates).await?;
        let offer = pc.pc.create_offer(None).await?;
        pc.pc.set_local_description(offer).await?;
        let sdp = pc.local_sdp().await?;
        *self.publish.lock().unwrap() = Some(pc.pc.clone());
        self.send(json!({"type": "publish", "sdp": sdp}));
        self.tasks.extend(start_sending(tracks, &self.stats));
        Ok(())
    }

    /// Packets received so far on each stream.
    pub fn streams(&self) -> HashMap<String, Stream> {
        self.stats.streams()
    }

    /// Closes the socket and both connections.
    pub async fn close(self) {
        for t in &self.tasks {
            t.abort();
        }
        let publish = self.publish.lock().unwrap().take();
        let subscribe = self.subscribe.lock().unwrap().take();
        for pc in [publish, subscribe].into_iter().flatten() {
            let _ = pc.close().await;
        }
    }
}

type Outgoing = (Arc<TrackLocalStaticRTP>, u32, u8, u32, usize);

async fn add_tracks(pc: &Pc, rates: Rates) -> anyhow::Result<Vec<Outgoing>> {
    let stream_id = format!("cam-{}", rand_u32());
    let mut tracks = Vec::new();
    for (kind, pt, pps, bytes) in [
        (RtpCodecKind::Audio, OPUS_PT, rates.audio_pps, 160usize),
        (RtpCodecKind::Video, VP8_PT, rates.video_pps, rates.video_bytes),
    ] {
        if pps == 0 {
            continue;
        }
        let ssrc = rand_u32();
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            stream_id.clone(),
            format!("{kind}-{ssrc}"),
            format!("{kind}"),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
                active: true,
                codec: codec(kind),
                ..Default::default()
            }],
        )));
        pc.pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
        tracks.push((track, ssrc, pt, pps, bytes));
    }
    Ok(tracks)
}

fn start_sending(tracks: Vec<Outgoing>, stats: &Arc<Stats>) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    for (track, ssrc, pt, pps, bytes) in tracks {
        // Keyframe requests from the SFU.
        let (feedback, fb_stats) = (track.clone(), stats.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(event) = feedback.poll().await {
                if let TrackLocalEvent::OnRtcpPacket(packets) = event
                    && packets.iter().any(|p| is_keyframe_request(p.as_ref()))
                {
                    fb_stats.keyframe_requests.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
        tasks.push(tokio::spawn(send_rtp(track, ssrc, pt, pps, bytes, stats.clone())));
    }
    tasks
}

/// A camera streaming into a room over WHIP, or a viewer watching over WHEP.
pub struct Device {
    pub stats: Arc<Stats>,
    pub status: u16,
    pub location: Option<String>,
    pc: Arc<dyn PeerConnection>,
    tasks: Vec<JoinHandle<()>>,
}

impl Device {
    /// POSTs an offer to `url` (`.../whip/...` sends `rates`; `.../whep/...` only receives).
    pub async fn start(url: &str, token: &str, rates: Option<Rates>) -> anyhow::Result<Device> {
        let stats = Arc::new(Stats::default());
        let mut pc = peer_connection(stats.clone()).await?;
        let tracks = match rates {
            Some(r) => add_tracks(&pc, r).await?,
            None => {
                use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
                for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
                    let init = RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Recvonly,
                        ..Default::default()
                    };
                    pc.pc.add_transceiver_from_kind(kind, Some(init)).await?;
                }
                Vec::new()
            }
        };
        let offer = pc.pc.create_offer(None).await?;
        pc.pc.set_local_description(offer).await?;
        let sdp = pc.local_sdp().await?;
        let response = reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/sdp")
            .body(sdp)
            .send()
            .await?;
        let status = response.status().as_u16();
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(String::from);
        let body = response.text().await?;
        let mut tasks = Vec::new();
        if status == 201 {
            pc.pc.set_remote_description(RTCSessionDescription::answer(body)?).await?;
            tasks = start_sending(tracks, &stats);
        }
        Ok(Device { stats, status, location, pc: pc.pc, tasks })
    }

    pub fn streams(&self) -> HashMap<String, Stream> {
        self.stats.streams()
    }

    pub async fn close(self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.pc.close().await;
    }
}

fn rand_u32() -> u32 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    let n = u32::try_from(COUNTER.fetch_add(1, Ordering::Relaxed) % (1 << 32)).unwrap_or(0);
    nanos.rotate_left(13) ^ n.wrapping_mul(0x9E37_79B9) ^ std::process::id()
}

static COUNTER: AtomicU64 = AtomicU64::new(1);

async fn answer_offer(
    subscribe: &Shared<Arc<dyn PeerConnection>>,
    stats: &Arc<Stats>,
    out: &mpsc::UnboundedSender<Value>,
    sdp: String,
) -> anyhow::Result<()> {
    let existing = subscribe.lock().unwrap().clone();
    let (pc, mut gathered) = match existing {
        Some(pc) => (pc, None),
        None => {
            let built = peer_connection(stats.clone()).await?;
            *subscribe.lock().unwrap() = Some(built.pc.clone());
            (built.pc, Some(built.gathered))
        }
    };
    pc.set_remote_description(RTCSessionDescription::offer(sdp)?).await?;
    let answer = pc.create_answer(None).await?;
    pc.set_local_description(answer).await?;
    if let Some(g) = gathered.as_mut() {
        let _ = tokio::time::timeout(Duration::from_secs(2), g.wait_for(|d| *d)).await;
    }
    let sdp = pc.local_description().await.context("no local description")?.sdp;
    let _ = out.send(json!({"type": "answer", "sdp": sdp}));
    Ok(())
}

/// Sends packets at `pps`: the first 8 payload bytes carry the send time in microseconds.
async fn send_rtp(
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    pt: u8,
    pps: u32,
    bytes: usize,
    stats: Arc<Stats>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(pps)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut seq: u16 = u16::try_from(rand_u32() >> 16).unwrap_or(0);
    let mut timestamp: u32 = rand_u32();
    let per_frame = if pt == VP8_PT { 4 } else { 1 };
    let clock_step = if pt == VP8_PT { 90_000 * per_frame / pps.max(1) } else { 960 };
    let mut payload = vec![0u8; bytes.max(8)];
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        payload[..8].copy_from_slice(&now_us().to_be_bytes());
        let packet = rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                payload_type: pt,
                sequence_number: seq,
                timestamp,
                ssrc,
                marker: (n + 1).is_multiple_of(u64::from(per_frame)),
                ..Default::default()
            },
            payload: payload.clone().into(),
        };
        if track.write_rtp(packet).await.is_ok() {
            stats.sent.fetch_add(1, Ordering::Relaxed);
        }
        n += 1;
        seq = seq.wrapping_add(1);
        if n.is_multiple_of(u64::from(per_frame)) {
            timestamp = timestamp.wrapping_add(clock_step);
        }
    }
}
