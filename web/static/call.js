// Media in the room: two peer connections to the server's SFU. On "publish" we send our camera,
// microphone and perhaps a screen (we offer, the server answers); on "subscribe" we receive
// everyone else (the server offers, we answer), so neither side's offers ever collide.
// Stream ids on the subscribe side are the publisher's participant id, or "<id>~<stream>" for
// a second stream such as a shared screen.

// TURN (and STUN) servers for this user, with time-limited credentials; none when the clinic
// runs no TURN server, which is fine on a LAN or when the SFU has a public address.
let iceServers = [];
async function loadIceServers() {
  try {
    const r = await fetch("/api/v1/turn-credentials");
    if (r.ok) iceServers = (await r.json()).ice_servers;
  } catch {
    iceServers = [];
  }
}
const iceReady = loadIceServers();

export class Call {
  constructor({ send, onStream, onStreamGone, onStats }) {
    this.send = send;
    this.onStream = onStream;
    this.onStreamGone = onStreamGone;
    this.onStats = onStats;
    this.pub = null;
    this.sub = null;
    this.local = null;
    this.screen = null;
    this.screenSender = null;
    this.trackStream = new Map(); // receiving track id -> stream id
    this.last = new Map(); // stats of the previous round, for rates
    this.statsTimer = null;
  }

  // Starts (or restarts) publishing; the receiving side is left as it is.
  async start(localStream) {
    if (this.pub) this.pub.close();
    this.pub = null;
    this.screenSender = null;
    clearInterval(this.statsTimer);
    this.local = localStream;
    await iceReady;
    const pub = new RTCPeerConnection({ iceServers });
    this.pub = pub;
    pub.onicecandidate = (e) => this.trickle("publish", e.candidate);
    pub.onconnectionstatechange = () => {
      if (pub.connectionState === "failed" && this.pub === pub) this.restart();
    };
    this.cameraSender = null;
    for (const track of localStream.getTracks()) {
      const { sender } = pub.addTransceiver(track, { direction: "sendonly", streams: [localStream] });
      if (track.kind === "video") this.cameraSender = sender;
    }
    if (this.screen) {
      this.screenSender = pub.addTransceiver(this.screen.getVideoTracks()[0], { direction: "sendonly", streams: [this.screen] }).sender;
    }
    await this.offer();
    this.statsTimer = setInterval(() => this.measure(), 1000);
  }

  // Our ICE candidates go to the server, UDP only: it takes no TCP candidates.
  trickle(leg, candidate) {
    if (!candidate || / tcp /i.test(candidate.candidate)) return;
    this.send({ type: "candidate", leg, candidate: candidate.toJSON() });
  }

  async offer() {
    const offer = await this.pub.createOffer();
    await this.pub.setLocalDescription(offer);
    this.send({ type: "publish", sdp: offer.sdp });
  }

  async restart() {
    if (this.local) await this.start(this.local);
  }

  async publishAnswer(sdp) {
    // An answer to an offer of a connection we have since replaced is dropped.
    if (this.pub?.signalingState === "have-local-offer") await this.pub.setRemoteDescription({ type: "answer", sdp });
  }

  async subscribeOffer(sdp) {
    if (!this.sub) {
      await iceReady;
      const sub = new RTCPeerConnection({ iceServers });
      this.sub = sub;
      sub.onicecandidate = (e) => this.trickle("subscribe", e.candidate);
      sub.ontrack = (e) => {
        const stream = e.streams[0];
        if (!stream) return;
        this.trackStream.set(e.track.id, stream.id);
        this.onStream(stream.id, stream);
        stream.onremovetrack = () => {
          if (stream.getTracks().length === 0) this.onStreamGone(stream.id);
        };
      };
    }
    await this.sub.setRemoteDescription({ type: "offer", sdp });
    const answer = await this.sub.createAnswer();
    await this.sub.setLocalDescription(answer);
    this.send({ type: "answer", sdp: answer.sdp });
  }

  // The server's receiving connection failed: it builds a new one and offers again.
  subscribeFailed() {
    if (this.sub) this.sub.close();
    this.sub = null;
  }

  setMic(on) { this.local?.getAudioTracks().forEach((t) => (t.enabled = on)); }
  setCamera(on) { this.local?.getVideoTracks().forEach((t) => (t.enabled = on)); }

  async shareScreen(stream) {
    this.screen = stream;
    const track = stream ? stream.getVideoTracks()[0] : null;
    if (!this.pub) return;
    if (this.screenSender) {
      await this.screenSender.replaceTrack(track);
    } else if (track) {
      this.screenSender = this.pub.addTransceiver(track, { direction: "sendonly", streams: [stream] }).sender;
      await this.offer();
    }
  }

  // Sending our own video or not (audio-only fallback saves the uplink too).
  async sendVideo(on) {
    const track = this.local?.getVideoTracks()[0] || null;
    if (this.cameraSender) await this.cameraSender.replaceTrack(on ? track : null);
  }

  // Once a second: frames decoded, speaking, loss and round-trip time.
  async measure() {
    if (!this.sub && !this.pub) return;
    const perStream = new Map();
    let lost = 0;
    let received = 0;
    if (this.sub) {
      const report = await this.sub.getStats();
      report.forEach((s) => {
        if (s.type !== "inbound-rtp") return;
        const id = this.trackStream.get(s.trackIdentifier);
        if (!id) return;
        const entry = perStream.get(id) || { framesDecoded: 0, audioLevel: 0 };
        if (s.kind === "video") entry.framesDecoded += s.framesDecoded || 0;
        if (s.kind === "audio") entry.audioLevel = Math.max(entry.audioLevel, s.audioLevel || 0);
        perStream.set(id, entry);
        const prev = this.last.get(s.id) || { packetsLost: 0, packetsReceived: 0 };
        lost += Math.max(0, (s.packetsLost || 0) - prev.packetsLost);
        received += Math.max(0, (s.packetsReceived || 0) - prev.packetsReceived);
        this.last.set(s.id, { packetsLost: s.packetsLost || 0, packetsReceived: s.packetsReceived || 0 });
      });
    }
    let rtt = null;
    const pair = async (pc) => {
      if (!pc) return;
      (await pc.getStats()).forEach((s) => {
        if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime !== undefined) {
          rtt = Math.max(rtt || 0, s.currentRoundTripTime * 1000);
        }
      });
    };
    await pair(this.pub);
    await pair(this.sub);
    const loss = received + lost > 0 ? (100 * lost) / (received + lost) : 0;
    this.onStats({ perStream, rttMs: rtt, lossPercent: loss });
  }

  stop() {
    clearInterval(this.statsTimer);
    for (const pc of [this.pub, this.sub]) if (pc) pc.close();
    this.pub = null;
    this.sub = null;
    this.screenSender = null;
    this.trackStream.clear();
    this.last.clear();
  }
}
