// The agenda beside a case review's call. The coordinator opens a case for everyone
// (`show_case`); every clinician then sees it marked, with its images and signed-off findings,
// and the panel writes its outcome right there: saved as they type, with the version it was
// edited from, so two experts typing at once get a clear conflict instead of a silent
// overwrite. The coordinator signs it when the panel agrees.

import { $, el, request as call } from "/static/ui.js";
import * as shared from "/static/images.js";
import { Draft } from "/static/draft.js";

const panel = $("agenda");
const texts = panel ? JSON.parse($("agenda-i18n").textContent) : {};
const t = (key) => texts.agenda?.[key] || key;
const to = (key) => texts.outcome?.[key] || key; // the outcome form's own texts
const lang = document.documentElement.lang || undefined;
const clock = (ms) => new Date(ms).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });

let send = () => {};
let current = null; // the case on screen

const form = $("agenda-outcome");
const fields = ["presenter_id", "question", "discussion", "recommendation", "recommendation_text", "responsible_id"];
const item = (id) => panel.querySelector(`li[data-case="${CSS.escape(id)}"]`);
const url = (tail = "") => `/api/v1/reviews/${panel.dataset.review}/cases/${current}/outcome${tail}`;

function status(text, alert = false) {
  const line = $("agenda-outcome-status");
  line.textContent = text;
  line.className = alert ? "alert" : "muted";
}

function conflict(message) {
  $("agenda-conflict-text").textContent = message;
  $("agenda-conflict").hidden = false;
}

// The outcome on screen, saved as it is typed and kept on this device until saved.
const draft = panel
  ? new Draft({
      url: () => url(),
      key: () => `consilium-outcome:${current}`,
      content,
      status,
      conflict,
      texts: { saving: t("saving"), unsaved: t("unsaved"), offline: t("offline"), not_saved: t("not_saved") },
      savedText: (data) => `${t("saved")} ${clock(data.saved_at)}`,
      delay: 800,
    })
  : null;

// ---- the case on screen ----

async function shown(caseId, by) {
  if (caseId === current) return;
  if (current) await draft.save(); // what was typed on the previous case is kept first
  current = caseId;
  for (const li of panel.querySelectorAll("li[data-case]")) {
    const on = li.dataset.case === caseId;
    li.classList.toggle("current", on);
    if (on) li.setAttribute("aria-current", "true");
    else li.removeAttribute("aria-current");
  }
  const li = caseId && item(caseId);
  $("agenda-case").hidden = !li;
  if (!li) {
    $("agenda-now").textContent = by ? t("closed") : t("waiting");
    return;
  }
  $("agenda-now").textContent = `${t("now")}: ${li.dataset.title}${by ? ` · ${t("opened_by")} ${by}` : ""}`;
  $("agenda-case-title").textContent = li.dataset.title;
  $("agenda-case-question").textContent = li.querySelector(".muted")?.textContent || "";
  // Images shared from now on belong to the case being discussed.
  const select = $("image-case");
  if (select) select.value = caseId;
  renderMaterial();
  await loadOutcome(li);
}

/** The case's images (click: into the shared viewer) and its signed-off findings. */
function renderMaterial() {
  if (!current) return;
  const { images, findings } = shared.known();
  const mine = images.filter((i) => i.case_id === current);
  $("agenda-images").replaceChildren(
    ...(mine.length
      ? mine.map((img) =>
          el("li", {},
            el("button", { type: "button", class: "thumb", onclick: () => shared.open(img.id) },
              el("img", { src: img.url, alt: img.filename, loading: "lazy" }),
              el("span", {}, img.filename))))
      : [el("li", { class: "muted" }, t("no_images"))]),
  );
  const ids = new Set(mine.map((i) => i.id));
  const signed = findings.filter((f) => ids.has(f.image_id) && f.decision);
  $("agenda-findings").replaceChildren(
    ...(signed.length
      ? [el("h4", {}, t("findings")), el("ul", {}, signed.map((f) =>
          el("li", {}, `${f.model} · ${f.decision.outcome}${f.decision.label ? `: ${f.decision.label}` : ""}`,
            el("span", { class: "muted" }, ` · ${f.decision.by}`))))]
      : []),
  );
}

// ---- the outcome ----

function fill(o) {
  for (const name of fields) form.elements[name].value = o[name] ?? "";
}

function content() {
  const out = {};
  for (const name of fields) out[name] = form.elements[name].value;
  out.recommendation = out.recommendation || null;
  return out;
}

