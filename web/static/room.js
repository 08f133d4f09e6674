// The consultation room client: signalling WebSocket, waiting room, chat. Media joins later.

const root = document.getElementById("room");
const t = (key) => root.dataset["t" + key.replace(/(^|-)(\w)/g, (_, __, c) => c.toUpperCase())];
const status = document.getElementById("room-status");
const participants = document.getElementById("participants");
const waiting = document.getElementById("waiting");
const chatLog = document.getElementById("chat-log");
const chatForm = document.getElementById("chat-form");
const chatInput = document.getElementById("chat-input");
const endButton = document.getElementById("end-call");
const people = new Map();
let socket;
let finished = false; // denied or ended: do not reconnect
let retry = 0;

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

function renderPeople() {
  participants.replaceChildren(...[...people.values()].map((p) => item(`${p.name} · ${t("role-" + p.role) || p.role}`)));
}

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
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.className = cls;
      b.dataset.participant = p.id;
      b.addEventListener("click", () => send({ type, participant: p.id }));
      li.append(b);
    }
    return li;
  }));
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

const handlers = {
  welcome(m) {
    retry = 0;
    setStatus("");
    people.clear();
    for (const p of m.participants) people.set(p.id, p);
    renderPeople();
    chatLog.replaceChildren();
    m.chat.forEach(addChat);
    setChat(true);
    if (endButton && m.you.role === "host") endButton.hidden = false;
  },
  waiting() { setStatus(t("waiting")); },
  waiting_list(m) { renderWaiting(m.waiting); },
  participant_joined(m) { people.set(m.participant.id, m.participant); renderPeople(); },
  participant_left(m) { people.delete(m.id); renderPeople(); },
  chat(m) { addChat(m); },
  denied() { finished = true; setStatus(t("denied"), "alert"); setChat(false); },
  ended() { finished = true; setStatus(t("ended"), "alert"); setChat(false); },
  error(m) { setStatus(m.message, "alert"); },
};

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}${root.dataset.ws}`);
  socket.addEventListener("message", (event) => {
    const m = JSON.parse(event.data);
    (handlers[m.type] || (() => {}))(m);
  });
  socket.addEventListener("close", () => {
    setChat(false);
    if (finished) return;
    // The server keeps an admitted participant's place for two minutes: come back by itself.
    setStatus(t("lost"), "alert");
    retry = Math.min(retry + 1, 5);
    setTimeout(connect, 500 * 2 ** retry);
  });
}

chatForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = chatInput.value.trim();
  if (!text) return;
  send({ type: "chat", text });
  chatInput.value = "";
});
if (endButton) endButton.addEventListener("click", () => send({ type: "end" }));
connect();

// Clinicians create one-time guest links (interpreter, family member) for this room.
const inviteForm = document.getElementById("invite-form");
if (inviteForm) {
  inviteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("invite-error");
    const link = document.getElementById("invite-link");
    const name = inviteForm.elements.name.value.trim();
    const response = await fetch(`/api/v1/rooms/${inviteForm.dataset.room}/invites`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ kind: "guest", name }),
    });
    const body = await response.json();
    if (!response.ok) {
      error.textContent = body.error.message;
      error.hidden = false;
      link.hidden = true;
      return;
    }
    error.hidden = true;
    link.value = body.url;
    link.hidden = false;
    link.select();
  });
}
