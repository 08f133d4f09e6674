// Shared images in the room: upload (file picker, drag and drop, a still from live video), the
// shared viewer (zoom, pan, pointer; others follow the presenter), DICOM windows, and findings:
// a clinician runs a model, sees progress, the top labels, the model card and the heatmap, and
// accepts, amends or rejects. Patients and guests only ever receive signed-off findings.

import { $, el, api } from "/static/ui.js";
import { models, loadModels, renderModels } from "/static/analyse.js";

const section = document.getElementById("images");
const T = JSON.parse(document.getElementById("img-i18n").textContent);
const t = (key) => T.img[key] || key;
const clinical = section.dataset.clinical === "true";
const roomId = section.dataset.room;

const images = new Map(); // id -> image view
const findings = new Map(); // id -> finding view
const progress = new Map(); // finding id -> 0..1
let current = null; // image id on screen
const view = { zoom: 1, x: 0.5, y: 0.5, frame: 0 };
let presenting = false;
let heatFor = null; // finding whose heatmap is drawn
let send = () => {};
let lastSent = 0;
let sendTimer = null;

// What tests read.
window.consiliumImages = { images, findings };

function setStatus(text, alert = false) {
  const s = $("image-status");
  s.textContent = text;
  s.className = alert ? "alert-text" : "muted";
}

// ---- sharing ----

async function upload(blob, name) {
  setStatus(t("uploading"));
  try {
    const kase = document.getElementById("image-case")?.value;
    const url = `/api/v1/rooms/${roomId}/images?filename=${encodeURIComponent(name || "image")}${kase ? `&case_id=${kase}` : ""}`;
    const image = await api("POST", url, blob, "application/octet-stream");
    setStatus("");
    added(image, true);
  } catch (e) {
    setStatus(e.message, true);
  }
}

$("image-file").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (file) upload(file, file.name);
  e.target.value = "";
});
section.addEventListener("dragover", (e) => {
  e.preventDefault();
  section.classList.add("dropping");
});
section.addEventListener("dragleave", () => section.classList.remove("dropping"));
section.addEventListener("drop", (e) => {
  e.preventDefault();
  section.classList.remove("dropping");
  const file = e.dataTransfer.files[0];
  if (file) upload(file, file.name);
});

// A still from live video: the first remote camera with a picture, else one's own.
$("image-capture").addEventListener("click", () => {
  const videos = [...document.querySelectorAll("#videos video")].filter((v) => v.videoWidth > 0);
  const video = videos.find((v) => !v.muted) || videos[0];
  if (!video) return setStatus(t("no_video"), true);
  const canvas = el("canvas", { width: video.videoWidth, height: video.videoHeight });
  canvas.getContext("2d").drawImage(video, 0, 0);
  canvas.toBlob((blob) => upload(blob, `still-${new Date().toISOString().slice(0, 19)}.png`), "image/png");
});

// ---- the list and the viewer ----

function added(image, show) {
  images.set(image.id, image);
  renderList();
  if (show || !current) select(image.id);
}

function renderList() {
  const list = $("image-list");
  list.replaceChildren(
    ...[...images.values()].map((img) =>
      el("li", {},
        el("button", { type: "button", class: img.id === current ? "thumb current" : "thumb", "data-image": img.id, onclick: () => { select(img.id); share(); } },
          el("img", { src: img.url, alt: img.filename, loading: "lazy" }),
          el("span", {}, img.filename)),
      ),
    ),
  );
  if (!images.size) list.replaceChildren(el("li", { class: "muted" }, t("none")));
}

function select(id) {
  const image = images.get(id);
  if (!image) return;
  if (current !== id) {
    current = id;
    Object.assign(view, { zoom: 1, x: 0.5, y: 0.5, frame: 0 });
    heatFor = null;
    $("window-select").value = "";
  }
  $("viewer").hidden = false;
  $("viewer-caption").textContent = `${image.filename} · ${image.width}×${image.height} · ${image.kind.toUpperCase()}${image.dicom ? ` (${image.dicom.modality}, ${image.dicom.transfer_syntax})` : ""} · ${t("shared_by")} ${image.shared_by_name}`;
  const windows = image.dicom?.windows || [];
  $("window-label").hidden = !windows.length;
  const chosen = $("window-select").value;
  $("window-select").replaceChildren(
    el("option", { value: "" }, t("window_default")),
    ...windows.map((w, i) => el("option", { value: i }, `${w.name} (${w.center}/${w.width})`)),
  );
  $("window-select").value = chosen;
  const frames = image.dicom?.frames || 1;
  $("frame-label").hidden = frames < 2;
  $("frame-select").max = frames - 1;
  showPicture();
  const form = $("analyse-form");
  if (form) {
    form.hidden = !models.size;
    renderModels();
  }
  renderList();
  renderHeat();
  layout();
  renderFindings();
}

