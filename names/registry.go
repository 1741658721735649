package names

import (
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Defaults of RegistryConfig.
const (
	DefaultMaxPerKey  = 8
	DefaultMaxPerIP   = 64
	DefaultMaxRecords = 100000
	DefaultMaxTTL     = time.Hour
)

// RegistryConfig configures a Registry.
type RegistryConfig struct {
	// MaxPerKey is how many live names one node ID may hold; 0 means
	// DefaultMaxPerKey.
	MaxPerKey int
	// MaxPerIP is how many live names may have been registered last from
	// one source IP; 0 means DefaultMaxPerIP.
	MaxPerIP int
	// MaxRecords caps the registry; 0 means DefaultMaxRecords.
	MaxRecords int
	// MaxTTL is the longest a record may live past now; 0 means
	// DefaultMaxTTL.
	MaxTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Registry holds the live records by name. The first node ID to register
// a name owns it until its record expires unrenewed. It is safe for
// concurrent use.
type Registry struct {
	cfg RegistryConfig

	mu     sync.Mutex
	byName map[string]entry
	perKey map[string]int
	perIP  map[netip.Addr]int
	swept  time.Time
}

type entry struct {
	rec Record
	ip  netip.Addr // the source of its last registration
}

// NewRegistry returns an empty registry.
func NewRegistry(cfg RegistryConfig) *Registry {
	if cfg.MaxPerKey <= 0 {
		cfg.MaxPerKey = DefaultMaxPerKey
	}
	if cfg.MaxPerIP <= 0 {
		cfg.MaxPerIP = DefaultMaxPerIP
	}
	if cfg.MaxRecords <= 0 {
		cfg.MaxRecords = DefaultMaxRecords
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Registry{cfg: cfg, byName: map[string]entry{}, perKey: map[string]int{}, perIP: map[netip.Addr]int{}}
}

// Register stores rec, registered from the source IP from: a new name
// within the limits, or a newer record of the name's owner (a renewal or
// a new address).
func (r *Registry) Register(rec Record, from netip.Addr) error {
	now := r.cfg.Now()
	if err := rec.Verify(now); err != nil {
		return err
	}
	if rec.Address == "" {
		return fmt.Errorf("%w: no address", ErrRecord)
	}
	if time.UnixMilli(rec.Expires).Sub(now) > r.cfg.MaxTTL {
		return fmt.Errorf("%w: expires in %v, at most %v", ErrTooLong, time.UnixMilli(rec.Expires).Sub(now).Round(time.Second), r.cfg.MaxTTL)
	}
	from = from.Unmap()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweep(now)
	cur, ok := r.live(rec.Name, now)
	switch {
	case ok && cur.rec.NodeID != rec.NodeID:
		return fmt.Errorf("%q: %w", rec.Name, ErrTaken)
	case ok && rec.Issued <= cur.rec.Issued:
		return fmt.Errorf("%q: %w", rec.Name, ErrStale)
	case !ok && r.perKey[rec.NodeID] >= r.cfg.MaxPerKey:
		return fmt.Errorf("%w (%d)", ErrKeyLimit, r.cfg.MaxPerKey)
	case (!ok || cur.ip != from) && r.perIP[from] >= r.cfg.MaxPerIP:
		return fmt.Errorf("%w (%d)", ErrIPLimit, r.cfg.MaxPerIP)
	case !ok && len(r.byName) >= r.cfg.MaxRecords:
		return ErrFull
	}
	if ok {
		r.remove(rec.Name)
	}
	r.byName[rec.Name] = entry{rec: rec, ip: from}
	r.perKey[rec.NodeID]++
	r.perIP[from]++
	return nil
}

// Drop removes a name on its owner's word: a record without an address,
// newer than the registered one.
func (r *Registry) Drop(rec Record) error {
	now := r.cfg.Now()
	if err := rec.Verify(now); err != nil {
		return err
	}
	if rec.Address != "" {
		return fmt.Errorf("%w: a drop has no address", ErrRecord)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, ok := r.live(rec.Name, now)
	switch {
	case !ok:
		return fmt.Errorf("%q: %w", rec.Name, ErrNotFound)
	case cur.rec.NodeID != rec.NodeID:
		return fmt.Errorf("%q: %w", rec.Name, ErrTaken)
	case rec.Issued <= cur.rec.Issued:
		return fmt.Errorf("%q: %w", rec.Name, ErrStale)
	}
	r.remove(rec.Name)
	return nil
}

// Lookup returns the live record of name.
func (r *Registry) Lookup(name string) (Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.live(name, r.cfg.Now())
	if !ok {
		return Record{}, fmt.Errorf("%q: %w", name, ErrNotFound)
	}
	return e.rec, nil
}

// Len is the number of records held, expired ones not yet swept included.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byName)
}

// live returns name's entry unless it has expired (then it is removed).
// r.mu is held.
func (r *Registry) live(name string, now time.Time) (entry, bool) {
	e, ok := r.byName[name]
	if ok && e.rec.Expires <= now.UnixMilli() {
		r.remove(name)
		return entry{}, false
	}
	return e, ok
}

// remove forgets name. r.mu is held.
func (r *Registry) remove(name string) {
	e, ok := r.byName[name]
	if !ok {
		return
	}
	delete(r.byName, name)
	if r.perKey[e.rec.NodeID]--; r.perKey[e.rec.NodeID] <= 0 {
		delete(r.perKey, e.rec.NodeID)
	}
	if r.perIP[e.ip]--; r.perIP[e.ip] <= 0 {
		delete(r.perIP, e.ip)
	}
}

// sweep removes expired records, at most once a second, so that they
// stop counting against their key's and IP's limits. r.mu is held.
func (r *Registry) sweep(now time.Time) {
	if now.Sub(r.swept) < time.Second {
		return
	}
	r.swept = now
	for name, e := range r.byName {
		if e.rec.Expires <= now.UnixMilli() {
			r.remove(name)
		}
	}
}
