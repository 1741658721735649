// The live connections table: rows keyed by connection ID, upserted from
// GET /v1/connections, connection and bytes events and API answers; the
// ID with a copy button (for reachd nc --id), the rate in bytes/s from the
// counters' changes, and a close button per open connection
// (DELETE /v1/connections/{id}).

import { $, el, bytes, duration, shortID, copyText } from "./dom.js";

const STATE_RANK = { open: 0, half_closed: 1, closed: 2 };
// A rate older than this (no bytes event: the counters stood still) is 0.
const RATE_STALE_MS = 2500;

export class Connections {
  /**
   * onClose(id) is called when a close button is pressed; it returns a
   * promise of the closed connection's info.
   */
  constructor(onClose) {
    this.onClose = onClose;
    this.conns = new Map(); // id -> ConnInfo
    this.rows = new Map(); // id -> <tr>
    this.rates = new Map(); // id -> {sent, received, at, up, down}: the last sample and rates
    this.tbody = $("conn-rows");
    this.hideClosed = $("hide-closed");
    this.hideClosed.addEventListener("change", () => this.render());
    this.timer = setInterval(() => this.tick(), 1000);
  }

  /** replaceAll sets the table to exactly these connections. */
  replaceAll(list) {
    this.conns.clear();
    for (const c of list) {
      this.conns.set(c.id, c);
      this.sample(c);
    }
    this.render();
  }

  /**
   * upsert adds or updates connections. A connection never goes back from
   * closed: a late event about it (sent before it closed) is ignored.
   */
  upsert(...list) {
    for (const c of list) {
      if (!c || !c.id) continue;
      const old = this.conns.get(c.id);
      if (old && (STATE_RANK[old.state] ?? 0) > (STATE_RANK[c.state] ?? 0)) continue;
      this.conns.set(c.id, c);
      this.sample(c);
    }
    this.render();
  }

  /** sample updates a connection's rates from its counters. */
  sample(c) {
    const now = performance.now();
    const sent = Number(c.bytes_sent) || 0;
    const received = Number(c.bytes_received) || 0;
    const r = this.rates.get(c.id);
    if (!r) {
      this.rates.set(c.id, { sent, received, at: now, up: 0, down: 0 });
      return;
    }
    if (sent === r.sent && received === r.received) return;
    const dt = (now - r.at) / 1000;
    if (dt > 0.05) {
      r.up = Math.max(0, sent - r.sent) / dt;
      r.down = Math.max(0, received - r.received) / dt;
    }
    Object.assign(r, { sent, received, at: now });
  }

  /** fillRate shows a connection's rate; a stale one (or a closed connection's) is 0. */
  fillRate(tr, c) {
    const r = this.rates.get(c.id) || { up: 0, down: 0, at: 0 };
    const live = c.state !== "closed" && performance.now() - r.at < RATE_STALE_MS;
    const up = live ? r.up : 0;
    const down = live ? r.down : 0;
    const td = tr.querySelector(".c-rate");
    td.dataset.rate = String(Math.round(up + down));
    td.textContent = up + down === 0 ? "—" : `↑ ${bytes(Math.round(up))}/s ↓ ${bytes(Math.round(down))}/s`;
    td.title = `${Math.round(up)} bytes/s sent, ${Math.round(down)} bytes/s received`;
  }

  /** sorted lists the connections to show: open ones first, newest first. */
  sorted() {
    const hide = this.hideClosed.checked;
    return [...this.conns.values()]
      .filter((c) => !(hide && c.state === "closed"))
      .sort((a, b) => (a.state === "closed") - (b.state === "closed") || Date.parse(b.opened_at) - Date.parse(a.opened_at));
  }

  render() {
    const list = this.sorted();
    const keep = new Set(list.map((c) => c.id));
    for (const [id, tr] of this.rows) {
      if (!keep.has(id)) {
        tr.remove();
        this.rows.delete(id);
      }
    }
    for (const c of list) {
      let tr = this.rows.get(c.id);
      if (!tr) {
        tr = this.newRow(c.id);
        this.rows.set(c.id, tr);
      }
      this.fill(tr, c);
    }
    // Reorder only when the order changed, so a focused button stays focused.
    const order = list.map((c) => this.rows.get(c.id));
    const current = [...this.tbody.children];
    if (order.length !== current.length || order.some((tr, i) => tr !== current[i])) {
      this.tbody.append(...order);
    }
    $("conn-empty").hidden = list.length > 0;
    $("conn-empty").textContent = this.conns.size > 0 ? "No open connections." : "No connections yet.";
  }

  newRow(id) {
    const tr = el("tr", { "data-id": id });
    const cells = ["id", "peer", "direction", "strategy", "state", "sent", "received", "rate", "age", "actions"];
    for (const name of cells) {
      tr.append(el("td", { class: `c-${name}${["sent", "received", "rate", "age"].includes(name) ? " num" : ""}` }));
    }
    const copy = el("button", { type: "button", class: "copy quiet small", "aria-label": `Copy connection ID ${id}` }, "Copy");
    copy.addEventListener("click", () => this.copyID(id, copy));
    tr.querySelector(".c-id").append(el("code", { class: "mono small conn-id" }, id), " ", copy);
    return tr;
  }

