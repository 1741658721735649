// The dashboard's entry point. It follows GET /v1/events (EventSource, which
// resumes with Last-Event-ID by itself after a dropped connection): once the
// stream is open it loads the state (GET /v1/node, GET /v1/connections,
// GET /v1/networks), then applies the events in order. There is no
// polling. A 401 from the API shows the token form; the token is kept in
// sessionStorage.

import * as api from "./api.js";
import { $, copyText } from "./dom.js";
import { renderNode, renderBrokers } from "./node.js";
import { Connections } from "./connections.js";
import { ConnectForm } from "./connect.js";
import { Networks } from "./networks.js";
import { initPolicyEditor } from "./policy.js";
import { Services } from "./services.js";
import { loadPeerNames } from "./peers.js";

const EVENT_TYPES = ["probe", "broker", "attempt", "connection", "bytes", "network", "reset", "service", "forward"];
const RETRY_MS = 3000;

let source = null; // the current EventSource
let loaded = false; // the state was loaded for this source
let pending = []; // events that came in while the state was loading
let dropped = false; // the stream dropped since it was last open
let resumable = false; // an event with an ID came, so a reconnect resumes
let startedAt = ""; // when the node we show started, to notice a restart
let retryTimer = 0;
let refreshTimer = 0;

const conns = new Connections((id) => api.closeConnection(id).catch(authFailure));
const nets = new Networks({
  list: api.listNetworks,
  join: (name, secret, ip) => api.joinNetwork(name, secret, ip).catch(authFailure),
  leave: (name) => api.leaveNetwork(name).catch(authFailure),
});
const svcs = new Services(api.listServices, api.listForwards);
const form = new ConnectForm({
  connect: api.connect,
  onConnected: (info) => conns.upsert(info),
  onUnauthorized: () => askToken(),
});

function setLive(state, text) {
  const live = $("live");
  live.dataset.state = state;
  live.textContent = text;
}

/** authFailure shows the token form for a 401 and passes the error on. */
function authFailure(err) {
  if (err && err.unauthorized) askToken();
  throw err;
}

function stop() {
  clearTimeout(retryTimer);
  if (source) source.close();
  source = null;
}

/** start opens the event stream; the state is loaded once it is open. */
function start() {
  stop();
  loaded = false;
  dropped = false;
  resumable = false;
  pending = [];
  setLive("connecting", "Connecting…");
  $("forget-token").hidden = !api.token();
  const src = new EventSource(api.eventsURL());
  source = src;
  src.addEventListener("open", () => {
    if (source !== src) return;
    setLive("live", "Live");
    if (!loaded) {
      load(src);
    } else if (dropped && !resumable) {
      // Nothing told the browser where to resume: reload, queueing events.
      loaded = false;
      pending = [];
      load(src);
    } else if (dropped) {
      checkRestart(src);
    }
    dropped = false;
  });
  src.addEventListener("error", () => {
    if (source !== src) return;
    if (src.readyState === EventSource.CLOSED) {
      streamFailed(src);
    } else {
      dropped = true;
      setLive("reconnecting", "Reconnecting…");
    }
  });
  for (const type of EVENT_TYPES) {
    src.addEventListener(type, (e) => {
      if (source !== src) return;
      if (e.lastEventId) resumable = true;
      let data;
      try {
        data = JSON.parse(e.data);
      } catch {
        return;
      }
      // Attempts are progress, not state: they are shown at once.
      if (!loaded && type !== "attempt") pending.push([type, data]);
      else apply(type, data);
    });
  }
}

/** load fetches the whole state, then applies the events that came meanwhile. */
async function load(src) {
  try {
    const [node, list] = await Promise.all([api.getNode(), api.listConnections(), loadPeerNames(api.listPeers)]);
    if (source !== src) return;
    startedAt = node.started_at;
    renderNode(node);
    conns.replaceAll(list.connections || []);
    nets.reloadSoon();
    svcs.reload();
    loaded = true;
    $("auth").hidden = true;
    $("dash").hidden = false;
    const queued = pending;
    pending = [];
    for (const [type, data] of queued) apply(type, data);
  } catch (err) {
    if (source !== src) return;
    if (err.unauthorized) askToken();
    else retry(`API error: ${err.message}`);
  }
}

function apply(type, ev) {
  switch (type) {
    case "probe":
      if (ev.node) renderNode(ev.node);
      break;
    case "broker":
      renderBrokers(ev.brokers || []);
      refreshNodeSoon(); // the address lists the connected brokers
      break;
    case "connection":
      conns.upsert(ev.connection);
      nets.reloadSoon(); // member links are connections
      break;
    case "service":
      svcs.renderServices(ev.services || []);
      break;
    case "forward":
      svcs.renderForwards(ev.forwards || []);
      break;
    case "bytes":
      conns.upsert(...(ev.connections || []));
      break;
    case "network":
      nets.reloadSoon(); // a network's state changed
      break;
    case "attempt":
      form.onAttempt(ev.attempt);
      break;
    case "reset":
      // Events were lost while we were away: reload, queueing new events.
      loaded = false;
      pending = [];
      load(source);
      break;
  }
}

function refreshNodeSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    api.getNode().then(renderNode, () => {});
  }, 250);
}

/**
 * checkRestart runs when the stream came back after a drop. The browser
 * resumed it with Last-Event-ID, which covers a network blip; a daemon that
 * restarted numbers its events anew, so then everything is reloaded.
 */
async function checkRestart(src) {
  try {
    const node = await api.getNode();
    if (source === src && node.started_at !== startedAt) start();
  } catch (err) {
    if (source === src && err.unauthorized) askToken();
  }
}

/** streamFailed handles an event stream the browser gave up on (an HTTP error). */
async function streamFailed(src) {
  src.close();
  try {
    await api.getNode();
    if (source === src) retry("Event stream failed");
  } catch (err) {
    if (source !== src) return;
    if (err.unauthorized) askToken();
    else retry("API unreachable");
  }
}

function retry(why) {
  setLive("error", `${why}; retrying…`);
  clearTimeout(retryTimer);
  retryTimer = setTimeout(start, RETRY_MS);
}

/** askToken shows the token form; a token that was sent is said to be wrong. */
function askToken() {
  const had = api.token() !== "";
  stop();
  setLive("locked", "Token needed");
  $("dash").hidden = true;
  $("auth").hidden = false;
  $("auth-msg").textContent = had ? "The API refused this token. Check it and try again." : "";
  $("forget-token").hidden = !had;
  $("auth-token").focus();
}

$("auth-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("auth-token");
  const t = input.value.trim();
  if (!t) {
    $("auth-msg").textContent = "Enter the API token.";
    input.focus();
    return;
  }
  api.setToken(t);
  input.value = "";
  $("auth").hidden = true;
  start();
});

$("forget-token").addEventListener("click", () => {
  api.setToken("");
  start();
});

for (const b of document.querySelectorAll("button.copy")) {
  b.addEventListener("click", async () => {
    const text = $(b.dataset.copy).textContent;
    const what = b.getAttribute("aria-label").replace(/^Copy /, "");
    try {
      await copyText(text);
      $("copy-msg").textContent = `Copied the ${what}.`;
      b.textContent = "Copied";
      setTimeout(() => (b.textContent = "Copy"), 1500);
    } catch (err) {
      $("copy-msg").textContent = `Could not copy the ${what}: ${err.message}`;
    }
  });
}

initPolicyEditor();
window.addEventListener("pagehide", stop);
start();
