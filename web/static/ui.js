// Small helpers the room's panels share: element lookup, element building, JSON API calls.

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null) e.append(c);
  return e;
}

/** Headers for the server's JSON API: its refusals come back in the page's language. */
export const apiHeaders = (extra = {}) => ({ "accept-language": document.documentElement.lang, ...extra });

export async function api(method, url, body, type = "application/json") {
  const init = { method, headers: apiHeaders() };
  if (body !== undefined) {
    init.body = type === "application/json" ? JSON.stringify(body) : body;
    init.headers["content-type"] = type;
  }
  const r = await fetch(url, init);
  const text = await r.text();
  const data = text ? JSON.parse(text) : null;
  if (!r.ok) throw new Error(data?.error?.message || `${r.status}`);
  return data;
}

/** A JSON request that answers whatever came back: `{status, data}` (`data` null when empty). */
export async function request(method, url, body) {
  const r = await fetch(url, {
    method,
    headers: apiHeaders(body ? { "content-type": "application/json" } : {}),
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, data: text ? JSON.parse(text) : null };
}
