//! The per-packet path. A publisher's track is read by one task that hands each packet to a
//! broadcast channel; each subscriber of that track has a forwarding task that rewrites the
//! packet for its own leg (SSRC, payload type, no foreign header extensions, sequence numbers
//! without gaps where we skipped packets) and writes it. A subscriber that falls behind loses
//! packets, never slows the publisher or the others, and gets a fresh keyframe.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::broadcast;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::peer::is_keyframe_request;
use super::{Counters, PeerId};

/// Packets buffered per published track for subscribers that are momentarily behind
/// (about two seconds of 1 Mbit/s video).
pub const FANOUT_BUFFER: usize = 256;
/// Forwarded packets a task counts before adding them to the shared total.
const COUNT_BATCH: u64 = 16;
/// Fewest milliseconds between two keyframe requests to one publisher.
const KEYFRAME_INTERVAL_MS: i64 = 300;

/// Milliseconds since the first call, on the process's monotonic clock.
fn monotonic_ms() -> i64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    i64::try_from(START.get_or_init(std::time::Instant::now).elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// A track someone publishes into the room.
pub struct Published {
    /// `{peer}/{track id}`: unique in the room.
    pub key: String,
    pub owner: PeerId,
    pub kind: RtpCodecKind,
    /// Stream id subscribers see: `{peer}` or `{peer}~{their stream id}` for a second stream
    /// (a shared screen), so a client can tell whose it is.
    pub stream_id: String,
    pub track_id: String,
    pub fanout: broadcast::Sender<rtp::Packet>,
    remote: Arc<dyn TrackRemote>,
    ssrc: u32,
    last_keyframe_request: AtomicI64,
    /// A clinician muted this participant: their audio is held back.
    pub held: Arc<AtomicBool>,
    counters: Arc<Counters>,
}

impl Published {
    pub async fn open(
        owner: &PeerId,
        remote: Arc<dyn TrackRemote>,
        held: Arc<AtomicBool>,
        first_stream: &mut Option<String>,
        counters: Arc<Counters>,
    ) -> Option<Arc<Published>> {
        let ssrc = remote.ssrcs().await.first().copied()?;
        let kind = remote.kind().await;
        let their_stream = remote.stream_id().await;
        let track_id = remote.track_id().await;
        // The first stream a participant sends is their camera and microphone; any other is a
        // screen (or a second camera).
        let stream_id = match first_stream {
            Some(first) if *first != their_stream => format!("{owner}~{their_stream}"),
            Some(_) => owner.to_string(),
            None => {
                *first_stream = Some(their_stream);
                owner.to_string()
            }
        };
        let (fanout, _) = broadcast::channel(FANOUT_BUFFER);
        Some(Arc::new(Published {
            key: format!("{owner}/{track_id}"),
            owner: owner.clone(),
            kind,
            stream_id,
            track_id,
            fanout,
            remote,
            ssrc,
            last_keyframe_request: AtomicI64::new(-KEYFRAME_INTERVAL_MS),
            held,
            counters,
        }))
    }

    /// Asks the publisher for a keyframe, at most every [`KEYFRAME_INTERVAL_MS`] (on a
    /// monotonic clock: a wall-clock step must neither silence nor flood the requests).
    pub fn request_keyframe(self: &Arc<Self>) {
        if self.kind != RtpCodecKind::Video {
            return;
        }
        let now = monotonic_ms();
        let last = self.last_keyframe_request.load(Ordering::Relaxed);
        if now - last < KEYFRAME_INTERVAL_MS
            || self
                .last_keyframe_request
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.counters.keyframe_requests.fetch_add(1, Ordering::Relaxed);
        let me = self.clone();
        tokio::spawn(async move {
            let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc: me.ssrc };
            let _ = me.remote.write_rtcp(vec![Box::new(pli)]).await;
        });
    }

    /// Reads the publisher's packets until the track ends.
    pub async fn read(self: Arc<Self>) {
        while let Some(event) = self.remote.poll().await {
            match event {
                TrackRemoteEvent::OnRtpPacket(packet) => {
                    if self.kind == RtpCodecKind::Audio && self.held.load(Ordering::Relaxed) {
                        continue;
                    }
                    // No subscriber yet is not an error.
                    let _ = self.fanout.send(packet);
                }
                TrackRemoteEvent::OnEnded => break,
                _ => {}
            }
        }
    }
}

/// Rewrites one publisher's packets for one subscriber's leg.
#[derive(Debug)]
pub struct Rewriter {
    ssrc: u32,
    payload_type: u8,
    offset: u16,
    last: Option<u16>,
    resync: bool,
}

impl Rewriter {
    pub fn new(ssrc: u32, payload_type: u8) -> Rewriter {
        Rewriter { ssrc, payload_type, offset: 0, last: None, resync: false }
    }

