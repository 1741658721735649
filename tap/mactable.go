package tap

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// macTable maps learned MAC addresses to the port they were last seen on.
// Lookups and refreshes of a known address take only the read lock and do
// not allocate.
type macTable struct {
	mu  sync.RWMutex
	m   map[[6]byte]*macEntry
	max int
	ttl time.Duration
}

type macEntry struct {
	port *port
	seen atomic.Int64 // unix nanoseconds
}

// lookup returns the port where mac lives, or nil when unknown or stale.
func (t *macTable) lookup(mac [6]byte, now time.Time) *port {
	t.mu.RLock()
	e := t.m[mac]
	t.mu.RUnlock()
	if e == nil || now.UnixNano()-e.seen.Load() > int64(t.ttl) {
		return nil
	}
	return e.port
}

// learn records that mac was seen on p at now.
func (t *macTable) learn(mac [6]byte, p *port, now time.Time) {
	t.mu.RLock()
	e := t.m[mac]
	t.mu.RUnlock()
	if e != nil && e.port == p {
		e.seen.Store(now.UnixNano())
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.m[mac]; !ok && len(t.m) >= t.max {
		t.sweep(now)
		if len(t.m) >= t.max {
			return // full of live addresses: this one is flooded
		}
	}
	e = &macEntry{port: p}
	e.seen.Store(now.UnixNano())
	t.m[mac] = e
}

// sweep drops stale entries. The caller holds the write lock.
func (t *macTable) sweep(now time.Time) {
	for mac, e := range t.m {
		if now.UnixNano()-e.seen.Load() > int64(t.ttl) {
			delete(t.m, mac)
		}
	}
}

// forget drops every entry on p.
func (t *macTable) forget(p *port) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for mac, e := range t.m {
		if e.port == p {
			delete(t.m, mac)
		}
	}
}

// byPort lists the live entries of each port.
func (t *macTable) byPort(now time.Time) map[*port][]net.HardwareAddr {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make(map[*port][]net.HardwareAddr)
	for mac, e := range t.m {
		if now.UnixNano()-e.seen.Load() <= int64(t.ttl) {
			out[e.port] = append(out[e.port], net.HardwareAddr(mac[:]))
		}
	}
	return out
}
