//! Building one server-side peer connection: the codecs we forward (VP8 and Opus, so payload
//! types are the same on every leg), NACK and RTCP reports, an interceptor that hands keyframe
//! requests from receivers to us, and a handler that turns the connection's events into room
//! commands.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};
use rtc::sansio::Protocol;
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceGatheringState, RTCPeerConnectionState, Registry, SettingEngineBuilder, Slot,
    register_default_interceptors,
};

use super::net::Net;
use super::room::Cmd;
use super::{Leg, PeerId};

/// Payload type of VP8 on every leg.
pub const VP8_PT: u8 = 96;
/// Payload type of Opus on every leg.
pub const OPUS_PT: u8 = 111;
/// How long we wait for our own ICE candidates before answering anyway.
const GATHER_WAIT: Duration = Duration::from_secs(2);

fn fb(typ: &str, parameter: &str) -> RTCPFeedback {
    RTCPFeedback { typ: typ.into(), parameter: parameter.into() }
}

/// The codec a forwarded track of `kind` is sent with.
pub fn codec(kind: RtpCodecKind) -> RTCRtpCodec {
    match kind {
        RtpCodecKind::Audio => RTCRtpCodec {
            mime_type: MIME_TYPE_OPUS.into(),
            clock_rate: 48_000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
            rtcp_feedback: vec![],
        },
        _ => RTCRtpCodec {
            mime_type: MIME_TYPE_VP8.into(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![fb("ccm", "fir"), fb("nack", ""), fb("nack", "pli")],
        },
    }
}

/// A media engine with just the codecs we forward, at their fixed payload types.
pub fn media_engine() -> webrtc::error::Result<MediaEngine> {
    let mut engine = MediaEngine::default();
    engine.register_codec(
        RTCRtpCodecParameters { rtp_codec: codec(RtpCodecKind::Audio), payload_type: OPUS_PT },
        RtpCodecKind::Audio,
    )?;
    engine.register_codec(
        RTCRtpCodecParameters { rtp_codec: codec(RtpCodecKind::Video), payload_type: VP8_PT },
        RtpCodecKind::Video,
    )?;
    Ok(engine)
}

/// Hands inbound keyframe requests (PLI, FIR) to the application, where the forwarding task
/// relays them to the publisher; everything else passes on untouched.
#[derive(Default)]
pub struct KeyframeTap {
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

pub fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeTap {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet
            && packets.iter().any(|p| is_keyframe_request(p.as_ref()))
        {
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl Interceptor for KeyframeTap {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}

/// Turns one connection's events into commands for its room.
struct Events {
    room: mpsc::WeakSender<Cmd>,
    peer: PeerId,
    leg: Leg,
    generation: u64,
    gathered: watch::Sender<bool>,
}

impl Events {
    fn tell(&self, cmd: Cmd) {
        if let Some(room) = self.room.upgrade()
            && room.try_send(cmd).is_err()
        {
            tracing::warn!(peer = %self.peer, "media room queue full; a peer event was dropped");
        }
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        if matches!(state, RTCPeerConnectionState::Failed) {
            self.tell(Cmd::PeerFailed {
                peer: self.peer.clone(),
                leg: self.leg,
                generation: self.generation,
            });
        }
    }

    // Runs on the connection's driver task: hand the track over, never work here.
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        self.tell(Cmd::TrackOpened { peer: self.peer.clone(), generation: self.generation, track });
    }
}

/// A server-side peer connection and a way to wait for its candidates.
pub struct Peer {
    pub pc: Arc<dyn PeerConnection>,
    gathered: watch::Receiver<bool>,
    /// Which connection of this participant this is; events of older ones are ignored.
    pub generation: u64,
}

impl Peer {
    pub async fn build(
        net: &Net,
        room: mpsc::WeakSender<Cmd>,
        peer: &PeerId,
        leg: Leg,
        generation: u64,
    ) -> Result<Peer, String> {
        let (gathered_tx, gathered) = watch::channel(false);
        let handler = Arc::new(Events { room, peer: peer.clone(), leg, generation, gathered: gathered_tx });
        let mut last_error = String::from("no port was free");
        for port in net.ports() {
            let mut engine = media_engine().map_err(|e| e.to_string())?;
            let registry = register_default_interceptors(Registry::new(), &mut engine)
                .map_err(|e| e.to_string())?
                .with(Slot::from(14_000usize), KeyframeTap::default());
            let settings =
                SettingEngineBuilder::new().with_multicast_dns_mode(MulticastDnsMode::Disabled).build();
            let addrs: Vec<String> =
                net.addrs.iter().map(|ip| std::net::SocketAddr::new(*ip, port).to_string()).collect();
            let built = PeerConnectionBuilder::new()
                .with_configuration(RTCConfigurationBuilder::new().build())
                .with_media_engine(engine)
                .with_interceptor_registry(registry)
                .with_setting_engine(settings)
                .with_handler(handler.clone() as Arc<dyn PeerConnectionEventHandler>)
                .with_udp_addrs(addrs)
                .build()
                .await;
            match built {
                Ok(pc) => return Ok(Peer { pc: Arc::new(pc), gathered, generation }),
                Err(e) => last_error = e.to_string(),
            }
        }
        Err(last_error)
    }

    /// Our current local description once candidates are in it (or after [`GATHER_WAIT`]).
    pub async fn local_sdp(&mut self) -> Option<String> {
        let _ = tokio::time::timeout(GATHER_WAIT, self.gathered.wait_for(|done| *done)).await;
        self.pc.local_description().await.map(|d| d.sdp)
    }
}
