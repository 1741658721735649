package peerlink

import (
	"context"
	"time"
)

// Status is a peer link as the API reports it.
type Status struct {
	NodeID string `json:"node_id"`
	// State is the session link's: waiting (for a path) or connected.
	State string `json:"state"`
	// Path is the path the link rides on now, with its RTT; absent while
	// it waits for one.
	Path *Path `json:"path,omitempty"`
	// BytesSent and BytesReceived count the link's reliable bytes (its
	// streams' data and framing, each byte once however often resent).
	BytesSent     uint64 `json:"bytes_sent"`
	BytesReceived uint64 `json:"bytes_received"`
	// Connections is how many streams are open on the link.
	Connections int `json:"connections"`
	// ActiveAt is when the link last sent or received stream bytes;
	// absent before any. IdleMS is the time since then.
	ActiveAt time.Time `json:"active_at,omitzero"`
	IdleMS   int64     `json:"idle_ms"`
}

// Status reports the link.
func (l *Link) Status() Status {
	st := l.link.Stats()
	cur, _ := l.Paths(time.Now())
	s := Status{
		NodeID:        l.peer,
		State:         string(st.State),
		Path:          cur,
		BytesSent:     uint64(max(st.Sent, 0)),
		BytesReceived: uint64(max(st.Received, 0)),
		Connections:   st.Streams,
		ActiveAt:      st.Active,
	}
	if !st.Active.IsZero() {
		s.IdleMS = time.Since(st.Active).Milliseconds()
	}
	return s
}

// Ping measures one round trip over the link's current path (waiting for
// a path while it has none) and returns the strategy of the path it
// answered on: the path current when the pong came.
func (l *Link) Ping(ctx context.Context) (time.Duration, string, error) {
	rtt, err := l.link.Ping(ctx)
	if err != nil {
		return 0, "", err
	}
	name, _ := l.Current()
	return rtt, name, nil
}
