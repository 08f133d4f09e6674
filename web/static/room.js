// The consultation room: device check, Join, waiting room, the call (video grid, controls,
// who is speaking, network quality), chat and guest links. Signalling runs over one WebSocket;
// media over the two peer connections in call.js.

import { localStream } from "/static/devices.js";
import { Call } from "/static/call.js";
import * as shared from "/static/images.js";
import * as agenda from "/static/agenda.js";
import { apiHeaders } from "/static/ui.js";

const root = document.getElementById("room");
const t = (key) => root.dataset["t" + key.replace(/(^|-)(\w)/g, (_, __, c) => c.toUpperCase())];
const $ = (id) => document.getElementById(id);
const status = $("room-status");
const participants = $("participants");
const waiting = $("waiting");
const chatLog = $("chat-log");
const chatForm = $("chat-form");
const chatInput = $("chat-input");
const endButton = $("end-call");
const joinButton = $("join");
const stage = $("stage");
const videos = $("videos");
const clinical = root.dataset.clinical === "true";
const joinedKey = `consilium-joined-${root.dataset.room}`;
const people = new Map();
const tiles = new Map(); // stream id -> tile element
let me = null;
let socket;
let finished = false; // denied, ended or left: do not reconnect
let retry = 0;
const state = { audio: true, video: true, screen: false, audioOnly: false };

// What tests and the join-time measurement read.
const probe = (window.consiliumCall = { joinClickedAt: null, firstFrameAt: null, framesDecoded: {}, me: null });

function setStatus(text, kind = "notice") {
  status.textContent = text;
  status.className = kind;
  status.hidden = !text;
}

function item(text) {
  const li = document.createElement("li");
  li.textContent = text;
  return li;
}

