package node

import (
	"sync"

	"github.com/reachd/reachd/signaling"
)

// Metrics is a snapshot of the node's counters, for /metrics.
type Metrics struct {
	Ready         bool
	ClockOffsetS  float64
	Connections   map[ConnKey]int          // current connections (open, half-closed)
	Opened        map[ConnKey]uint64       // connections opened since start
	Attempts      map[AttemptKey]uint64    // strategy attempts by outcome
	Failures      map[FailureKey]uint64    // failed attempts by class (strategy.Class)
	Steps         map[StepKey]StepSum      // winning attempts' timelines: each moment's ms from the connect's start
	BytesSent     uint64                   // all connections, closed ones included
	BytesReceived uint64                   //
	Brokers       []signaling.BrokerStatus // per broker: up, messages in/out, drops
	Drops         map[signaling.DropReason]uint64
	Refused       map[string]uint64 // peer requests and inbound connections refused, by reason (Refused*)
	Links         int               // peer links (one per peer with a path or waiting for one)
	// RecvBuffered counts the bytes the listed connections received and
	// nobody read yet; RecvBudgetUsed what peers hold of the receive
	// budget (that, and what the windows promise), RecvBudget its size.
	RecvBuffered   int64
	RecvBudgetUsed int64
	RecvBudget     int64
}

// ConnKey labels connections.
type ConnKey struct {
	Strategy  string
	Direction Direction
	State     State
}

// AttemptKey labels strategy attempts.
type AttemptKey struct{ Strategy, Outcome string }

// StepKey labels a moment of the winning attempts' timelines.
type StepKey struct{ Strategy, Step string }

// StepSum sums the ms from the connect's start at which a moment came.
type StepSum struct {
	Count uint64
	SumMS uint64
}

// FailureKey labels failed attempts.
type FailureKey struct{ Strategy, Reason string }

// counters are the node's cumulative counts.
type counters struct {
	mu          sync.Mutex
	opened      map[ConnKey]uint64
	attempts    map[AttemptKey]uint64
	failures    map[FailureKey]uint64
	steps       map[StepKey]StepSum
	refused     map[string]uint64
	closedSent  uint64
	closedRecvd uint64
}

func newCounters() *counters {
	return &counters{
		opened:   make(map[ConnKey]uint64),
		attempts: make(map[AttemptKey]uint64),
		failures: make(map[FailureKey]uint64),
		steps:    make(map[StepKey]StepSum),
		refused:  make(map[string]uint64),
	}
}

func (c *counters) refuse(reason string) {
	c.mu.Lock()
	c.refused[reason]++
	c.mu.Unlock()
}

func (c *counters) attempt(a Attempt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts[AttemptKey{a.Name, a.Outcome}]++
	if a.Outcome == OutcomeFailed {
		c.failures[FailureKey{a.Name, a.Class}]++
	}
	if a.Outcome == OutcomeOK {
		for _, st := range a.Steps {
			k := StepKey{a.Name, st.Name}
			sum := c.steps[k]
			sum.Count++
			sum.SumMS += uint64(st.MS)
			c.steps[k] = sum
		}
	}
}

func (c *counters) open(info ConnInfo) {
	c.mu.Lock()
	c.opened[ConnKey{info.Strategy, info.Direction, StateOpen}]++
	c.mu.Unlock()
}

func (c *counters) closed(info ConnInfo) {
	c.mu.Lock()
	c.closedSent += info.BytesSent
	c.closedRecvd += info.BytesReceived
	c.mu.Unlock()
}

// Metrics reports the node's counters.
func (n *Node) Metrics() Metrics {
	m := Metrics{
		Ready:       n.readyNow(),
		Connections: make(map[ConnKey]int),
		Opened:      make(map[ConnKey]uint64),
		Attempts:    make(map[AttemptKey]uint64),
		Failures:    make(map[FailureKey]uint64),
		Steps:       make(map[StepKey]StepSum),
		Refused:     make(map[string]uint64),
		Brokers:     n.sig.Brokers(),
		Drops:       n.sig.Drops(),
		Links:       len(n.links.Links()),
	}
	if n.clock != nil {
		m.ClockOffsetS = n.clock.Offset().Seconds()
	}
	n.counters.mu.Lock()
	for k, v := range n.counters.opened {
		m.Opened[k] = v
	}
	for k, v := range n.counters.attempts {
		m.Attempts[k] = v
	}
	for k, v := range n.counters.refused {
		m.Refused[k] = v
	}
	for k, v := range n.counters.failures {
		m.Failures[k] = v
	}
	for k, v := range n.counters.steps {
		m.Steps[k] = v
	}
	m.BytesSent, m.BytesReceived = n.counters.closedSent, n.counters.closedRecvd
	n.counters.mu.Unlock()
	for _, c := range n.conns.list() {
		m.RecvBuffered += int64(c.s.Stats().Buffered)
		if c.State() == StateClosed {
			continue
		}
		info := c.Info()
		m.Connections[ConnKey{info.Strategy, info.Direction, info.State}]++
		m.BytesSent += info.BytesSent
		m.BytesReceived += info.BytesReceived
	}
	m.RecvBudgetUsed, m.RecvBudget = n.limits.recv.Used(), n.limits.recv.Limit()
	return m
}