// The picture on screen: the image at the chosen DICOM window and frame.
function showPicture() {
  const image = images.get(current);
  if (!image) return;
  const w = image.dicom?.windows[$("window-select").value];
  const params = new URLSearchParams();
  if (w) {
    params.set("center", w.center);
    params.set("width", w.width);
  }
  if (view.frame) params.set("frame", view.frame);
  const src = params.size ? `${image.url}?${params}` : image.url;
  if ($("viewer-img").getAttribute("src") !== src) $("viewer-img").src = src;
  $("frame-select").value = view.frame;
  $("frame-number").textContent = `${view.frame + 1} / ${image.dicom?.frames || 1}`;
  renderHeat();
}

$("window-select").addEventListener("change", showPicture);
$("frame-select").addEventListener("input", (e) => {
  view.frame = Number(e.target.value);
  showPicture();
  share();
});

// The canvas holds the image at its fitted size; the view point (x, y) sits in the frame's
// centre, magnified by zoom.
function fitted() {
  const frame = $("viewer-frame").getBoundingClientRect();
  const image = images.get(current);
  if (!image) return { w: 0, h: 0, frame };
  const scale = Math.min(frame.width / image.width, frame.height / image.height);
  return { w: image.width * scale, h: image.height * scale, frame };
}

function layout() {
  const { w, h } = fitted();
  const canvas = $("viewer-canvas");
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  canvas.style.transform = `translate(${-view.x * w * view.zoom}px, ${-view.y * h * view.zoom}px) scale(${view.zoom})`;
}
window.addEventListener("resize", layout);
$("viewer-img").addEventListener("load", layout);

function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }

function zoomBy(factor) {
  view.zoom = clamp(view.zoom * factor, 1, 32);
  if (view.zoom === 1) Object.assign(view, { x: 0.5, y: 0.5 });
  layout();
  share();
}

$("zoom-in").addEventListener("click", () => zoomBy(1.5));
$("zoom-out").addEventListener("click", () => zoomBy(1 / 1.5));
$("zoom-reset").addEventListener("click", () => { Object.assign(view, { zoom: 1, x: 0.5, y: 0.5 }); layout(); share(); });
const frameEl = $("viewer-frame");
frameEl.addEventListener("wheel", (e) => { e.preventDefault(); zoomBy(Math.pow(1.0015, -e.deltaY)); }, { passive: false });
let drag = null;
frameEl.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY }; frameEl.setPointerCapture(e.pointerId); });
frameEl.addEventListener("pointerup", () => { drag = null; });
frameEl.addEventListener("pointermove", (e) => {
  const { w, h, frame } = fitted();
  if (!w) return;
  if (drag) {
    view.x = clamp(view.x - (e.clientX - drag.x) / (w * view.zoom), 0, 1);
    view.y = clamp(view.y - (e.clientY - drag.y) / (h * view.zoom), 0, 1);
    drag = { x: e.clientX, y: e.clientY };
    layout();
  }
  const px = view.x + (e.clientX - frame.left - frame.width / 2) / (w * view.zoom);
  const py = view.y + (e.clientY - frame.top - frame.height / 2) / (h * view.zoom);
  share(px >= 0 && px <= 1 && py >= 0 && py <= 1 ? [px, py] : null);
});
frameEl.addEventListener("keydown", (e) => {
  const step = 0.1 / view.zoom;
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  if (e.key === "+" || e.key === "=") zoomBy(1.5);
  else if (e.key === "-") zoomBy(1 / 1.5);
  else if (moves[e.key]) {
    view.x = clamp(view.x + moves[e.key][0], 0, 1);
    view.y = clamp(view.y + moves[e.key][1], 0, 1);
    layout();
    share();
  } else return;
  e.preventDefault();
});

