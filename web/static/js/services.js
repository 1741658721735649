// The services panel: the services this node offers (GET /v1/services) and
// its forwards to peers' services (GET /v1/forwards). Service and forward
// events carry the whole lists, so the panel renders them as they come;
// it loads both once at start and never polls.

import { $, el, shortID } from "./dom.js";

export class Services {
  /** listServices() and listForwards() return promises of the API's answers. */
  constructor(listServices, listForwards) {
    this.listServices = listServices;
    this.listForwards = listForwards;
  }

  async reload() {
    try {
      const [s, f] = await Promise.all([this.listServices(), this.listForwards()]);
      this.renderServices(s.services || []);
      this.renderForwards(f.forwards || []);
      $("svc-msg").textContent = "";
    } catch (err) {
      $("svc-msg").textContent = `Could not load the services: ${err.message}`;
    }
  }

  renderServices(list) {
    $("svc-empty").hidden = list.length > 0;
    $("svc-table").hidden = list.length === 0;
    $("svc-rows").replaceChildren(...list.map((s) =>
      el("tr", { "data-name": s.name },
        el("td", {}, el("code", { class: "mono" }, s.name)),
        el("td", {}, s.protocol),
        el("td", { class: "mono" }, s.target),
        el("td", { class: "mono small" }, ...(s.allow || []).map((a, i) =>
          el("span", { title: a }, (i ? ", " : "") + (a === "any" ? "any" : shortID(a))))),
      )));
  }

  renderForwards(list) {
    $("fwd-empty").hidden = list.length > 0;
    $("fwd-table").hidden = list.length === 0;
    $("fwd-rows").replaceChildren(...list.map((f) =>
      el("tr", { "data-id": f.id },
        el("td", {}, el("code", { class: "mono small" }, f.id)),
        el("td", {}, f.protocol),
        el("td", { class: "mono" }, f.listen),
        el("td", {}, el("code", { class: "mono", title: f.peer }, shortID(peerID(f.peer))), "/", f.service),
        el("td", { class: "num" }, `${f.active} / ${f.connections}`),
        el("td", { class: "muted small" }, f.error || (f.failures ? `${f.failures} failed` : "")),
      )));
  }
}

/** peerID is the node ID part of a peer address (the fourth from the end of its - parts). */
function peerID(addr) {
  const parts = (addr || "").split("-");
  return parts.length >= 5 ? parts[parts.length - 2] : addr;
}
