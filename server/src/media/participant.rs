//! A participant of a media room and their receiving connection: which published tracks it
//! carries, and its offers. Tracks are added or removed only between negotiations; forwarding of
//! a track starts once the offer that carried it is answered.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind};
use tokio::task::JoinHandle;
use webrtc::media_stream::MediaStreamTrack;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::rtp_transceiver::RtpSender;

use super::forward::{Forward, Published};
use super::peer::{self, Peer};
use super::{Candidate, Counters, Leg, SignalSink};

pub(super) struct Participant {
    pub(super) signals: SignalSink,
    pub(super) publish: Option<Peer>,
    pub(super) subscribe: Option<Subscriber>,
    pub(super) early: Vec<(Leg, Candidate)>,
    pub(super) audio_only: Arc<AtomicBool>,
    pub(super) held: Arc<AtomicBool>,
    pub(super) first_stream: Option<String>,
    /// Devices that only send (WHIP) receive nothing.
    pub(super) receives: bool,
}

impl Participant {
    pub(super) fn new(signals: SignalSink, receives: bool) -> Participant {
        Participant {
            signals,
            publish: None,
            subscribe: None,
            early: Vec::new(),
            audio_only: Arc::new(AtomicBool::new(false)),
            held: Arc::new(AtomicBool::new(false)),
            first_stream: None,
            receives,
        }
    }

    pub(super) fn close(&mut self) {
        for pc in [self.publish.take().map(|p| p.pc), self.subscribe.take().map(|s| s.peer.pc)]
            .into_iter()
            .flatten()
        {
            // Closing waits for the connection's driver (up to 100 ms); not on the room task.
            tokio::spawn(async move {
                let _ = pc.close().await;
            });
        }
    }
}

/// One subscriber's copy of a published track.
pub(super) struct Sending {
    pub(super) sender: Arc<dyn RtpSender>,
    /// Waiting for the subscriber's answer before it starts.
    pub(super) ready: Option<Forward>,
    /// In an offer we sent: starts once that offer is answered.
    pub(super) offered: bool,
    pub(super) task: Option<JoinHandle<()>>,
}

impl Drop for Sending {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

pub(super) struct Subscriber {
    pub(super) peer: Peer,
    pub(super) sending: HashMap<String, Sending>,
    pub(super) awaiting_answer: bool,
    /// Tracks changed while an offer was out: sync again after the answer.
    pub(super) dirty: bool,
    /// Egress (WHEP) connections are negotiated once, by the client.
    pub(super) fixed: bool,
}

pub(super) async fn add_sending(
    sub: &mut Subscriber,
    track: &Arc<Published>,
    video_off: &Arc<AtomicBool>,
) -> Result<Sending, String> {
    let ssrc: u32 = rand::random();
    let codec = peer::codec(track.kind);
    let payload_type = if track.kind == RtpCodecKind::Audio { peer::OPUS_PT } else { peer::VP8_PT };
    let local = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        track.stream_id.clone(),
        format!("{}-{}", track.owner, track.track_id),
        track.track_id.clone(),
        track.kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
            active: true,
            codec,
            ..Default::default()
        }],
    )));
    let sender =
        sub.peer.pc.add_track(local.clone() as Arc<dyn TrackLocal>).await.map_err(|e| e.to_string())?;
    Ok(Sending {
        sender,
        ready: Some(Forward {
            published: track.clone(),
            local,
            ssrc,
            payload_type,
            video_off: video_off.clone(),
        }),
        offered: false,
        task: None,
    })
}

pub(super) fn start_forwarding(sub: &mut Subscriber, counters: &Arc<Counters>) {
    for sending in sub.sending.values_mut().filter(|s| s.offered) {
        if let Some(forward) = sending.ready.take() {
            sending.task = Some(tokio::spawn(forward.run(counters.clone())));
        }
    }
}

pub(super) async fn offer(sub: &mut Subscriber) -> Result<String, String> {
    for sending in sub.sending.values_mut() {
        sending.offered = true;
    }
    let offer = sub.peer.pc.create_offer(None).await.map_err(|e| e.to_string())?;
    sub.peer.pc.set_local_description(offer).await.map_err(|e| e.to_string())?;
    sub.peer.local_sdp().await.ok_or_else(|| "no local description".to_string())
}