  fill(tr, c) {
    const cell = (name) => tr.querySelector(`.c-${name}`);
    tr.dataset.state = c.state;
    tr.dataset.strategy = c.strategy;
    tr.classList.toggle("closed", c.state === "closed");

    // The service, once the API has one per connection.
    const idCell = cell("id");
    let svc = idCell.querySelector(".c-service");
    if (c.service && !svc) {
      svc = el("div", { class: "muted small c-service" });
      idCell.append(svc);
    }
    if (svc) svc.textContent = c.service || "";

    const peer = cell("peer");
    if (peer.dataset.peer !== c.peer_id) {
      peer.dataset.peer = c.peer_id;
      peer.replaceChildren(
        el("code", { class: "mono", title: c.peer_id }, shortID(c.peer_id)),
        el("div", { class: "muted small mono" }, c.remote_addr || ""),
        el("div", { class: "muted small mono", "data-conn-id": c.id }, c.service ? `${c.id} · ${c.service}` : c.id),
      );
    }
    cell("direction").textContent = c.direction === "inbound" ? "← inbound" : "→ outbound";
    const strategy = cell("strategy");
    strategy.replaceChildren(c.strategy || "");
    if (c.tap) {
      // The connection backs a TAP device: its bytes are Ethernet frames.
      strategy.append(el("div", { class: "muted small mono", "data-tap": c.tap.name,
        title: `MAC ${c.tap.mac}, MTU ${c.tap.mtu}` }, `TAP ${c.tap.name} ${(c.tap.addrs || []).join(" ")}`));
    }

    // The path beneath: the strategies it moved through (a resume or an
    // upgrade adds one), its RTT, or that a new one is being looked for.
    const paths = (c.paths || []).map((p) => p.strategy).filter(Boolean);
    if (paths.length > 1) {
      strategy.append(el("div", { class: "muted small", "data-paths": paths.join(" ") }, paths.join(" → ")));
    }
    if (c.state !== "closed" && !c.path) {
      strategy.append(el("div", { class: "muted small", "data-resuming": "" }, "no path: looking for one"));
    } else if (c.state !== "closed" && c.path.rtt_ms) {
      strategy.append(el("div", { class: "muted small" }, `RTT ${c.path.rtt_ms.toFixed(1)} ms`));
    }

    const state = cell("state");
    const badge = c.aborted ? "poor" : ({ open: "good", half_closed: "fair", closed: "none" }[c.state] || "none");
    state.replaceChildren(el("span", { class: `badge ${badge}` }, c.aborted ? "aborted" : (c.state || "").replace("_", " ")));
    if (c.close_reason) state.append(el("div", { class: "muted small" }, c.close_reason));

    for (const [name, n] of [["sent", c.bytes_sent], ["received", c.bytes_received]]) {
      const td = cell(name);
      td.textContent = bytes(n);
      td.title = `${n || 0} bytes`;
    }
    this.fillAge(tr, c);
    this.fillRate(tr, c);

    const actions = cell("actions");
    if (c.state === "closed") {
      actions.replaceChildren();
    } else if (!actions.querySelector("button")) {
      const b = el("button", { type: "button", class: "danger small", "aria-label": `Close connection to ${shortID(c.peer_id)}` }, "Close");
      b.addEventListener("click", () => this.close(c.id, b));
      actions.replaceChildren(b);
    }
  }

  fillAge(tr, c) {
    const opened = Date.parse(c.opened_at);
    const end = c.closed_at ? Date.parse(c.closed_at) : Date.now();
    const td = tr.querySelector(".c-age");
    td.textContent = Number.isNaN(opened) ? "" : duration(end - opened);
    td.title = Number.isNaN(opened) ? "" : `opened ${new Date(opened).toLocaleString()}`;
  }

  /** tick advances the ages of open connections (a local clock, no request). */
  tick() {
    for (const [id, tr] of this.rows) {
      const c = this.conns.get(id);
      if (c && c.state !== "closed") {
        this.fillAge(tr, c);
        this.fillRate(tr, c);
      }
    }
  }

  async copyID(id, button) {
    const msg = $("conn-msg");
    try {
      await copyText(id);
      msg.textContent = "";
      button.textContent = "Copied";
      setTimeout(() => (button.textContent = "Copy"), 1500);
    } catch (err) {
      msg.textContent = `Could not copy the connection ID: ${err.message}`;
    }
  }

  async close(id, button) {
    const msg = $("conn-msg");
    msg.textContent = "";
    button.disabled = true;
    button.textContent = "Closing…";
    try {
      const info = await this.onClose(id);
      this.upsert(info);
      $("conns-title").focus();
    } catch (err) {
      button.disabled = false;
      button.textContent = "Close";
      msg.textContent = `Could not close the connection: ${err.message}`;
    }
  }
}
