package signaling

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A configured broker entry is one broker, or the members of one broker
// cluster separated by '|' ("mqtt://a:1883|mqtt://b:1883|mqtt://c:1883").
// A cluster is one broker to the rest of reachd: one signal offset, and a
// message published on any member reaches a subscriber on any other.
//
// Of a cluster's members a node uses two at a time (ClusterMembers), both
// subscribed to its topic, so a message to the node arrives twice (the
// copy is dropped by message ID) whatever the cluster's size, and a member
// that dies costs nothing while the other carries on. A message from the
// node goes to one member only. The members are taken in an order rotated
// by the node ID, so the nodes of a deployment that share one list spread
// over the members. When a member in use loses its connection, or has not
// connected within Config.ConnectTimeout, the node swaps it for the next
// member not in use and puts it at the end of its order, not to be taken
// again for Config.ConnectRetryInterval (so a cluster whose members are
// all down is not dialled in a loop), or for Config.ConnectTimeout if it
// could not even be dialled: a member whose process is gone is not taken
// back in place of a live one that fails for a while (a NATS cluster that
// lost a member refuses or closes connections on the live ones for
// seconds, until it has re-elected its JetStream leaders). With no other
// member to take, it keeps trying the one it has. Failures to connect
// after the node's own Reconnect do not count (see broker.lost).

// ClusterMembers is how many members of one broker cluster a node uses at
// a time.
const ClusterMembers = 2

// ClusterSep separates the members of one broker cluster in a configured
// broker entry.
const ClusterSep = "|"

// SplitEntry returns the member URLs of a configured broker entry: one for
// a single broker.
func SplitEntry(raw string) []string {
	parts := strings.Split(raw, ClusterSep)
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// entry is one configured broker entry and the broker connections it runs.
type entry struct {
	c      *Client
	offset int
	raw    string
	order  []string // members, in this node's order of preference; owned by run
	multi  bool     // a cluster: more than one member
	want   int
	kick   chan struct{} // capacity 1: a member lost its connection or failed to connect

	mu     sync.Mutex
	active []*broker // running now; the first connected one publishes

	connects, in, out, drops atomic.Uint64
}

func newEntry(c *Client, offset int, raw string) (*entry, error) {
	members := SplitEntry(raw)
	for _, m := range members {
		if _, err := pahoURL(m); err != nil {
			return nil, err
		}
	}
	if len(members) > 1 && len(members) != len(slices.Compact(slices.Sorted(slices.Values(members)))) {
		return nil, fmt.Errorf("signaling: broker %q: a cluster member is listed twice", raw)
	}
	h := fnv.New32a()
	h.Write([]byte(c.id.NodeID()))
	k := int(h.Sum32() % uint32(len(members)))
	order := append(slices.Clone(members[k:]), members[:k]...)
	return &entry{
		c:      c,
		offset: offset,
		raw:    raw,
		order:  order,
		multi:  len(members) > 1,
		want:   min(ClusterMembers, len(members)),
		kick:   make(chan struct{}, 1),
	}, nil
}

func (e *entry) cluster() bool { return e.multi }

// wakeManager tells run that a member failed.
func (e *entry) wakeManager() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

type running struct {
	b      *broker
	cancel context.CancelFunc
	done   chan struct{}
}

// run keeps want members connected until ctx ends.
func (e *entry) run(ctx context.Context) {
	runs := map[*broker]running{}
	benched := map[string]time.Time{}
	start := func(url string) {
		b, err := newBroker(e, url)
		if err != nil { // checked by newEntry; only the random client ID can fail
			e.c.log.Warn("broker", "url", url, "err", err)
			return
		}
		bctx, cancel := context.WithCancel(ctx)
		r := running{b: b, cancel: cancel, done: make(chan struct{})}
		runs[b] = r
		e.mu.Lock()
		e.active = append(e.active, b)
		e.mu.Unlock()
		go func() {
			defer close(r.done)
			b.run(bctx)
		}()
	}
	stop := func(b *broker) {
		r := runs[b]
		delete(runs, b)
		e.mu.Lock()
		e.active = slices.DeleteFunc(e.active, func(x *broker) bool { return x == b })
		e.mu.Unlock()
		r.cancel()
		<-r.done
	}
	defer func() {
		for b := range runs {
			stop(b)
		}
	}()
	for _, url := range e.order[:e.want] {
		start(url)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if !e.cluster() {
			<-ctx.Done()
			return
		}
		now := time.Now()
		next := time.Hour
		for b := range runs {
			down, wait := b.down(now, e.c.cfg.ConnectTimeout)
			if !down {
				if wait > 0 {
					next = min(next, wait)
				}
				continue
			}
			spare, after := e.spare(runs, benched, now)
			if spare == "" {
				if after > 0 { // one comes off the bench then
					next = min(next, after)
				}
				continue // nothing better now: paho keeps retrying this one
			}
			e.c.log.Info("cluster member down, taking another", "broker", b.url, "next", spare, "err", b.lastError())
			stop(b)
			bench := e.c.cfg.ConnectRetryInterval
			if b.unreachable() {
				bench = max(bench, e.c.cfg.ConnectTimeout)
			}
			benched[b.url] = now.Add(bench)
			e.order = append(slices.DeleteFunc(e.order, func(u string) bool { return u == b.url }), b.url)
			start(spare)
			e.c.notify()
		}
		timer.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-e.kick:
		case <-timer.C:
		}
	}
}

// spare returns the first member in order that is neither running nor
// benched, or "" and how long until a member not running comes off the
// bench (0: none).
func (e *entry) spare(runs map[*broker]running, benched map[string]time.Time, now time.Time) (url string, after time.Duration) {
	for _, u := range e.order {
		used := false
		for b := range runs {
			used = used || b.url == u
		}
		if used {
			continue
		}
		if !now.Before(benched[u]) {
			return u, 0
		}
		if w := benched[u].Sub(now); after == 0 || w < after {
			after = w
		}
	}
	return "", after
}

func (e *entry) brokers() []*broker {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.active)
}

// pick returns the connected member a message goes to, or nil.
func (e *entry) pick() *broker {
	for _, b := range e.brokers() {
		if b.isConnected() {
			return b
		}
	}
	return nil
}

// other returns a connected member other than those tried, or nil.
func (e *entry) other(tried []*broker) *broker {
	for _, b := range e.brokers() {
		if b.isConnected() && !slices.Contains(tried, b) {
			return b
		}
	}
	return nil
}

func (e *entry) isConnected() bool { return e.pick() != nil }

func (e *entry) status() BrokerStatus {
	s := BrokerStatus{
		URL:      e.raw,
		Offset:   e.offset,
		Connects: e.connects.Load(),
		In:       e.in.Load(),
		Out:      e.out.Load(),
		Drops:    e.drops.Load(),
	}
	var errs []string
	for _, b := range e.brokers() {
		up, lastErr := b.state()
		if up {
			s.Connected = true
			if e.cluster() {
				s.Members = append(s.Members, b.url)
			}
		}
		if lastErr != "" {
			if e.cluster() {
				lastErr = b.url + ": " + lastErr
			}
			errs = append(errs, lastErr)
		}
	}
	s.LastError = strings.Join(errs, "; ")
	return s
}
