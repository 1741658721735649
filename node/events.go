package node

import (
	"sync"
	"time"

	"github.com/reachd/reachd/service"
	"github.com/reachd/reachd/signaling"
)

// Event types.
const (
	EventProbe      = "probe"      // a NAT probe finished; Node holds the new state
	EventBroker     = "broker"     // a broker went up or down; Brokers holds them all
	EventConnection = "connection" // a connection opened or changed state
	EventAttempt    = "attempt"    // a strategy attempt started or ended
	EventBytes      = "bytes"      // byte counters of open connections, at most once a second
	EventPath       = "path"       // a peer link's path was attached, lost, resumed or upgraded, or the link failed
	EventService    = "service"    // a service was offered, changed or removed; Services holds them all
	EventForward    = "forward"    // a forward started or stopped; Forwards holds them all
)

// Event is something that happened on the node, as /v1/events streams it.
type Event struct {
	ID          uint64                   `json:"id"`
	Type        string                   `json:"type"`
	Time        time.Time                `json:"time"`
	Node        *Info                    `json:"node,omitempty"`
	Brokers     []signaling.BrokerStatus `json:"brokers,omitempty"`
	Connection  *ConnInfo                `json:"connection,omitempty"`
	Attempt     *AttemptEvent            `json:"attempt,omitempty"`
	Connections []ConnInfo               `json:"connections,omitempty"`
	PathChange  *PathEvent               `json:"path,omitempty"`
	Services    []service.Service        `json:"services,omitzero"`
	Forwards    []service.ForwardInfo    `json:"forwards,omitzero"`
}

// PathEvent is a change of the path under a peer's connections.
type PathEvent struct {
	Peer string `json:"peer"`
	// Kind is attached (the first path), lost (it died: a new one is
	// looked for), resumed (a new path after a loss), upgraded (a
	// better path replaced a live one) or failed (the link ended, and
	// its connections with it).
	Kind string `json:"kind"`
	// Path is the path concerned: the new one, or the one lost.
	Path   Path   `json:"path"`
	Reason string `json:"reason,omitempty"`
	// GapMS is how long the peer had no path, for resumed.
	GapMS int64 `json:"gap_ms,omitempty"`
}

// AttemptEvent is a strategy attempt towards a peer: outcome "trying" when
// it starts, then "ok" or "failed".
type AttemptEvent struct {
	Peer string `json:"peer"`
	Attempt
}

// eventBuffer is how many past events a subscriber can resume from.
const eventBuffer = 1024

// events is a bounded log of events with subscribers.
type events struct {
	mu     sync.Mutex
	next   uint64
	buf    []Event // the last eventBuffer events, oldest first
	notify chan struct{}
}

func newEvents() *events { return &events{next: 1, notify: make(chan struct{})} }

func (e *events) add(ev Event) {
	e.mu.Lock()
	ev.ID = e.next
	e.next++
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	e.buf = append(e.buf, ev)
	if len(e.buf) > eventBuffer {
		e.buf = e.buf[len(e.buf)-eventBuffer:]
	}
	close(e.notify)
	e.notify = make(chan struct{})
	e.mu.Unlock()
}

// since returns the events after ID after, whether some were lost (after
// is older than the buffer), and a channel closed at the next event.
func (e *events) since(after uint64) (evs []Event, lost bool, next <-chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.buf) > 0 && after+1 < e.buf[0].ID {
		lost = true
	}
	for _, ev := range e.buf {
		if ev.ID > after {
			evs = append(evs, ev)
		}
	}
	return evs, lost, e.notify
}

// last is the ID of the newest event, 0 if none.
func (e *events) last() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.next - 1
}

func (n *Node) emit(ev Event) { n.events.add(ev) }

// Events returns the events after ID after (0: all that are kept), whether
// some in between were dropped from the buffer, and a channel that is closed
// when the next event arrives.
func (n *Node) Events(after uint64) ([]Event, bool, <-chan struct{}) { return n.events.since(after) }

// LastEventID is the ID of the newest event.
func (n *Node) LastEventID() uint64 { return n.events.last() }
