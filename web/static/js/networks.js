// The named networks panel: each joined network (GET /v1/networks) with
// its peer table. Member links are connections, so the panel reloads
// (debounced) on connection events, besides on load; it never polls.

import { $, el, shortID } from "./dom.js";

const LINK_BADGE = { up: "good", connecting: "busy", waiting: "fair", down: "poor" };
const RELOAD_MS = 300;

export class Networks {
  /** list() returns a promise of GET /v1/networks' answer. */
  constructor(list) {
    this.list = list;
    this.timer = 0;
    this.box = $("net-list");
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
      $("net-msg").textContent = "";
    } catch (err) {
      $("net-msg").textContent = `Could not load the networks: ${err.message}`;
    }
  }

  render(nets) {
    $("net-empty").hidden = nets.length > 0;
    this.box.replaceChildren(...nets.map((n) => this.network(n)));
  }

  network(n) {
    const up = (n.members || []).filter((m) => m.link === "up").length;
    const head = el("h3", {}, n.name, " ",
      el("span", { class: "muted small" },
        `${n.ip} on ${n.device || "(settling)"} · MAC ${n.mac} · ${up} of ${(n.members || []).length} member links up`));
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
    const empty = el("p", { class: "empty" }, "No other member found yet.");
    return el("div", { class: "network", "data-name": n.name }, head,
      rows.length ? el("div", { class: "scroll" }, table) : empty);
  }
}
