// The inbound policy: shown in the node panel (who may connect) and edited
// there: accept any peer or only the allow list (PUT /v1/policy), add a
// node ID to the allow list or remove one (PUT and DELETE
// /v1/policy/allow/{id}). Each answer is the new policy, shown at once.

import { $, el, shortID } from "./dom.js";
import * as api from "./api.js";

/** showPolicy shows a policy: its badge, and the editor's choice and list. */
export function showPolicy(p) {
  const allow = p.allow || [];
  const list = p.accept === "allowlist";
  const parts = [list
    ? el("span", { class: "badge fair", "data-accept": "allowlist" }, "Allow list")
    : el("span", { class: "badge good", "data-accept": "any" }, "Any peer")];
  if (list) {
    parts.push(el("span", { class: "muted", title: allow.join("\n") }, ` ${allow.length} node${allow.length === 1 ? "" : "s"} allowed`));
  }
  $("node-policy").replaceChildren(...parts);

  for (const r of document.querySelectorAll('#policy-form input[name="accept"]')) r.checked = r.value === (p.accept || "any");
  $("allow-list").replaceChildren(...allow.map((id) => {
    const b = el("button", { type: "button", class: "quiet small", "aria-label": `Remove ${id} from the allow list` }, "Remove");
    b.addEventListener("click", () => change(() => api.disallowPeer(id), b));
    return el("li", { "data-id": id }, el("code", { class: "mono", title: id }, shortID(id)), " ", b);
  }));
  $("allow-empty").hidden = allow.length > 0;
}

/** change runs one policy request and shows its answer, or what failed. */
async function change(call, control) {
  const msg = $("policy-msg");
  msg.textContent = "";
  if (control) control.disabled = true;
  try {
    showPolicy(await call());
    return true;
  } catch (err) {
    msg.textContent = `Could not change the policy: ${err.message}`;
    return false;
  } finally {
    if (control) control.disabled = false;
  }
}

/** initPolicyEditor wires the policy form. */
export function initPolicyEditor() {
  for (const r of document.querySelectorAll('#policy-form input[name="accept"]')) {
    r.addEventListener("change", () => {
      if (r.checked) change(() => api.setAccept(r.value));
    });
  }
  $("policy-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("allow-id");
    const id = input.value.trim();
    if (!id) {
      $("policy-msg").textContent = "Enter the node ID to allow.";
      input.focus();
      return;
    }
    if (await change(() => api.allowPeer(id), $("allow-submit"))) input.value = "";
  });
}
