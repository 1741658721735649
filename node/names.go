package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/names"
	"github.com/reachd/reachd/service"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/strategy"
)

// Public names on the name services (package names): the node's brokers
// that serve one (`reachd rendezvous` does). The node registers a name
// on every connected broker with a record signed by its key, renews it
// before it expires and whenever its address changes, and keeps its names
// in the state file's "names" section, so that it registers them again
// after a restart. A lookup asks every connected broker and takes the
// first record that verifies (names.Record.Verify) for the name asked,
// cut by strategy.CheckLearned like any address a peer tells.

const sectionNames = "names"

const (
	// nameTTL is how long a record lives; nameRenew how often the node
	// renews it (and how late a broker that lost it, by a restart, has it
	// again at worst).
	nameTTL   = 15 * time.Minute
	nameRenew = 5 * time.Minute
	// nameCheck is how often the node looks whether its address or its
	// brokers changed.
	nameCheck = 10 * time.Second
	// nameTimeout bounds one request to one name service; a broker
	// without one never answers.
	nameTimeout = 2 * time.Second
)

// Errors of the name services.
var (
	// ErrNoNameService: no connected broker answered as a name service.
	ErrNoNameService = errors.New("no name service answered (none of the node's brokers serves names)")
	// ErrNotMine: a name this node has not registered.
	ErrNotMine = errors.New("this node has not registered that name")
)

