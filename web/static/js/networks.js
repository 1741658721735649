// The named networks panel: each joined network (GET /v1/networks) with
// its state and peer table, a leave button each, and the join form
// (POST /v1/networks). Member links are connections, so the panel reloads
// (debounced) on connection and network events, besides on load; it never
// polls.

import { $, el, shortID } from "./dom.js";

const LINK_BADGE = { up: "good", connecting: "busy", waiting: "fair", down: "poor" };
const STATE_BADGE = { joined: "good", joining: "busy", waiting: "fair" };
const RELOAD_MS = 300;

export class Networks {
  /**
   * list() returns a promise of GET /v1/networks' answer; join(name,
   * secret, ip) and leave(name) of the joined or left network.
   */
  constructor({ list, join, leave }) {
    this.list = list;
    this.join = join;
    this.leave = leave;
    this.timer = 0;
    this.box = $("net-list");
    this.form = $("net-form");
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
  }

  /** reloadSoon reloads the panel after a short quiet time. */
  reloadSoon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reload(), RELOAD_MS);
  }

  async reload() {
    try {
      const answer = await this.list();
      this.render(answer.networks || []);
    } catch (err) {
      this.say(`Could not load the networks: ${err.message}`, "error");
    }
  }

  say(text, kind) {
    const msg = $("net-msg");
    msg.textContent = text;
    msg.className = `msg ${kind || ""}`;
  }

  /** submit joins a network from the form; an automatic address takes a few seconds. */
  async submit() {
    const name = $("net-name").value.trim();
    const secret = $("net-secret").value;
    const ip = $("net-ip").value.trim() || "auto";
    if (!name || !secret) {
      this.say("Enter the network's name and secret.", "error");
      (name ? $("net-secret") : $("net-name")).focus();
      return;
    }
    const button = $("net-submit");
    button.disabled = true;
    this.form.setAttribute("aria-busy", "true");
    this.say(ip === "auto" ? `Joining ${name}: listening for the members' addresses…` : `Joining ${name}…`, "busy");
    try {
      const n = await this.join(name, secret, ip);
      $("net-secret").value = "";
      this.say(`Joined ${n.name} as ${n.ip} on ${n.device}.`, "ok");
      this.reloadSoon();
    } catch (err) {
      const p = err.problem || {};
      this.say(`Could not join ${name}: ${p.detail || err.message}`, "error");
    } finally {
      button.disabled = false;
      this.form.removeAttribute("aria-busy");
    }
  }

  async leaveNetwork(name, button) {
    button.disabled = true;
    try {
      await this.leave(name);
      this.say(`Left ${name}.`, "ok");
    } catch (err) {
      button.disabled = false;
      this.say(`Could not leave ${name}: ${err.message}`, "error");
    }
    this.reloadSoon();
  }

  render(nets) {
    $("net-empty").hidden = nets.length > 0;
    this.box.replaceChildren(...nets.map((n) => this.network(n)));
  }

  network(n) {
    const up = (n.members || []).filter((m) => m.link === "up").length;
    const state = n.state || "joining";
    const leave = el("button", { type: "button", class: "danger small", "aria-label": `Leave ${n.name}` }, "Leave");
    leave.addEventListener("click", () => this.leaveNetwork(n.name, leave));
    const head = el("h3", {}, n.name, " ",
      el("span", { class: `badge ${STATE_BADGE[state] || "none"}`, "data-state": state }, state), " ",
      el("span", { class: "muted small" },
        `${n.ip} on ${n.device || "(settling)"} · MAC ${n.mac} · ${up} of ${(n.members || []).length} member links up`),
      " ", leave);
    const rows = (n.members || []).map((m) =>
      el("tr", { "data-node": m.node_id, "data-link": m.link },
        el("td", {}, el("code", { class: "mono", title: m.node_id }, shortID(m.node_id))),
        el("td", { class: "mono" }, m.ip),
        el("td", { class: "mono small" }, m.mac),
        el("td", {}, el("span", { class: `badge ${LINK_BADGE[m.link] || "none"}` }, m.link),
          m.last_error && m.link !== "up" ? el("div", { class: "muted small" }, m.last_error) : null),
        el("td", {}, m.strategy || ""),
        el("td", {}, el("code", { class: "mono small" }, m.connection_id || "")),
      ));
    const table = el("table", { class: "net-members" },
      el("thead", {}, el("tr", {},
        ...["Member", "IP", "MAC", "Link", "Strategy", "Connection"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...rows));
    const empty = el("p", { class: "empty", "data-detail": "" }, n.detail || "No other member found yet.");
    return el("div", { class: "network", "data-name": n.name, "data-state": state }, head,
      rows.length ? el("div", { class: "scroll" }, table) : empty);
  }
}
