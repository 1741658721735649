// Small DOM and formatting helpers. Everything the API sends is inserted as
// text (textContent, attributes set one by one), never parsed as HTML.

/**
 * el makes an element: attrs sets attributes (class, data-*, aria-*, title,
 * ...; null and false are skipped), children are nodes or strings (text).
 */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

export const $ = (id) => document.getElementById(id);

/** setText sets an element's text by ID. */
export function setText(id, text) {
  $(id).textContent = text;
}

const NAT_NAMES = {
  open: "open",
  symmetric_udp_firewall: "symmetric UDP firewall",
  full_cone: "full cone",
  restricted_cone: "restricted cone",
  port_restricted_cone: "port restricted cone",
  symmetric: "symmetric",
  blocked: "blocked",
  unknown: "unknown",
};

/** natName words a NAT type name from the API ("port_restricted_cone"). */
export function natName(nat) {
  return NAT_NAMES[nat] || String(nat || "unknown").replaceAll("_", " ");
}

/** natClass is how good a NAT type is for connecting: good, fair, poor, none. */
export function natClass(nat) {
  switch (nat) {
    case "open":
    case "full_cone":
      return "good";
    case "restricted_cone":
    case "port_restricted_cone":
    case "symmetric_udp_firewall":
      return "fair";
    case "symmetric":
    case "blocked":
      return "poor";
    default:
      return "none";
  }
}

/** deltaName words a port delta: "equal", "independent +2", "n/a". */
export function deltaName(delta, value) {
  switch (delta) {
    case "na":
      return "n/a";
    case "independent":
    case "dependent":
      return `${delta} ${value >= 0 ? "+" : ""}${value}`;
    default:
      return delta || "unknown";
  }
}

/** bytes formats a byte count: 1023 B, 1.5 KiB, 12 MiB. */
export function bytes(n) {
  n = Number(n) || 0;
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** duration formats milliseconds: 45 s, 3 min 20 s, 2 h 5 min, 3 d 4 h. */
export function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** peerNames maps node IDs to their names in the address book (peers.js fills it). */
export const peerNames = new Map();

/** shortID is a node ID's name in the address book, else the ID shortened, for tables; the full one goes in a title. */
export function shortID(id) {
  if (id && peerNames.has(id)) return peerNames.get(id);
  return id && id.length > 16 ? `${id.slice(0, 12)}…` : id || "";
}

/** copyText puts text on the clipboard, with a fallback for plain-HTTP pages. */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const ta = el("textarea", { readonly: true, class: "offscreen" });
  ta.value = text;
  document.body.append(ta);
  ta.select();
  const ok = document.execCommand("copy");
  ta.remove();
  if (!ok) throw new Error("the browser refused to copy");
}
