package node

import (
	"slices"
	"strings"

	"github.com/reachd/reachd/node/internal/peerlink"
)

// PeerStatus is the node's link with one peer, as GET /v1/node lists it
// (its path and RTT, its bytes, when it was last active).
type PeerStatus = peerlink.Status

// Peers lists the node's live peer links, by node ID.
func (n *Node) Peers() []PeerStatus {
	links := n.links.Links()
	out := make([]PeerStatus, 0, len(links))
	for _, l := range links {
		out = append(out, l.Status())
	}
	slices.SortFunc(out, func(a, b PeerStatus) int { return strings.Compare(a.NodeID, b.NodeID) })
	return out
}