// The presenter's view goes to the others at most ten times a second.
function share(pointer = null) {
  if (!presenting || !current) return;
  const message = { type: "viewer", image: current, zoom: view.zoom, x: view.x, y: view.y, frame: view.frame, pointer };
  const wait = 100 - (performance.now() - lastSent);
  clearTimeout(sendTimer);
  const go = () => { lastSent = performance.now(); send(message); };
  if (wait <= 0) go();
  else sendTimer = setTimeout(go, wait);
}

$("present").addEventListener("click", () => {
  presenting = !presenting;
  $("present").setAttribute("aria-pressed", String(presenting));
  $("present").textContent = presenting ? t("presenting") : t("present");
  if (presenting) share();
});

function follow(m) {
  if (!$("follow").checked || !images.has(m.view.image)) return;
  if (presenting) {
    presenting = false;
    $("present").setAttribute("aria-pressed", "false");
    $("present").textContent = t("present");
  }
  select(m.view.image);
  Object.assign(view, { zoom: m.view.zoom, x: m.view.x, y: m.view.y, frame: m.view.frame || 0 });
  showPicture();
  layout();
  const pointer = $("viewer-pointer");
  if (m.view.pointer) {
    const { w, h, frame } = fitted();
    const [px, py] = m.view.pointer;
    pointer.style.left = `${frame.width / 2 + (px - view.x) * w * view.zoom}px`;
    pointer.style.top = `${frame.height / 2 + (py - view.y) * h * view.zoom}px`;
    pointer.querySelector("span").textContent = m.name;
    pointer.hidden = false;
  } else pointer.hidden = true;
}

// ---- findings ----

// A label in the reader's language (the page carries every model's names for every role);
// clinicians also see the model's code and whether the class is malignant.
function labelName(f, id) {
  const name = T.labels[f.model]?.[id];
  if (!name) return id; // the clinician's own words, or a model since removed
  if (!clinical) return name;
  const l = models.get(f.model)?.labels.find((x) => x.id === id);
  return `${name} (${id})${l?.malignant ? ` · ${t("malignant")}` : ""}`;
}

function finding(f) {
  findings.set(f.id, f);
  if (f.status !== "running") progress.delete(f.id);
  if (f.image_id === current && f.heatmap_url && heatFor === null) heatFor = f.id;
  renderFindings();
  renderHeat();
}

function renderHeat() {
  const f = findings.get(heatFor);
  const heat = $("viewer-heat");
  const show = f && f.image_id === current && f.frame === view.frame && f.heatmap_url;
  heat.hidden = !show;
  $("opacity-label").hidden = !show;
  if (show && heat.getAttribute("src") !== f.heatmap_url) heat.src = f.heatmap_url;
  heat.style.opacity = $("heat-opacity").value;
}
$("heat-opacity").addEventListener("input", renderHeat);

function modelCard(f) {
  const m = models.get(f.model);
  if (!m) return null;
  return el("details", { class: "model-card" },
    el("summary", {}, `${t("model_card")}: ${m.title} ${m.version}`),
    m.not_a_medical_device ? el("p", { class: "alert-text" }, t("not_device")) : null,
    el("p", {}, el("strong", {}, `${t("intended_use")}: `), m.intended_use),
    el("p", {}, el("strong", {}, `${t("limitations")}: `)),
    el("ul", {}, ...m.limitations.map((l) => el("li", {}, l))),
    el("p", {}, el("strong", {}, `${t("licence")}: `), m.licence));
}

function decisionForm(f) {
  const reason = el("input", { name: "note", maxlength: 2000, placeholder: t("reason"), "aria-label": t("reason") });
  const labels = models.get(f.model)?.labels || [];
  const amendTo = el("select", { name: "label", "aria-label": t("label") }, ...labels.map((l) => el("option", { value: l.id }, labelName(f, l.id))));
  const error = el("p", { class: "alert", hidden: true });
  const decide = async (decision) => {
    try {
      const body = { decision, note: reason.value || null };
      if (decision === "amend") body.label = amendTo.value;
      finding(await api("POST", `/api/v1/findings/${f.id}/decision`, body));
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    }
  };
  return el("div", { class: "decide" },
    el("button", { type: "button", class: "primary", "data-decide": "accept", onclick: () => decide("accept") }, t("accept")),
    amendTo,
    el("button", { type: "button", "data-decide": "amend", onclick: () => decide("amend") }, t("amend")),
    el("button", { type: "button", class: "danger", "data-decide": "reject", onclick: () => decide("reject") }, t("reject")),
    reason, error);
}