// NameInfo is a public name: registered by this node (Registrations), or
// resolved (Service says which name service answered).
type NameInfo struct {
	Name      string    `json:"name"`
	NodeID    string    `json:"node_id"`
	Address   string    `json:"address,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	// Service is the broker whose name service answered a lookup.
	Service string `json:"service,omitempty"`
	// Source says where a resolved name came from: SourceNames.
	Source string `json:"source,omitempty"`
	// Services lists, for a name this node registers, each name
	// service's answer at the last registration.
	Services []NameService `json:"services,omitempty"`
}

// NameService is one name service's answer to a registration.
type NameService struct {
	Broker     string `json:"broker"`
	Registered bool   `json:"registered"`
	Error      string `json:"error,omitempty"`
}

// SourceNames: Resolve found the name on a name service.
const SourceNames = "names"

// savedName is a name in the state file.
type savedName struct {
	Name string `json:"name"`
}

// nameRegs keeps the names this node registers.
type nameRegs struct {
	mu   sync.Mutex // guards regs and orders the section's writes
	regs map[string]*nameReg
}

type nameReg struct {
	info     NameInfo
	addr     string    // the address last registered
	connects uint64    // brokerConnects at the last registration
	renewAt  time.Time // when to renew
}

func openNames(n *Node) (*nameRegs, error) {
	var saved []savedName
	if _, err := n.state.Get(sectionNames, &saved); err != nil {
		return nil, err
	}
	r := &nameRegs{regs: map[string]*nameReg{}}
	for _, s := range saved {
		r.regs[s.Name] = &nameReg{info: NameInfo{Name: s.Name, NodeID: n.ID()}}
	}
	return r, nil
}

// saveLocked writes the names to the state file. r.mu is held.
func (r *nameRegs) saveLocked(n *Node) error {
	out := make([]savedName, 0, len(r.regs))
	for name := range r.regs {
		out = append(out, savedName{Name: name})
	}
	slices.SortFunc(out, func(a, b savedName) int { return compareStrings(a.Name, b.Name) })
	return n.state.Put(sectionNames, out)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Names lists the names this node registers.
func (n *Node) Names() []NameInfo {
	n.names.mu.Lock()
	defer n.names.mu.Unlock()
	out := make([]NameInfo, 0, len(n.names.regs))
	for _, r := range n.names.regs {
		out = append(out, r.info)
	}
	slices.SortFunc(out, func(a, b NameInfo) int { return compareStrings(a.Name, b.Name) })
	return out
}

// RegisterName registers name for this node on its name services and
// keeps it registered (saved in the state file); true when the name is
// new to this node. It fails when no service registered it: with
// names.ErrTaken when one said the name is another node's, with
// ErrNoNameService when none answered.
func (n *Node) RegisterName(ctx context.Context, name string) (NameInfo, bool, error) {
	if !names.ValidName(name) {
		return NameInfo{}, false, &service.FieldError{Field: "name", Err: fmt.Errorf("name %q: %w", name, names.ErrName)}
	}
	if err := n.awaitReady(ctx); err != nil {
		return NameInfo{}, false, err
	}
	addr, connects := n.Address(), n.brokerConnects()
	info, err := n.registerOnce(ctx, name, addr)
	if err != nil {
		return info, false, err
	}
	r := n.names
	r.mu.Lock()
	_, known := r.regs[name]
	r.regs[name] = &nameReg{info: info, addr: addr, connects: connects, renewAt: time.Now().Add(nameRenew)}
	err = r.saveLocked(n)
	r.mu.Unlock()
	if err != nil {
		return NameInfo{}, false, fmt.Errorf("node: save names: %w", err)
	}
	n.log.Info("name registered", "name", name, "services", len(info.Services))
	return info, !known, nil
}

// registerOnce sends a record of name at addr to every connected broker,
// in parallel; it fails when none registered it.
func (n *Node) registerOnce(ctx context.Context, name, addr string) (NameInfo, error) {
	now := n.Now()
	rec := names.Sign(n.id, names.Record{Name: name, Address: addr, Issued: now.UnixMilli(), Expires: now.Add(nameTTL).UnixMilli()})
	results := n.askNameServices(ctx, names.MsgRegister, rec)
	info := NameInfo{Name: name, NodeID: n.ID(), Address: addr, ExpiresAt: time.UnixMilli(rec.Expires).UTC()}
	var taken, other error
	for _, res := range results {
		s := NameService{Broker: res.broker}
		switch {
		case res.err != nil:
			s.Error = res.err.Error()
			if errors.Is(res.err, names.ErrTaken) {
				taken = res.err
			} else if !errors.Is(res.err, signaling.ErrNoReply) {
				other = res.err
			}
		default:
			s.Registered = true
		}
		info.Services = append(info.Services, s)
	}
	if slices.ContainsFunc(info.Services, func(s NameService) bool { return s.Registered }) {
		return info, nil
	}
	switch {
	case taken != nil:
		return info, &service.FieldError{Field: "name", Err: taken}
	case other != nil:
		return info, other
	}
	return info, ErrNoNameService
}

// DropName drops a name this node registered from its name services and
// stops renewing it.
func (n *Node) DropName(ctx context.Context, name string) error {
	r := n.names
	r.mu.Lock()
	if _, ok := r.regs[name]; !ok {
		r.mu.Unlock()
		return &service.FieldError{Field: "name", Err: fmt.Errorf("name %q: %w", name, ErrNotMine)}
	}
	delete(r.regs, name)
	err := r.saveLocked(n)
	r.mu.Unlock()
	if err != nil {
		return fmt.Errorf("node: save names: %w", err)
	}
	now := n.Now()
	rec := names.Sign(n.id, names.Record{Name: name, Issued: now.UnixMilli(), Expires: now.Add(time.Minute).UnixMilli()})
	n.askNameServices(ctx, names.MsgDrop, rec) // a service that misses it lets the record expire
	n.log.Info("name dropped", "name", name)
	return nil
}

// LookupName resolves a public name on the name services: the first
// record that verifies, for that name.
func (n *Node) LookupName(ctx context.Context, name string) (NameInfo, address.Address, error) {
	if !names.ValidName(name) {
		return NameInfo{}, address.Address{}, &service.FieldError{Field: "name", Err: fmt.Errorf("name %q: %w", name, names.ErrName)}
	}
	if err := n.awaitReady(ctx); err != nil {
		return NameInfo{}, address.Address{}, err
	}
	self, ok := n.selfAddress()
	if !ok {
		return NameInfo{}, address.Address{}, ErrNotReady
	}
	results := n.askNameServices(ctx, names.MsgLookup, names.Lookup{Name: name}, func(res nameResult) bool {
		return res.err == nil && n.checkRecord(self, name, res.reply.Record) == nil
	})
	answered := false
	var last error
	for _, res := range results {
		if res.err != nil {
			answered = answered || !errors.Is(res.err, signaling.ErrNoReply)
			if !errors.Is(res.err, names.ErrNotFound) {
				last = res.err
			}
			continue
		}
		answered = true
		rec := res.reply.Record
		if err := n.checkRecord(self, name, rec); err != nil {
			n.log.Warn("name service answered with a record that does not verify", "name", name, "service", res.broker, "err", err)
			last = err
			continue
		}
		a, _ := address.Parse(rec.Address) // checkRecord parsed it
		a, _ = strategy.CheckLearned(self, a, env{n}.OnLink)
		return NameInfo{Name: name, NodeID: rec.NodeID, Address: a.String(), ExpiresAt: time.UnixMilli(rec.Expires).UTC(),
			Service: res.broker, Source: SourceNames}, a, nil
	}
	if !answered {
		return NameInfo{}, address.Address{}, ErrNoNameService
	}
	if last != nil && !errors.Is(last, names.ErrNotFound) {
		n.log.Info("name lookup failed", "name", name, "err", last)
	}
	return NameInfo{}, address.Address{}, &service.FieldError{Field: "name", Err: fmt.Errorf("%q: %w", name, names.ErrNotFound)}
}

// checkRecord verifies a record a name service answered for name: its
// signature, expiry, the name, and that what it names may be dialled.
func (n *Node) checkRecord(self address.Address, name string, rec *names.Record) error {
	if rec == nil {
		return fmt.Errorf("%w: no record", names.ErrRecord)
	}
	if err := rec.Verify(n.Now()); err != nil {
		return err
	}
	if rec.Name != name || rec.Address == "" {
		return fmt.Errorf("%w: a record of %q for %q", names.ErrRecord, rec.Name, name)
	}
	a, err := address.Parse(rec.Address)
	if err != nil {
		return err
	}
	if rec.NodeID == n.ID() {
		return nil // our own name: nothing to dial
	}
	_, err = strategy.CheckLearned(self, a, env{n}.OnLink)
	return err
}

// nameResult is one name service's answer.
type nameResult struct {
	broker string
	reply  names.Reply
	err    error // the request's, or the reply's (Reply.Err)
}

// askNameServices sends a request to every connected broker's name
// service at once and collects their answers, each within nameTimeout;
// done, when given, ends the wait at the first answer it accepts (the
// other requests are cancelled).
func (n *Node) askNameServices(ctx context.Context, k signaling.Kind, body any, done ...func(nameResult) bool) []nameResult {
	ctx, cancel := context.WithTimeout(ctx, nameTimeout)
	defer cancel()
	brokers := n.sig.Brokers()
	offsets := n.sig.ConnectedOffsets()
	ch := make(chan nameResult, len(offsets))
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for _, o := range offsets {
		url := brokers[o].URL
		wg.Go(func() {
			res := nameResult{broker: url}
			m, err := n.sig.RequestService(ctx, o, names.Topic, k, body)
			if err == nil {
				res.reply, err = names.MsgReply.Decode(m)
				if err == nil {
					err = res.reply.Err()
				}
			}
			res.err = err
			ch <- res
		})
	}
	var out []nameResult
	for range offsets {
		res := <-ch
		out = append(out, res)
		if len(done) > 0 && done[0](res) {
			break
		}
	}
	slices.SortFunc(out, func(a, b nameResult) int { return compareStrings(a.broker, b.broker) })
	return out
}

// keepNames registers the node's names again when they are due for
// renewal, when the node's address changed, and when a broker
// reconnected (it may have restarted, forgetting them), until the node
// closes.
func (n *Node) keepNames() {
	select {
	case <-n.ready:
	case <-n.ctx.Done():
		return
	}
	t := time.NewTicker(nameCheck)
	defer t.Stop()
	for {
		n.renewNames()
		select {
		case <-t.C:
		case <-n.ctx.Done():
			return
		}
	}
}

// brokerConnects sums the brokers' connect counts: it grows when one
// reconnects.
func (n *Node) brokerConnects() uint64 {
	var sum uint64
	for _, b := range n.sig.Brokers() {
		sum += b.Connects
	}
	return sum
}

func (n *Node) renewNames() {
	addr, connects := n.Address(), n.brokerConnects()
	r := n.names
	r.mu.Lock()
	var due []string
	for name, reg := range r.regs {
		if reg.addr != addr || reg.connects != connects || !time.Now().Before(reg.renewAt) {
			due = append(due, name)
		}
	}
	r.mu.Unlock()
	for _, name := range due {
		ctx, cancel := context.WithTimeout(n.ctx, nameTimeout)
		info, err := n.registerOnce(ctx, name, addr)
		cancel()
		r.mu.Lock()
		if reg, ok := r.regs[name]; ok {
			reg.info = info
			if err == nil {
				reg.addr, reg.connects, reg.renewAt = addr, connects, time.Now().Add(nameRenew)
			} else {
				reg.renewAt = time.Now().Add(nameCheck) // try again at the next check
			}
		}
		r.mu.Unlock()
		if err != nil {
			n.log.Warn("name not renewed", "name", name, "err", err)
		} else {
			n.log.Debug("name renewed", "name", name)
		}
	}
}

// nameCacheTTL is how long a name resolved as a peer reference is reused
// (at most until its record expires), so that a forward's connections do
// not each ask the name services; nameCacheMax bounds the cache.
const (
	nameCacheTTL = 30 * time.Second
	nameCacheMax = 256
)

// nameCache keeps the names resolved as peer references.
type nameCache struct {
	mu      sync.Mutex
	entries map[string]cachedName
}

type cachedName struct {
	addr  address.Address
	until time.Time
}

// resolveName resolves a public name used as a peer reference, from the
// cache or the name services.
func (n *Node) resolveName(ctx context.Context, name string) (address.Address, error) {
	c := &n.nameCache
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[name]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.addr, nil
	}
	info, a, err := n.LookupName(ctx, name)
	if err != nil {
		return address.Address{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= nameCacheMax {
		c.entries = make(map[string]cachedName) // full: start again
	}
	until := now.Add(nameCacheTTL)
	if info.ExpiresAt.Before(until) {
		until = info.ExpiresAt
	}
	c.entries[name] = cachedName{addr: a, until: until}
	return a, nil
}
