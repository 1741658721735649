package peerlink

import (
	"net"
	"slices"
	"time"
)

// Direction says which side asked for a connection or made a path.
type Direction string

const (
	Outbound Direction = "outbound"
	Inbound  Direction = "inbound"
)

// Path is a secured transport between two nodes, as the API reports it.
type Path struct {
	Strategy   string `json:"strategy"`
	LocalAddr  string `json:"local_addr"`
	RemoteAddr string `json:"remote_addr"`
	// RTTMS is the round trip the session's pings measure over the path
	// (peer to peer, through the relay for a relay path), when known.
	RTTMS  float64   `json:"rtt_ms,omitempty"`
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until,omitzero"`
	Reason string    `json:"reason,omitempty"` // why it ended
}

// pathHistory bounds the ended paths a link remembers.
const pathHistory = 32

// pathMeta is what the link knows of a path it was given.
type pathMeta struct {
	Path
	dir  Direction // Outbound: we initiated the race that made it
	conn net.Conn  // the path's connection, closed by Drop
}

// endPath moves the current path to the history; l.mu is held.
func (l *Link) endPath(at time.Time, reason string) {
	p := l.cur.Path
	p.Until, p.Reason = at, reason
	l.ended = append(l.ended, p)
	if len(l.ended) > pathHistory {
		l.ended = slices.Delete(l.ended, 0, len(l.ended)-pathHistory)
	}
	l.cur = nil
}

// Paths returns the link's current path (nil while it has none) with the
// RTT its pings measure, and every path since t, the current one last;
// never empty.
func (l *Link) Paths(since time.Time) (*Path, []Path) {
	rtt := l.link.RTT()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Path
	for _, p := range l.ended {
		if p.Until.After(since) {
			out = append(out, p)
		}
	}
	var cur *Path
	if l.cur != nil {
		p := l.cur.Path
		if rtt > 0 {
			p.RTTMS = float64(rtt.Microseconds()) / 1000
		}
		cur = &p
		out = append(out, p)
	}
	if len(out) == 0 && len(l.ended) > 0 {
		out = append(out, l.ended[len(l.ended)-1])
	}
	if len(out) == 0 {
		out = []Path{{}}
	}
	return cur, out
}

// Current is the strategy of the link's path and which side made it; ""
// while it has none.
func (l *Link) Current() (name string, dir Direction) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil {
		return "", ""
	}
	return l.cur.Strategy, l.cur.dir
}

// Drop closes the link's current path when keep says it cannot carry on
// (keep gets the path), so that the link looks for a new one now rather
// than after its pings go unanswered (our own address changed under it,
// or the peer's). It reports whether it closed one.
func (l *Link) Drop(keep func(Path) bool) bool {
	l.mu.Lock()
	cur := l.cur
	l.mu.Unlock()
	if cur == nil || cur.conn == nil || keep(cur.Path) {
		return false
	}
	// The connection beneath TLS: closing TLS itself would first write a
	// close_notify, which a dead path may hold up for seconds.
	c := cur.conn
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn()
	}
	c.Close()
	return true
}