function card(f) {
  const image = images.get(f.image_id);
  const head = el("p", { class: "finding-status" }, el("strong", {}, t(f.status)),
    ` · ${f.model} ${f.model_version} · `,
    el("button", { type: "button", class: "link", onclick: () => select(f.image_id) }, image ? image.filename : "—"),
    image?.dicom?.frames > 1 ? ` · ${t("frame")} ${f.frame + 1}` : "");
  const body = [head];
  if (f.status === "running") {
    body.push(el("progress", { max: 1, value: progress.get(f.id) ?? null, "aria-label": t("running") }));
  }
  if (f.error) body.push(el("p", { class: "alert" }, f.error));
  if (f.predictions) {
    const top = [...f.predictions].sort((a, b) => b.probability - a.probability).slice(0, 3);
    body.push(el("ol", { class: "predictions" }, ...top.map((p) =>
      el("li", {}, el("span", {}, labelName(f, p.label)),
        el("meter", { min: 0, max: 1, value: p.probability }), el("span", {}, `${(p.probability * 100).toFixed(1)} %`)))));
  }
  if (f.defaulted?.length) {
    body.push(el("p", { class: "alert-text" }, `${t("unknown")} ${f.defaulted.map((d) => T.fact[d] || d).join(", ")}`));
  }
  if (f.heatmap_url) {
    body.push(el("button", { type: "button", onclick: () => { heatFor = f.id; select(f.image_id); view.frame = f.frame; showPicture(); } }, t("show_heatmap")));
  }
  if (f.decision) {
    const d = f.decision;
    body.push(el("p", { class: "decision" }, el("strong", {}, `${t(d.outcome)} ${t("by")} ${d.by}`),
      d.label ? `: ${labelName(f, d.label)}` : "", d.note ? ` — ${d.note}` : ""));
  } else if (f.status === "ready" && clinical) {
    body.push(el("p", { class: "muted" }, t("hidden_note")), decisionForm(f));
  }
  body.push(modelCard(f));
  return el("article", { class: `finding ${f.status}${f.image_id === current ? " on-screen" : ""}`, "data-finding": f.id }, ...body);
}

// Every finding of the room, newest first; those on the image on screen are marked.
function renderFindings() {
  const list = [...findings.values()].reverse();
  $("findings").replaceChildren(...(list.length ? [el("h3", {}, t("findings")), ...list.map(card)] : []));
}

// ---- wiring to the room ----

/** Starts the panel once the participant is in the call; `sender` sends a signalling message. */
export async function start(sender) {
  send = sender;
  section.hidden = false;
  await loadModels({
    t,
    T,
    image: () => images.get(current),
    frame: () => view.frame,
    onFinding: finding,
  });
  try {
    for (const image of await api("GET", `/api/v1/rooms/${roomId}/images`)) added(image, false);
    for (const f of await api("GET", `/api/v1/rooms/${roomId}/findings`)) finding(f);
  } catch (e) {
    setStatus(e.message, true);
  }
  renderList();
  if (current) select(current);
}

/** The images shared in the room so far and the findings on them (the agenda's case view). */
export const known = () => ({ images: [...images.values()], findings: [...findings.values()] });

/** Shows image `id` in the shared viewer (and to the others, when presenting). */
export function open(id) {
  select(id);
  share();
}

export const handlers = {
  image_shared(m) { added(m.image, $("follow").checked); },
  viewer: follow,
  finding(m) {
    finding(m.finding);
    // A signed-off finding reaching a patient or guest brings its image on screen.
    if (!clinical && m.finding.decision && $("follow").checked) {
      select(m.finding.image_id);
      heatFor = m.finding.id;
      renderHeat();
    }
  },
  finding_progress(m) {
    progress.set(m.id, m.progress);
    const bar = document.querySelector(`[data-finding="${m.id}"] progress`);
    if (bar) bar.value = m.progress;
  },
};