    /// Packets were skipped: the next one continues our numbering without a gap, so the
    /// receiver does not ask for packets it will never get.
    pub fn skipped(&mut self) {
        self.resync = true;
    }

    pub fn rewrite(&mut self, packet: &mut rtp::Packet) {
        let h = &mut packet.header;
        if self.resync {
            if let Some(last) = self.last {
                self.offset = last.wrapping_add(1).wrapping_sub(h.sequence_number);
            }
            self.resync = false;
        }
        let seq = h.sequence_number.wrapping_add(self.offset);
        // A retransmission or reordered packet keeps its place; `last` only moves forward.
        if self.last.is_none_or(|last| seq.wrapping_sub(last) < 0x8000) {
            self.last = Some(seq);
        }
        h.sequence_number = seq;
        h.ssrc = self.ssrc;
        h.payload_type = self.payload_type;
        // The publisher's extension ids mean nothing on this leg.
        h.extension = false;
        h.extension_profile = 0;
        h.extensions.clear();
    }
}

/// One subscriber's copy of one published track.
pub struct Forward {
    pub published: Arc<Published>,
    pub local: Arc<TrackLocalStaticRTP>,
    pub ssrc: u32,
    pub payload_type: u8,
    /// The subscriber chose audio only: their video is not sent.
    pub video_off: Arc<AtomicBool>,
}

impl Forward {
    /// Forwards packets until the subscriber's connection or the publisher's track ends.
    pub async fn run(self, counters: Arc<Counters>) {
        let Forward { published, local, ssrc, payload_type, video_off } = self;
        let mut rx = published.fanout.subscribe();
        let is_video = published.kind == RtpCodecKind::Video;
        // Keyframe requests from this subscriber go to the publisher.
        let feedback = {
            let (local, published) = (local.clone(), published.clone());
            tokio::spawn(async move {
                while let Some(event) = local.poll().await {
                    if let TrackLocalEvent::OnRtcpPacket(packets) = event
                        && packets.iter().any(|p| is_keyframe_request(p.as_ref()))
                    {
                        published.request_keyframe();
                    }
                }
            })
        };
        // A new subscriber sees nothing until the next keyframe.
        published.request_keyframe();
        let mut rw = Rewriter::new(ssrc, payload_type);
        let mut was_off = false;
        let mut forwarded = 0u64;
        loop {
            match rx.recv().await {
                Ok(mut packet) => {
                    if is_video && video_off.load(Ordering::Relaxed) {
                        was_off = true;
                        rw.skipped();
                        continue;
                    }
                    if was_off {
                        was_off = false;
                        published.request_keyframe();
                    }
                    rw.rewrite(&mut packet);
                    if local.write_rtp(packet).await.is_err() {
                        break;
                    }
                    // Counted locally: a shared atomic per packet would bounce between cores.
                    forwarded += 1;
                    if forwarded == COUNT_BATCH {
                        counters.forwarded.fetch_add(forwarded, Ordering::Relaxed);
                        forwarded = 0;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    counters.dropped.fetch_add(n, Ordering::Relaxed);
                    rw.skipped();
                    published.request_keyframe();
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
        counters.forwarded.fetch_add(forwarded, Ordering::Relaxed);
        feedback.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u16) -> rtp::Packet {
        let mut p = rtp::Packet::default();
        p.header.sequence_number = seq;
        p.header.ssrc = 1;
        p.header.payload_type = 100;
        p.header.extension = true;
        p
    }

    fn run(rw: &mut Rewriter, seq: u16) -> rtp::Packet {
        let mut p = packet(seq);
        rw.rewrite(&mut p);
        p
    }

    #[test]
    fn packets_are_rewritten_for_the_subscriber_leg() {
        let mut rw = Rewriter::new(77, 96);
        let p = run(&mut rw, 65535);
        assert_eq!((p.header.ssrc, p.header.payload_type, p.header.extension), (77, 96, false));
        assert_eq!(p.header.sequence_number, 65535);
        assert_eq!(run(&mut rw, 0).header.sequence_number, 0, "wraps like the source");
    }

    #[test]
    fn skipped_packets_leave_no_gap_in_sequence_numbers() {
        let mut rw = Rewriter::new(1, 96);
        assert_eq!(run(&mut rw, 100).header.sequence_number, 100);
        assert_eq!(run(&mut rw, 101).header.sequence_number, 101);
        rw.skipped(); // 102..=199 never sent
        assert_eq!(run(&mut rw, 200).header.sequence_number, 102);
        assert_eq!(run(&mut rw, 201).header.sequence_number, 103);
        // A late retransmission does not move the numbering backwards.
        assert_eq!(run(&mut rw, 199).header.sequence_number, 101);
        assert_eq!(run(&mut rw, 202).header.sequence_number, 104);
    }
}
