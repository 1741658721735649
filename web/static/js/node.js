// The node panels: identity and address, interfaces with their NAT results,
// brokers and the clock, from GET /v1/node and the probe and broker events.

import { $, el, setText, natName, natClass, deltaName } from "./dom.js";
import { showPolicy } from "./policy.js";

/** renderNode shows a node.Info. */
export function renderNode(info) {
  setText("node-id", info.node_id || "");
  setText("node-address", info.address || "(not probed yet)");
  $("node-address").classList.toggle("pending", !info.address);
  document.querySelector('[data-copy="node-address"]').disabled = !info.address;
  setText("node-machine", info.machine_id || "");
  setText("node-port", info.listen_port ? String(info.listen_port) : "");

  // replaceChildren takes no null: it would show as the text "null".
  const ready = [info.ready
    ? el("span", { class: "badge good", "data-ready": "true" }, "Ready")
    : el("span", { class: "badge fair", "data-ready": "false" }, "Starting")];
  if (info.ready && info.ready_after_ms) ready.push(el("span", { class: "muted" }, ` after ${info.ready_after_ms} ms`));
  $("node-ready").replaceChildren(...ready);

  showPolicy(info.policy || { accept: "any", allow: [] });
  renderClock(info.clock || {});
  renderProbe(info.probe || {});
  renderInterfaces(info.interfaces || []);
  renderBrokers(info.brokers || []);
  if (info.node_id) document.title = `reachd ${info.node_id.slice(0, 8)}`;
}

function renderClock(c) {
  const off = Number(c.offset_ms) || 0;
  const servers = c.servers || [];
  const parts = [el("span", { class: "num" }, `${off >= 0 ? "+" : ""}${off.toFixed(1)} ms`)];
  if (servers.length === 1 && servers[0] === "off") {
    parts.push(el("span", { class: "muted" }, " (NTP off: local clock trusted)"));
  } else if (servers.length) {
    parts.push(el("span", { class: "muted" }, ` (${c.answered || 0} of ${servers.length} NTP servers answered)`));
  }
  if (c.error) parts.push(el("span", { class: "error-text" }, ` ${c.error}`));
  $("node-clock").replaceChildren(...parts);
}

function renderProbe(p) {
  if (!p.finished_at) {
    setText("node-probe", "not yet");
    return;
  }
  const at = new Date(p.finished_at);
  const t = el("time", { datetime: p.finished_at, title: at.toLocaleString() }, at.toLocaleTimeString());
  $("node-probe").replaceChildren(t, el("span", { class: "muted" }, ` (took ${p.duration_ms || 0} ms)`));
}

/** renderInterfaces shows one row group per interface: its TCP and UDP result. */
function renderInterfaces(ifaces) {
  const table = $("iface-table");
  for (const tb of table.querySelectorAll("tbody")) tb.remove();
  $("iface-empty").hidden = ifaces.length > 0;
  for (const ifc of ifaces) {
    const tbody = el("tbody", { "data-ip": ifc.ip });
    const head = el("th", { scope: "rowgroup", rowspan: 2 },
      el("span", { class: "ifname" }, ifc.name || `#${ifc.index}`),
      el("br"),
      el("code", { class: "mono" }, ifc.ip || ""));
    const tcp = resultRow("tcp", ifc.tcp || {});
    tcp.prepend(head);
    tbody.append(tcp, resultRow("udp", ifc.udp || {}));
    table.append(tbody);
  }
}

function resultRow(proto, r) {
  const nat = r.nat || "unknown";
  const natCell = el("td", { "data-proto": proto, "data-nat": nat },
    el("span", { class: `badge ${natClass(nat)}` }, natName(nat)));
  if (r.reason) natCell.append(el("div", { class: "muted small" }, r.reason));
  const ext = r.mapped_addr || r.external_ip || "";
  return el("tr", { class: proto },
    el("td", {}, proto.toUpperCase()),
    natCell,
    el("td", {}, behavior(r.mapping)),
    el("td", {}, behavior(r.filtering)),
    el("td", { "data-delta": r.delta || "unknown" }, deltaName(r.delta, r.delta_value)),
    el("td", {}, ext ? el("code", { class: "mono" }, ext) : el("span", { class: "muted" }, "—")),
  );
}

/** behavior words a mapping or filtering behaviour ("address_dependent"). */
function behavior(b) {
  return b ? el("span", {}, b.replaceAll("_", " ")) : el("span", { class: "muted" }, "—");
}

/** renderBrokers shows the signaling brokers and their state. */
export function renderBrokers(brokers) {
  $("broker-empty").hidden = brokers.length > 0;
  $("broker-rows").replaceChildren(...brokers.map((b) => {
    const state = el("td", { "data-connected": String(!!b.connected) },
      b.connected ? el("span", { class: "badge good" }, "connected") : el("span", { class: "badge poor" }, "down"),
      el("div", { class: "muted small" }, `${b.connects || 0} ${b.connects === 1 ? "connect" : "connects"}`));
    if (b.last_error) state.append(el("div", { class: "error-text small" }, b.last_error));
    return el("tr", {},
      el("td", {}, el("span", { class: "muted small" }, `#${b.offset} `), el("code", { class: "mono wrap" }, b.url)),
      state,
      el("td", { class: "num" }, String(b.messages_in || 0)),
      el("td", { class: "num" }, String(b.messages_out || 0)),
      el("td", { class: "num" }, String(b.drops || 0)),
    );
  }));
}
