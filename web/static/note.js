// The consultation note editor (appointment page and the room's side panel). Every change is
// kept on this device at once and saved to the server shortly after; a reload, a network drop
// or a second tab loses nothing and overwrites nothing silently: saves carry the version they
// were edited from, and a refused one shows who saved since.

import { $, el, request as call } from "./ui.js";
import { Draft } from "./draft.js";

const panel = $("note-panel");
if (panel) start(panel);

function start(panel) {
  const texts = JSON.parse($("note-i18n").textContent);
  const t = (key) => texts[key] || key;
  const url = `/api/v1/appointments/${panel.dataset.appointment}/note`;
  const key = `consilium-note:${panel.dataset.appointment}`;
  const form = $("note-form");
  const statusLine = $("note-status");
  const list = $("note-diagnoses");
  const sections = ["subjective", "objective", "assessment", "plan", "instructions"];

  let restored = ""; // said with the next "saved": the text came back from this device

  const status = (text, alert = false) => {
    statusLine.textContent = text;
    statusLine.className = `note-status ${alert ? "alert" : "muted"}`;
  };
  const lang = document.documentElement.lang || undefined;
  const clock = (ms) => new Date(ms).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
  const when = (ms) => new Date(ms).toLocaleString(lang);


  // ---- the form's content ----
  function diagnosisRow(d = {}) {
    const system = el(
      "select",
      { "aria-label": t("system") },
      el("option", { value: "" }, t("system_none")),
      el("option", { value: "icd10" }, "ICD-10"),
      el("option", { value: "snomed" }, "SNOMED CT"),
    );
    system.value = d.system || "";
    const input = (name, value, label, size) =>
      el("input", { name, value: value || "", "aria-label": label, placeholder: label, size, maxlength: 500 });
    const row = el(
      "li",
      { class: "diagnosis" },
      input("text", d.text, t("diagnosis_text"), 24),
      system,
      input("code", d.code, t("code"), 10),
      input("display", d.display, t("display"), 18),
      el("button", { type: "button", class: "link", onclick: () => { row.remove(); changed(); } }, t("remove")),
    );
    return row;
  }

  function content() {
    const out = {};
    for (const s of sections) out[s] = form.elements[s].value;
    out.diagnoses = [...list.children]
      .map((row) => {
        const get = (n) => row.querySelector(`[name=${n}]`).value.trim();
        const d = { text: get("text") };
        const system = row.querySelector("select").value;
        if (system) d.system = system;
        if (get("code")) d.code = get("code");
        if (get("display")) d.display = get("display");
        return d;
      })
      .filter((d) => d.text);
    return out;
  }

  function fill(note) {
    for (const s of sections) form.elements[s].value = note[s] || "";
    list.replaceChildren(...(note.diagnoses || []).map(diagnosisRow));
  }

  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

  // ---- saving ----
  const draft = new Draft({
    url: () => url,
    key: () => key,
    content,
    status,
    texts: { saving: t("saving"), unsaved: t("unsaved"), offline: t("offline"), not_saved: t("not_saved") },
    savedText: (data) => {
      const line = `${t("saved")} ${clock(data.saved_at)}${restored ? ` · ${restored}` : ""}`;
      restored = "";
      return line;
    },
    conflict,
  });
  const changed = () => draft.changed();

  function conflict(message) {
    draft.held = true;
    $("note-conflict-text").textContent = message;
    $("note-conflict").hidden = false;
    status(t("unsaved"), true);
  }

  $("note-load-theirs").addEventListener("click", async () => {
    draft.held = false;
    draft.dirty = false;
    draft.forget();
    $("note-conflict").hidden = true;
    await load();
  });
  $("note-keep-mine").addEventListener("click", async () => {
    // Saved over the newer version on purpose: the doctor has seen the message.
    const { status: code, data } = await call("GET", url);
    if (code !== 200) return status(data?.error?.message || `${code}`, true);
    if (data.status === "signed") return showSigned(data);
    draft.version = data.version;
    draft.held = false;
    $("note-conflict").hidden = true;
    draft.dirty = true;
    await draft.save();
  });

  // ---- signing and addenda ----
  $("note-sign").addEventListener("click", async () => {
    if (!confirm(t("sign_confirm"))) return;
    await draft.save();
    if (draft.dirty || draft.held) return;
    const { status: code, data } = await call("POST", `${url}/sign`, { version: draft.version });
    if (code !== 200) return status(`${t("not_saved")} ${data?.error?.message || code}`, true);
    draft.forget();
    showSigned(data);
  });

  function showSigned(note) {
    form.hidden = true;
    const box = $("note-signed");
    box.hidden = false;
    const part = (name) =>
      note[name] ? [el("h3", {}, t(name)), el("p", { class: "prose" }, note[name])] : [];
    const addenda = el(
      "ol",
      { id: "note-addenda" },
      note.addenda.map((a) => addendumItem(a)),
    );
    const text = el("textarea", { rows: 2, "aria-label": t("addendum"), maxlength: 16000 });
    const problem = el("p", { class: "alert", hidden: true });
    const add = el("form", { class: "stack" }, el("label", {}, t("addendum"), text),
      el("button", { type: "submit" }, t("add_addendum")), problem);
    add.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!text.value.trim()) return;
      const { status: code, data } = await call("POST", `${url}/addenda`, { text: text.value });
      if (code !== 201) {
        problem.hidden = false;
        problem.textContent = data?.error?.message || `${code}`;
        return;
      }
      problem.hidden = true;
      text.value = "";
      addenda.append(addendumItem(data));
    });
    box.replaceChildren(
      ...sections.flatMap(part),
      ...(note.diagnoses.length
        ? [el("h3", {}, t("diagnoses")), el("ul", {}, note.diagnoses.map((d) =>
            el("li", {}, d.text, d.code ? el("span", { class: "muted" }, ` (${d.code}${d.display ? " " + d.display : ""})`) : null)))]
        : []),
      el("p", { class: "muted" }, `${t("signed_by")} ${note.signed_by} · ${when(note.signed_at)}`),
      el("p", { class: "muted hash" }, `${t("hash")}: ${note.content_sha256}`),
      el("h3", {}, t("addenda")),
      addenda,
      add,
    );
    status("");
  }

  function addendumItem(a) {
    return el("li", {}, el("p", { class: "prose" }, a.text),
      el("p", { class: "muted" }, `${t("signed_by")} ${a.author} · ${when(a.signed_at)}`));
  }

  // ---- loading ----
  async function load() {
    let answer;
    try {
      answer = await call("GET", url);
    } catch {
      return status(t("offline"), true);
    }
    const note = answer.data;
    if (answer.status !== 200) return status(note?.error?.message || `${answer.status}`, true);
    if (note.status === "signed") return showSigned(note);
    draft.version = note.version;
    fill(note);
    form.hidden = false;
    const local = draft.kept();
    const server = content();
    if (local && !same(local.content, server)) {
      fill(local.content);
      if (local.version === draft.version) {
        // Written here but not saved yet (a reload, a dropped connection): saved now.
        restored = t("restored");
        draft.dirty = true;
        await draft.save();
      } else {
        conflict(t("local_old"));
      }
    } else {
      draft.forget();
      status(note.saved_at ? `${t("saved")} ${clock(note.saved_at)}` : t("empty"));
    }
  }

  form.addEventListener("input", changed);
  $("note-add-diagnosis").addEventListener("click", () => {
    list.append(diagnosisRow());
    list.lastElementChild.querySelector("input").focus();
  });
  // Leaving with unsaved text: the device copy keeps it, and the next visit saves it.
  draft.watch();
  load();
}