function button(label, cls, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

function quality(p) {
  if (p.rtt_ms == null) return null;
  if (p.loss_percent > 8 || p.rtt_ms > 400) return "poor";
  if (p.loss_percent > 2 || p.rtt_ms > 150) return "fair";
  return "good";
}

function badges(p) {
  const span = document.createElement("span");
  span.className = "badges";
  const add = (text, cls, title) => {
    const b = document.createElement("span");
    b.className = `badge ${cls}`;
    b.textContent = text;
    if (title) b.title = title;
    span.append(b);
  };
  if (!p.audio) add(t("muted"), "off");
  if (!p.video) add(t("camera-off"), "off");
  if (p.screen) add(t("sharing"), "on");
  const q = quality(p);
  if (q) add(t("quality-" + q), `q-${q}`, `${Math.round(p.rtt_ms)} ms · ${p.loss_percent.toFixed(1)} %`);
  return span;
}

function renderPeople() {
  participants.replaceChildren(...[...people.values()].map((p) => {
    const li = item(`${p.name} · ${t("role-" + p.role) || p.role} `);
    li.dataset.peer = p.id;
    li.append(badges(p));
    if (clinical && me && p.id !== me.id && p.audio && p.role !== "device") {
      li.append(button(t("mute"), "small", () => send({ type: "mute", participant: p.id })));
    }
    return li;
  }));
  for (const [id, tile] of tiles) {
    const label = tile.querySelector(".tile-label");
    if (id === "self") {
      label.textContent = t("you");
      continue;
    }
    const p = people.get(id.split("~")[0]);
    if (!p) continue;
    label.replaceChildren(`${p.name}${id.includes("~") ? " · " + t("sharing") : ""} `, badges(p));
  }
  videos.dataset.count = String(videos.children.length);
}

function tile(id, stream, self = false) {
  let el = tiles.get(id);
  if (!el) {
    el = document.createElement("figure");
    el.className = "tile";
    el.dataset.stream = id;
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    video.muted = self;
    const label = document.createElement("figcaption");
    label.className = "tile-label";
    el.append(video, label);
    videos.append(el);
    tiles.set(id, el);
    if (!self && "requestVideoFrameCallback" in video) {
      video.requestVideoFrameCallback(() => {
        if (probe.firstFrameAt === null) probe.firstFrameAt = performance.now();
      });
    }
  }
  const video = el.querySelector("video");
  if (video.srcObject !== stream) video.srcObject = stream;
  renderPeople();
  return el;
}

function dropTile(id) {
  tiles.get(id)?.remove();
  tiles.delete(id);
  videos.dataset.count = String(videos.children.length);
}

const call = (probe.call = new Call({
  send: (m) => send(m),
  onStream: (id, stream) => tile(id, stream),
  onStreamGone: dropTile,
  onStats({ perStream, rttMs, lossPercent }) {
    const frames = {};
    for (const [id, s] of perStream) {
      if (!tiles.has(id)) continue; // someone who left
      frames[id] = s.framesDecoded;
      tiles.get(id).classList.toggle("speaking", s.audioLevel > 0.04);
    }
    probe.framesDecoded = frames;
    probe.rttMs = rttMs;
    probe.lossPercent = lossPercent;
    if (rttMs != null && Date.now() - (probe.qualitySentAt || 0) > 3000) {
      probe.qualitySentAt = Date.now();
      send({ type: "quality", rtt_ms: Math.round(rttMs), loss_percent: Math.min(100, lossPercent) });
    }
  },
}));

function addChat(line) {
  const li = item(`${new Date(line.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })} ${line.name}: ${line.text}`);
  chatLog.append(li);
  li.scrollIntoView({ block: "nearest" });
}

function setChat(enabled) {
  chatInput.disabled = !enabled;
  chatForm.querySelector("button").disabled = !enabled;
}

function renderWaiting(list) {
  if (!waiting) return;
  if (list.length === 0) {
    waiting.replaceChildren(item(t("nobody-waiting")));
    return;
  }
  waiting.replaceChildren(...list.map((p) => {
    const li = item(`${p.name} `);
    for (const [label, type, cls] of [[t("admit"), "admit", "primary"], [t("deny"), "deny", ""]]) {
      const b = button(label, cls, () => send({ type, participant: p.id }));
      b.dataset.participant = p.id;
      li.append(b);
    }
    return li;
  }));
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function sendState() {
  send({ type: "media_state", audio: state.audio, video: state.video && !state.audioOnly, screen: state.screen });
}

function renderControls() {
  $("mic").textContent = state.audio ? t("mic-off") : t("mic-on");
  $("mic").setAttribute("aria-pressed", String(!state.audio));
  $("camera-toggle").textContent = state.video ? t("camera-turn-off") : t("camera-turn-on");
  $("camera-toggle").setAttribute("aria-pressed", String(!state.video));
  $("audio-only").setAttribute("aria-pressed", String(state.audioOnly));
  $("screen").setAttribute("aria-pressed", String(state.screen));
  $("screen").textContent = state.screen ? t("screen-stop") : t("screen-share");
  videos.classList.toggle("audio-only", state.audioOnly);
}

async function startMedia() {
  const stream = await localStream();
  if (stream) {
    tile("self", stream, true).classList.add("self");
    call.setMic(state.audio);
    call.setCamera(state.video);
    await call.start(stream);
  }
  if (state.audioOnly) send({ type: "audio_only", on: true });
  sendState();
}

const handlers = {
  ...shared.handlers,
  welcome(m) {
    retry = 0;
    me = m.you;
    probe.me = m.you.id;
    setStatus("");
    people.clear();
    for (const p of m.participants) people.set(p.id, p);
    chatLog.replaceChildren();
    m.chat.forEach(addChat);
    setChat(true);
    $("device-check").hidden = true;
    stage.hidden = false;
    if (endButton && m.you.role === "host") endButton.hidden = false;
    renderPeople();
    startMedia();
    // The agenda shows the case's images once the image panel has them.
    shared.start(send).then(() => agenda.start(send, m.case));
  },
  waiting() { setStatus(t("waiting")); },
  waiting_list(m) { renderWaiting(m.waiting); },
  participant_joined(m) { people.set(m.participant.id, m.participant); renderPeople(); },
  participant_updated(m) { people.set(m.participant.id, m.participant); renderPeople(); },
  participant_left(m) {
    people.delete(m.id);
    for (const id of [...tiles.keys()]) if (id === m.id || id.startsWith(m.id + "~")) dropTile(id);
    renderPeople();
  },
  publish_answer(m) { inOrder(() => call.publishAnswer(m.sdp)); },
  subscribe_offer(m) { inOrder(() => call.subscribeOffer(m.sdp)); },
  media_failed(m) {
    if (m.leg === "publish") call.restart();
    else call.subscribeFailed();
  },
  muted(m) {
    state.audio = false;
    call.setMic(false);
    renderControls();
    setStatus(t("muted-by").replace("{name}", m.by), "notice");
  },
  chat(m) { addChat(m); },
  denied() { finish(t("denied")); },
  ended() { finish(t("ended")); },
  error(m) { setStatus(m.message, "alert"); },
};

// Offers and answers are applied one at a time, in the order they came.
let negotiation = Promise.resolve();
function inOrder(step) {
  negotiation = negotiation.then(step).catch((e) => console.error("media negotiation", e));
}

function finish(message) {
  finished = true;
  sessionStorage.removeItem(joinedKey);
  setStatus(message, "alert");
  setChat(false);
  call.stop();
  stage.hidden = true;
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}${root.dataset.ws}`);
  socket.addEventListener("message", (event) => {
    const m = JSON.parse(event.data);
    (handlers[m.type] || (() => {}))(m);
    agenda.on(m);
  });
  socket.addEventListener("close", () => {
    setChat(false);
    if (finished) return;
    // The server keeps an admitted participant's place for two minutes: come back by itself.
    call.stop();
    for (const id of [...tiles.keys()]) dropTile(id);
    setStatus(t("lost"), "alert");
    retry = Math.min(retry + 1, 5);
    setTimeout(connect, 250 * 2 ** retry);
  });
}

function join() {
  probe.joinClickedAt = performance.now();
  sessionStorage.setItem(joinedKey, "1");
  joinButton.disabled = true;
  setStatus(t("connecting"));
  connect();
}

chatForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = chatInput.value.trim();
  if (!text) return;
  send({ type: "chat", text });
  chatInput.value = "";
});
if (endButton) endButton.addEventListener("click", () => send({ type: "end" }));
joinButton.addEventListener("click", join);
$("mic").addEventListener("click", () => {
  state.audio = !state.audio;
  call.setMic(state.audio);
  renderControls();
  sendState();
});
$("camera-toggle").addEventListener("click", () => {
  state.video = !state.video;
  call.setCamera(state.video);
  renderControls();
  sendState();
});
$("audio-only").addEventListener("click", async () => {
  state.audioOnly = !state.audioOnly;
  send({ type: "audio_only", on: state.audioOnly });
  await call.sendVideo(!state.audioOnly);
  renderControls();
  sendState();
});
$("screen").addEventListener("click", async () => {
  if (state.screen) {
    state.screen = false;
    await call.shareScreen(null);
  } else {
    if (!navigator.mediaDevices?.getDisplayMedia) return;
    try {
      const screen = await navigator.mediaDevices.getDisplayMedia({ video: true });
      screen.getVideoTracks()[0].addEventListener("ended", () => {
        state.screen = false;
        call.shareScreen(null);
        renderControls();
        sendState();
      });
      state.screen = true;
      await call.shareScreen(screen);
    } catch {
      return;
    }
  }
  renderControls();
  sendState();
});
$("leave").addEventListener("click", () => {
  finish(t("left"));
  socket?.close();
});
renderControls();
// A reload, or a dropped network, brings a participant who had joined straight back.
if (sessionStorage.getItem(joinedKey)) join();

// Clinicians create one-time links for this room: for a guest (interpreter, family member) or,
// in an appointment's room, for its patient; the link says when it opens and until when it
// works, in the patient's zone for hers, in the clinician's own for a guest's.
const inviteForm = $("invite-form");
if (inviteForm) {
  const f = inviteForm.elements;
  const kind = () => (f.kind.value ?? "guest");
  const it = (key) => inviteForm.dataset["t" + key];
  const showName = () => {
    $("invite-name").hidden = kind() === "patient";
    f.name.required = kind() !== "patient";
  };
  inviteForm.addEventListener("change", showName);
  const when = (iso, timeZone) => {
    const options = { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
    try {
      return new Intl.DateTimeFormat(document.documentElement.lang, { ...options, timeZone }).format(new Date(iso));
    } catch {
      return new Intl.DateTimeFormat(document.documentElement.lang, { ...options, timeZone: "UTC" }).format(new Date(iso));
    }
  };
  inviteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("invite-error");
    const result = $("invite-result");
    const request = kind() === "patient" ? { kind: "patient" } : { kind: "guest", name: f.name.value.trim() };
    const response = await fetch(`/api/v1/rooms/${inviteForm.dataset.room}/invites`, {
      method: "POST",
      headers: apiHeaders({ "content-type": "application/json" }),
      body: JSON.stringify(request),
    });
    const body = await response.json();
    if (!response.ok) {
      error.textContent = body.error.message;
      error.hidden = false;
      result.hidden = true;
      return;
    }
    error.hidden = true;
    $("invite-link").value = body.url;
    const whose = kind() === "patient" ? it("TheirTime") : it("YourTime");
    $("invite-opens").textContent =
      `${it("Opens")} ${when(body.not_before, body.timezone)}, ${it("Until")} ${when(body.expires_at, body.timezone)} (${whose})`;
    result.hidden = false;
    $("invite-link").select();
  });
}

// Clinicians let a device (dermatoscope, ultrasound, OBS) stream into this room over WHIP.
const deviceForm = $("device-form");
if (deviceForm) {
  deviceForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("device-form-error");
    const response = await fetch(`/api/v1/rooms/${deviceForm.dataset.room}/device-tokens`, {
      method: "POST",
      headers: apiHeaders({ "content-type": "application/json" }),
      body: JSON.stringify({ label: deviceForm.elements.label.value.trim() }),
    });
    const body = await response.json();
    if (!response.ok) {
      error.textContent = body.error.message;
      error.hidden = false;
      return;
    }
    error.hidden = true;
    $("device-whip").value = body.whip_url;
    $("device-token").value = body.token;
    $("device-result").hidden = false;
  });
}
