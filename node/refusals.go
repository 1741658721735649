package node

import (
	"sync"

	"github.com/reachd/reachd/internal/logthrottle"
)

// refusalLog bounds the log lines that refusals a peer can repeat at will
// (opens past its caps, requests past its rate) may write: about one a
// second per peer (logthrottle), each saying how many were held back
// since. Strangers beyond maxTrackedPeers share one budget.
type refusalLog struct {
	mu     sync.Mutex
	peers  map[string]*logthrottle.Limiter
	others *logthrottle.Limiter
}

func newRefusalLog() *refusalLog {
	return &refusalLog{peers: make(map[string]*logthrottle.Limiter), others: logthrottle.New(0, 1)}
}

// allow reports whether a refusal of peer may be logged now, and how many
// were held back before it.
func (r *refusalLog) allow(peer string) (bool, int) {
	r.mu.Lock()
	lim := r.peers[peer]
	if lim == nil {
		if len(r.peers) >= maxTrackedPeers {
			lim = r.others
		} else {
			lim = logthrottle.New(0, 1)
			r.peers[peer] = lim
		}
	}
	r.mu.Unlock()
	return lim.Allow()
}

// logRefusal logs a refusal of peer at INFO, at most about once a second
// per peer, with the count of those held back (logthrottle.SuppressedKey).
func (n *Node) logRefusal(peer, msg string, attrs ...any) {
	if ok, held := n.limits.refusals.allow(peer); ok {
		n.log.Info(msg, append(attrs, "peer", peer, logthrottle.SuppressedKey, held)...)
	}
}