function showSigned(o) {
  form.hidden = true;
  const box = $("agenda-signed");
  box.hidden = false;
  const labels = [...form.elements.recommendation.options];
  const rec = labels.find((x) => x.value === o.recommendation)?.textContent || "";
  box.replaceChildren(
    el("h4", {}, to("title")),
    rec ? el("p", {}, el("strong", {}, `${to("recommendation")}: `), rec) : null,
    o.recommendation_text ? el("p", { class: "prose" }, o.recommendation_text) : null,
    o.discussion ? el("p", { class: "prose" }, o.discussion) : null,
    o.responsible ? el("p", { class: "muted" }, `${to("responsible")}: ${o.responsible}`) : null,
    el("p", { class: "muted" }, `${t("signed")} ${o.signed_by} · ${new Date(o.signed_at).toLocaleString(lang)}`),
  );
  const li = item(o.case_id);
  if (li && !li.querySelector("[data-signed]")) {
    li.querySelector(".agenda-item strong").after(" ", el("span", { class: "badge on", "data-signed": "" }, `✔ ${to("signed_by")}`));
  }
}

async function loadOutcome(li) {
  draft.held = false;
  draft.dirty = false;
  $("agenda-conflict").hidden = true;
  $("agenda-signed").hidden = true;
  const editable = li.dataset.editable === "true";
  form.hidden = true;
  const { status: code, data } = await call("GET", url()).catch(() => ({ status: 0, data: null }));
  if (code !== 200) {
    form.hidden = false;
    return status(data?.error?.message || t("offline"), true);
  }
  if (data.status === "signed") return showSigned(data);
  if (!editable) {
    $("agenda-signed").hidden = false;
    $("agenda-signed").replaceChildren(el("p", { class: "muted" }, t("read_only")));
    return;
  }
  draft.version = data.version;
  fill(data);
  form.hidden = false;
  $("agenda-sign").hidden = li.dataset.canSign !== "true";
  status(data.saved_at ? `${t("saved")} ${clock(data.saved_at)} · ${data.saved_by}` : "");
  const local = draft.kept();
  const differs = local && JSON.stringify(local.content) !== JSON.stringify(content());
  if (differs && local.version === draft.version) {
    // Written here but not saved (a reload, a closed tab): back in the form and saved now.
    fill(local.content);
    draft.dirty = true;
    await draft.save();
  } else if (differs) {
    // Written here on a version someone has saved over since: shown, not sent; the reader
    // chooses (the saved version replaces it).
    fill(local.content);
    draft.held = true;
    conflict(t("local_old"));
  } else {
    draft.forget();
  }
}

async function sign() {
  if (!confirm(t("sign_confirm"))) return;
  draft.dirty = true; // the form as it stands is what gets signed
  await draft.save();
  if (draft.dirty || draft.held) return;
  const { status: code, data } = await call("POST", url("/sign"), { version: draft.version });
  if (code !== 200) return status(data?.error?.message || `${code}`, true);
  draft.forget();
  showSigned(data);
}

/** Someone in the call saved or signed an outcome: a form with nothing unsaved follows; one
 *  with unsaved changes keeps them, and its next save meets the conflict message. */
function followed(m) {
  const li = item(m.case);
  if (m.signed && li && !li.querySelector("[data-signed]")) {
    li.querySelector(".agenda-item strong").after(" ", el("span", { class: "badge on", "data-signed": "" }, `✔ ${to("signed_by")}`));
  }
  if (m.case !== current || m.version === draft.version || draft.inFlight) return;
  if (!draft.dirty && !draft.held) loadOutcome(li);
  else status(`${t("saved")} · ${m.by}`, true);
}

// ---- wiring to the room ----

/** Starts the panel once in the call: `sender` sends a signalling message; `caseId` is the
 *  case on screen when we joined. */
export function start(sender, caseId) {
  if (!panel) return;
  send = sender;
  shown(caseId ?? null, null);
}

/** Every room message passes here after the room and the image panel have handled it. */
export function on(m) {
  if (!panel) return;
  if (m.type === "case_shown") shown(m.case, m.by);
  else if (m.type === "image_shared" || m.type === "finding") renderMaterial();
  else if (m.type === "outcome_saved") followed(m);
}

if (panel) {
  for (const b of panel.querySelectorAll("[data-show]")) {
    b.addEventListener("click", () => send({ type: "show_case", case: b.dataset.show }));
  }
  form.addEventListener("input", () => draft.changed());
  $("agenda-save").addEventListener("click", () => { draft.dirty = true; draft.save(); });
  $("agenda-sign").addEventListener("click", sign);
  $("agenda-reload").addEventListener("click", () => { draft.held = false; draft.forget(); loadOutcome(item(current)); });
  draft.watch();
}
