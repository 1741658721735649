// The address book (GET /v1/peers): names shown in place of node IDs
// wherever the dashboard shows a peer (dom.js shortID).

import { peerNames } from "./dom.js";

/** loadPeerNames fills peerNames from the address book; a failure leaves the IDs shown. */
export async function loadPeerNames(list) {
  try {
    const book = await list();
    peerNames.clear();
    for (const p of book.peers || []) if (!peerNames.has(p.node_id)) peerNames.set(p.node_id, p.name);
  } catch (err) {
    if (err && err.unauthorized) throw err;
  }
}
