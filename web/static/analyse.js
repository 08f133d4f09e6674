// The Analyse form (clinicians): the models offered for the image on screen, the facts each
// model takes beside it, and the request. Results come back as findings (images.js).

import { $, el, api } from "/static/ui.js";

export const models = new Map(); // name -> model view
// From images.js: t and T (translations), image() and frame() on screen, onFinding(f).
let ctx;

function factLabel(f) { return ctx.T.fact[f.field] || f.label; }
function optionLabel(o) { return ctx.T.fact[o] || o; }

function renderFacts() {
  const box = $("analyse-facts");
  const model = models.get($("analyse-model").value);
  const features = model?.tabular?.features || [];
  box.replaceChildren(...features.map((f) => {
    if (f.kind === "one_hot") {
      return el("label", {}, factLabel(f), " ",
        el("select", { name: f.field },
          ...f.options.map((o) => el("option", { value: o, selected: o === f.default }, optionLabel(o)))));
    }
    return el("label", {}, factLabel(f), " ", el("input", { name: f.field, type: "number", min: f.min, max: f.max, step: "1", inputmode: "numeric" }));
  }));
  $("analyse-hint").hidden = !features.length;
}

// Mirrors the server's check (manifest `accepts`): a model is offered only for the kinds of
// image it was made for; the server refuses the rest with a 422 anyway.
function madeFor(model, image) {
  const a = model.accepts;
  if (!a || !image) return true;
  if (image.kind !== "dicom") return a.photos;
  const modality = (image.dicom?.modality || "").trim().toUpperCase();
  return (a.dicom_modalities || []).some((m) => m.toUpperCase() === modality);
}

export function renderModels() {
  const select = $("analyse-model");
  if (!ctx || !select.options.length) return; // models not loaded yet
  const image = ctx.image();
  for (const option of select.options) {
    const model = models.get(option.value);
    option.disabled = !madeFor(model, image);
    option.textContent = option.disabled ? `${model.title} (${ctx.t("not_for_image")})` : model.title;
  }
  if (select.selectedOptions[0]?.disabled) {
    const usable = [...select.options].find((o) => !o.disabled);
    if (usable) {
      select.value = usable.value;
      renderFacts();
    }
  }
  const unfit = [...select.options].filter((o) => o.disabled).map((o) => models.get(o.value).title);
  const none = unfit.length === select.options.length;
  const note = $("analyse-unsuitable");
  note.textContent = none ? ctx.t("no_suitable") : `${ctx.t("not_offered")} ${unfit.join(", ")}`;
  note.hidden = !unfit.length;
  $("analyse").disabled = none;
}

/** Loads the models and wires the form; `context` gives the image and frame on screen. */
export async function loadModels(context) {
  ctx = context;
  try {
    for (const m of await api("GET", "/api/v1/models")) models.set(m.name, m);
  } catch {
    return;
  }
  const form = $("analyse-form");
  if (!form) return;
  const select = $("analyse-model");
  select.replaceChildren(...[...models.values()].map((m) => el("option", { value: m.name }, m.title)));
  select.addEventListener("change", renderFacts);
  renderFacts();
  renderModels();
  form.hidden = !models.size || !ctx.image();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const error = $("analyse-error");
    error.hidden = true;
    const model = models.get(select.value);
    const facts = {};
    for (const f of model?.tabular?.features || []) {
      const input = form.elements[f.field];
      if (f.kind === "number" && input.value !== "") facts[f.field] = Number(input.value);
      if (f.kind === "one_hot" && input.value !== f.default) facts[f.field] = input.value;
    }
    $("analyse").disabled = true;
    try {
      ctx.onFinding(await api("POST", `/api/v1/images/${ctx.image().id}/findings`, { model: select.value, facts, frame: ctx.frame() }));
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    } finally {
      renderModels();
    }
  });
}
