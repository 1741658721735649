// The connect form: POST /v1/connections, with each strategy's progress
// shown live from the "attempt" events and, at the end, from the answer
// (201 with the connection's attempts, or the 502 problem's "attempts").

import { $, el, shortID, peerNames } from "./dom.js";

const OUTCOME_LABEL = {
  waiting: "waiting",
  trying: "trying…",
  ok: "connected",
  failed: "failed",
  skipped: "skipped",
  cancelled: "cancelled",
  unneeded: "not needed",
};

/** peerOf is the node ID in a peer address (its second-to-last part). */
function peerOf(address) {
  const parts = address.split("-");
  if (parts.length >= 5) return parts[parts.length - 2];
  for (const [id, name] of peerNames) if (name === address) return id; // a name in the address book
  return /^[a-z2-7]{52}$/.test(address) ? address : ""; // a node ID alone
}

/**
 * timing words when an attempt ran, as offsets from the start of the race:
 * "from 50 ms" while it runs, "50–730 ms" once it ended.
 */
function timing(a) {
  if (a.started_ms === undefined) return a.ms === undefined || a.outcome === "trying" ? "" : `${a.ms} ms`;
  if (a.outcome === "trying") return `from ${a.started_ms} ms`;
  if (a.outcome === "skipped" || a.outcome === "unneeded") return "";
  return `${a.started_ms}–${a.finished_ms} ms`;
}

export class ConnectForm {
  /**
   * connect(address, strategies) performs the request; onConnected(info)
   * gets the new connection; onUnauthorized() is called on a 401.
   */
  constructor({ connect, onConnected, onUnauthorized }) {
    this.connect = connect;
    this.onConnected = onConnected;
    this.onUnauthorized = onUnauthorized;
    this.pendingPeer = null;
    this.form = $("connect-form");
    this.address = $("peer-address");
    this.button = $("connect-submit");
    this.list = $("attempts");
    this.msg = $("connect-msg");
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    // An address is one line: Enter submits, as in a text field.
    this.address.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.form.requestSubmit();
      }
    });
  }

  /** onAttempt applies an "attempt" event while a connect to its peer runs. */
  onAttempt(a) {
    if (!a || !this.pendingPeer || a.peer !== this.pendingPeer) return;
    this.showAttempt(a);
  }

  say(text, kind) {
    this.msg.textContent = text;
    this.msg.className = `msg ${kind || ""}`;
  }

  async submit() {
    if (this.pendingPeer !== null) return;
    const address = this.address.value.replace(/\s+/g, "");
    this.address.value = address;
    const strategies = [...this.form.querySelectorAll('input[name="strategy"]:checked')].map((i) => i.value);
    const all = this.form.querySelectorAll('input[name="strategy"]').length;
    if (!address) {
      this.say("Enter the peer's address.", "error");
      this.address.setAttribute("aria-invalid", "true");
      this.address.focus();
      return;
    }
    if (strategies.length === 0) {
      this.say("Choose at least one strategy.", "error");
      return;
    }
    this.address.removeAttribute("aria-invalid");

    this.list.replaceChildren(...strategies.map((s) => this.item(s)));
    $("progress").hidden = false;
    this.say(`Connecting to ${shortID(peerOf(address)) || "peer"}…`, "busy");
    this.pendingPeer = peerOf(address);
    this.button.disabled = true;
    this.form.setAttribute("aria-busy", "true");
    try {
      const info = await this.connect(address, strategies.length === all ? undefined : strategies);
      this.pendingPeer = null;
      this.finish(info.attempts || []);
      const ok = (info.attempts || []).find((a) => a.outcome === "ok");
      this.say(`Connected to ${shortID(info.peer_id)} by ${info.strategy}${ok ? ` in ${ok.ms} ms` : ""}.`, "ok");
      this.onConnected(info);
    } catch (err) {
      this.pendingPeer = null;
      this.failed(err);
    } finally {
      this.pendingPeer = null;
      this.button.disabled = false;
      this.form.removeAttribute("aria-busy");
    }
  }

  failed(err) {
    const p = err.problem || {};
    switch (err.status) {
      case 401:
        $("progress").hidden = true;
        this.say("The API asks for its token.", "error");
        this.onUnauthorized();
        return;
      case 400: {
        $("progress").hidden = true;
        const where = p.field ? ` (field “${p.field}” of the ${p.part || "address"})` : "";
        this.say(`Bad request: ${p.detail || err.message}${where}`, "error");
        this.address.setAttribute("aria-invalid", "true");
        this.address.focus();
        return;
      }
      case 502: {
        // One line that says why (the node's verdict, else the first
        // failure's reason); the attempts beneath are the timeline, each
        // with its own reason, so the detail (which lists them) is not
        // repeated.
        const attempts = Array.isArray(p.attempts) ? p.attempts : [];
        this.finish(attempts);
        const first = attempts.find((a) => a.outcome === "failed" && a.reason);
        const verdict = p.verdict || (first ? `${first.name}: ${first.reason}` : p.detail || err.message);
        this.say(`No strategy connected: ${verdict}`, "error verdict");
        return;
      }
      default:
        this.say(`${p.title || "Error"}: ${p.detail || err.message}`, "error");
    }
  }

  /** finish shows the final attempts; strategies never tried are "not needed". */
  finish(attempts) {
    for (const a of attempts) this.showAttempt(a);
    for (const li of this.list.querySelectorAll('li[data-outcome="waiting"], li[data-outcome="trying"]')) {
      this.setOutcome(li, { outcome: "unneeded" });
    }
  }

  item(strategy) {
    const li = el("li", { "data-strategy": strategy, "data-outcome": "waiting" },
      el("span", { class: "strategy" }, strategy),
      el("span", { class: "outcome badge none" }, OUTCOME_LABEL.waiting),
      el("span", { class: "ms num" }),
      el("span", { class: "reason" }));
    return li;
  }

  showAttempt(a) {
    let li = this.list.querySelector(`li[data-strategy="${CSS.escape(a.name)}"]`);
    if (!li) {
      li = this.item(a.name);
      this.list.append(li);
    }
    // "trying" never replaces an outcome that already came in.
    if (a.outcome === "trying" && li.dataset.outcome !== "waiting") return;
    this.setOutcome(li, a);
  }

  setOutcome(li, a) {
    li.dataset.outcome = a.outcome;
    const badge = li.querySelector(".outcome");
    badge.textContent = OUTCOME_LABEL[a.outcome] || a.outcome;
    badge.className = `outcome badge ${{ ok: "good", failed: "poor", trying: "busy", skipped: "fair" }[a.outcome] || "none"}`;
    li.querySelector(".ms").textContent = timing(a);
    li.querySelector(".reason").textContent = a.reason || "";
  }
}
