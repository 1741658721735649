package node

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reachd/reachd/network"
	"github.com/reachd/reachd/pair"
	"github.com/reachd/reachd/service"
	"github.com/reachd/reachd/signaling"
)

// Event types.
const (
	EventProbe      = "probe"      // a NAT probe finished, or the port mapping changed; Node holds the new state
	EventBroker     = "broker"     // a broker went up or down; Brokers holds them all
	EventConnection = "connection" // a connection opened or changed state
	EventAttempt    = "attempt"    // a strategy attempt started or ended
	EventBytes      = "bytes"      // byte counters of open connections, at most once a second
	EventPath       = "path"       // a peer link's path was attached, lost, resumed or upgraded, or the link failed
	EventNetwork    = "network"    // a named network's state changed (joining, waiting, joined)
	EventService    = "service"    // a service was offered, changed or removed; Services holds them all
	EventForward    = "forward"    // a forward started or stopped; Forwards holds them all
	EventPair       = "pair"       // a pairing started, completed, failed or expired; Pair says which
	EventAddress    = "address"    // the node's address changed; AddrChange says how and why
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
	Network     *network.StateChange     `json:"network,omitempty"`
	Services    []service.Service        `json:"services,omitzero"`
	Forwards    []service.ForwardInfo    `json:"forwards,omitzero"`
	Pair        *pair.Event              `json:"pair,omitempty"`
	AddrChange  *AddressChange           `json:"address,omitempty"`
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

// DefaultEventQueue is how many events a subscriber may fall behind by
// before it is dropped (SubscribeEvents).
const DefaultEventQueue = 256

// EventRecord is an event as the node keeps it and hands it to every
// subscriber: its JSON is encoded once, by whichever reader asks first,
// for all of them.
type EventRecord struct {
	Event Event

	once sync.Once
	data []byte
	err  error
}

// JSON is the event's JSON encoding.
func (r *EventRecord) JSON() ([]byte, error) {
	r.once.Do(func() { r.data, r.err = json.Marshal(r.Event) })
	return r.data, r.err
}

// EventSub is a subscription to the node's events (Node.SubscribeEvents).
type EventSub struct {
	e       *events
	ch      chan *EventRecord
	hurry   chan struct{} // capacity 1
	dropped atomic.Bool
}

// C delivers the events in order. It is closed when the subscriber fell
// too far behind (Dropped then reports true) or Close was called.
func (s *EventSub) C() <-chan *EventRecord { return s.ch }

// Hurry receives when the queue has filled to half: a reader that lets
// events gather before it reads them should read now.
func (s *EventSub) Hurry() <-chan struct{} { return s.hurry }

// Dropped reports whether the subscription ended because its reader fell
// behind by more than its queue.
func (s *EventSub) Dropped() bool { return s.dropped.Load() }

// Close ends the subscription.
func (s *EventSub) Close() {
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	s.e.remove(s)
}

// events is a bounded log of events with subscribers. Adding an event
// costs one non-blocking channel send per subscriber: a subscriber whose
// queue is full is dropped, never waited for.
type events struct {
	mu     sync.Mutex
	next   uint64
	buf    []*EventRecord // the last eventBuffer events, oldest first
	notify chan struct{}
	subs   map[*EventSub]struct{}
}

func newEvents() *events {
	return &events{next: 1, notify: make(chan struct{}), subs: make(map[*EventSub]struct{})}
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ev.ID = e.next
	e.next++
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	r := &EventRecord{Event: ev}
	// Appended and resliced, never written in place: a backlog handed out
	// shares the array.
	e.buf = append(e.buf, r)
	if len(e.buf) > eventBuffer {
		e.buf = e.buf[len(e.buf)-eventBuffer:]
	}
	close(e.notify)
	e.notify = make(chan struct{})
	for s := range e.subs {
		select {
		case s.ch <- r:
			if len(s.ch) >= cap(s.ch)/2 {
				select {
				case s.hurry <- struct{}{}:
				default:
				}
			}
		default:
			s.dropped.Store(true)
			e.remove(s)
		}
	}
}

// remove ends s; e.mu is held.
func (e *events) remove(s *EventSub) {
	if _, ok := e.subs[s]; ok {
		delete(e.subs, s)
		close(s.ch)
	}
}

// backlog returns the records after ID after and whether some were lost
// (after is older than the buffer); e.mu is held.
func (e *events) backlog(after uint64) (recs []*EventRecord, lost bool) {
	if len(e.buf) > 0 && after+1 < e.buf[0].Event.ID {
		lost = true
	}
	for i, r := range e.buf {
		if r.Event.ID > after {
			return e.buf[i:len(e.buf):len(e.buf)], lost
		}
	}
	return nil, lost
}

// since returns the events after ID after, whether some were lost (after
// is older than the buffer), and a channel closed at the next event.
func (e *events) since(after uint64) (evs []Event, lost bool, next <-chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	recs, lost := e.backlog(after)
	for _, r := range recs {
		evs = append(evs, r.Event)
	}
	return evs, lost, e.notify
}

func (e *events) subscribe(after uint64, queue int) ([]*EventRecord, bool, *EventSub) {
	if queue <= 0 {
		queue = DefaultEventQueue
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	recs, lost := e.backlog(after)
	s := &EventSub{e: e, ch: make(chan *EventRecord, queue), hurry: make(chan struct{}, 1)}
	e.subs[s] = struct{}{}
	return recs, lost, s
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

// SubscribeEvents subscribes to the events after ID after: backlog holds
// those still kept (lost reports that some in between were dropped from
// the buffer; the backlog is shared, not to be modified) and the
// subscription delivers every later one. A subscriber that falls more than
// queue events behind (DefaultEventQueue when queue <= 0) is dropped rather
// than slowing the node: its channel closes and Dropped reports true. The
// caller must Close the subscription.
func (n *Node) SubscribeEvents(after uint64, queue int) (backlog []*EventRecord, lost bool, sub *EventSub) {
	return n.events.subscribe(after, queue)
}

// LastEventID is the ID of the newest event.
func (n *Node) LastEventID() uint64 { return n.events.last() }
