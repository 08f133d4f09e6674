// A record draft saved as it is typed (the consultation note, a case outcome). Every change is
// kept on this device at once and sent shortly after with the version it was edited from; a
// save refused as stale (409) holds further saves until the writer chooses; a dropped
// connection retries with back-off. The editor supplies the form's content and shows what the
// draft says.

import { request } from "./ui.js";

export class Draft {
  /**
   * @param {object} o
   * @param {() => string} o.url      where the draft is PUT
   * @param {() => string} o.key      its device copy's localStorage key
   * @param {() => object} o.content  the form as the API takes it (without `version`)
   * @param {(text: string, alert?: boolean) => void} o.status  shows the save state
   * @param {(message: string) => void} o.conflict  a stale save was refused
   * @param {(data: object) => string} o.savedText  the status line after a save
   * @param {object} o.texts  `saving`, `unsaved`, `offline`, `not_saved`
   * @param {number} [o.delay]  quiet time before a save, ms
   */
  constructor(o) {
    Object.assign(this, o);
    this.delay ??= 700;
    this.version = 0; // the server's version the text was edited from
    this.dirty = false; // changes the server does not have
    this.held = false; // a conflict waits for the writer's choice
    this.inFlight = null;
    this.timer = null;
    this.retry = 0;
  }

  keep() {
    localStorage.setItem(this.key(), JSON.stringify({ version: this.version, content: this.content() }));
  }

  forget() {
    localStorage.removeItem(this.key());
  }

  /** The device copy, if one was left unsaved: `{version, content}`. */
  kept() {
    return JSON.parse(localStorage.getItem(this.key()) || "null");
  }

  /** The form changed: kept here now, saved after a quiet moment. */
  changed() {
    this.dirty = true;
    this.keep();
    if (this.held) return;
    this.status(this.texts.unsaved);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.save(), this.delay);
  }

  /** Saves now if anything is unsaved (and no conflict holds it); resolves when done. */
  async save() {
    clearTimeout(this.timer);
    if (this.inFlight) await this.inFlight;
    if (!this.dirty || this.held) return;
    this.dirty = false;
    const body = { version: this.version, ...this.content() };
    this.status(this.texts.saving);
    this.inFlight = request("PUT", this.url(), body)
      .then(({ status, data }) => this.answered(status, data))
      .catch(() => this.offline())
      .finally(() => (this.inFlight = null));
    await this.inFlight;
  }

  answered(code, data) {
    if (code === 200) {
      this.version = data.version;
      this.retry = 0;
      if (this.dirty) this.keep();
      else this.forget();
      this.status(this.savedText(data));
      return;
    }
    this.dirty = true;
    const message = data?.error?.message || `${code}`;
    if (code === 409) {
      this.held = true;
      this.status(this.texts.unsaved, true);
      this.conflict(message);
      return;
    }
    if (code >= 500) return this.offline();
    // Refused input (a bad code, too long): kept here, shown, sent again after the next change.
    this.status(`${this.texts.not_saved} ${message}`, true);
  }

  offline() {
    this.dirty = true;
    this.status(this.texts.offline, true);
    this.retry = Math.min(this.retry + 1, 5);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.save(), 1000 * 2 ** this.retry);
  }

  /** Starts listening for the page going away and the network coming back. */
  watch() {
    window.addEventListener("pagehide", () => this.dirty && this.keep());
    window.addEventListener("online", () => this.dirty && this.save());
  }
}
