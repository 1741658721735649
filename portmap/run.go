package portmap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// unmapTimeout bounds deleting the mapping when Run returns.
const unmapTimeout = time.Second

// Run keeps the port mapped until ctx ends, then deletes the mapping. It
// returns at once when ctx ends; the delete takes at most 1s more.
func (m *Mapper) Run(ctx context.Context) {
	var cur *current
	defer func() { m.release(cur) }()
	var due time.Time // the next renewal, or the next try without a mapping
	lastGW, lastErr := Gateway{}, error(nil)
	for first := true; ; first = false {
		gw, err := m.cfg.Gateway()
		if err != nil && (first || lastErr == nil || err.Error() != lastErr.Error()) {
			m.log.Debug("no gateway to map through", "err", err)
		}
		changed := !first && (err == nil) && gw != lastGW
		lastGW, lastErr = gw, err
		now := m.cfg.Now()
		switch {
		case cur != nil && (err != nil || gw != cur.gw):
			m.log.Info("gateway changed: mapping again", "old", cur.gw.IP, "new", gw.IP)
			m.release(cur)
			cur = nil
			m.setStatus(Status{}, false)
			if err == nil {
				cur, due = m.establish(ctx, gw)
			}
		case cur == nil && err == nil && (first || changed || !now.Before(due)):
			cur, due = m.establish(ctx, gw)
		case cur != nil && !now.Before(due):
			cur, due = m.renew(ctx, cur)
		case cur != nil && m.lost(ctx, cur):
			cur, due = m.renew(ctx, cur)
		}
		if ctx.Err() != nil {
			return
		}
		wait := m.cfg.GatewayEvery
		if !due.IsZero() {
			wait = min(wait, max(due.Sub(m.cfg.Now()), 0))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// establish probes the gateway's protocols and maps the port with the
// best that answers, then confirms the mapping. It returns the mapping
// (nil without one) and when to act next.
func (m *Mapper) establish(ctx context.Context, gw Gateway) (*current, time.Time) {
	clients := m.cfg.clients(gw)
	answered := m.probe(ctx, clients)
	if len(answered) == 0 {
		m.log.Debug("no port mapping protocol at the gateway", "gateway", gw.IP)
		m.setStatus(Status{}, false)
		return nil, m.cfg.Now().Add(m.cfg.RetryEvery)
	}
	for _, c := range answered {
		mp, err := m.mapWith(ctx, c, gw, nil)
		if err != nil {
			m.log.Info("port mapping refused", "protocol", c.Protocol(), "gateway", gw.IP, "err", err)
			continue
		}
		cur := &current{gw: gw, client: c, m: mp}
		m.log.Info("port mapped", "protocol", mp.Protocol, "external", mp.External, "internal", mp.Internal, "lease", mp.Lease)
		m.confirm(ctx, cur)
		return cur, m.renewAt(mp)
	}
	m.setStatus(Status{}, false)
	return nil, m.cfg.Now().Add(m.cfg.RetryEvery)
}

// probe asks every client at once whether its protocol answers and
// returns those that did, in the order of preference, as soon as the
// preferred ones have decided: once PCP answers, NAT-PMP and UPnP are not
// waited for.
func (m *Mapper) probe(ctx context.Context, clients []client) []client {
	ctx, cancel := context.WithCancel(ctx)
	type result struct {
		i   int
		err error
	}
	results := make(chan result, len(clients))
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: the probes not waited for end with ctx
	for i, c := range clients {
		wg.Go(func() {
			pctx, pcancel := context.WithTimeout(ctx, m.probeTimeout(c))
			defer pcancel()
			results <- result{i, c.Probe(pctx)}
		})
	}
	done := make([]bool, len(clients))
	ok := make([]bool, len(clients))
	for range clients {
		r := <-results
		done[r.i], ok[r.i] = true, r.err == nil
		if r.err != nil {
			m.log.Debug("port mapping probe", "protocol", clients[r.i].Protocol(), "err", r.err)
		}
		if decided(done, ok) {
			break
		}
	}
	cancel()
	var answered []client
	for i, c := range clients {
		if ok[i] {
			answered = append(answered, c)
		}
	}
	return answered
}

// decided tells whether the preferred answering client is known: some
// client answered and every one before it has failed.
func decided(done, ok []bool) bool {
	for i := range done {
		if !done[i] {
			return false
		}
		if ok[i] {
			return true
		}
	}
	return true
}

func (m *Mapper) probeTimeout(c client) time.Duration {
	if c.Protocol() == UPnP {
		return m.cfg.ProbeTimeout + upnpSearchWait
	}
	return m.cfg.ProbeTimeout
}

// mapWith asks c for the mapping (a renewal of prev when not nil).
func (m *Mapper) mapWith(ctx context.Context, c client, gw Gateway, prev *Mapping) (Mapping, error) {
	ctx, cancel := context.WithTimeout(ctx, m.probeTimeout(c))
	defer cancel()
	req := request{
		Transport: "tcp",
		Internal:  netip.AddrPortFrom(gw.Local, m.cfg.Port),
		External:  m.cfg.Port,
		Lease:     m.cfg.Lease,
		Prev:      prev,
	}
	if prev != nil {
		req.External = prev.External.Port()
	}
	mp, err := c.Map(ctx, req)
	if err != nil {
		return Mapping{}, err
	}
	if mp.Lease <= 0 || !mp.External.IsValid() || mp.External.Port() == 0 {
		return Mapping{}, fmt.Errorf("portmap: %s granted no usable mapping (external %v, lease %v)", c.Protocol(), mp.External, mp.Lease)
	}
	return mp, nil
}

// lost asks the gateway whether it still holds cur's mapping (between
// renewals, every GatewayEvery): a router that restarted is found within
// that, not at the next renewal. Only ErrLost counts; a gateway that does
// not answer is left to the renewal.
func (m *Mapper) lost(ctx context.Context, cur *current) bool {
	ctx, cancel := context.WithTimeout(ctx, m.probeTimeout(cur.client))
	defer cancel()
	err := cur.client.Alive(ctx, cur.m)
	if errors.Is(err, ErrLost) {
		m.log.Info("the gateway lost the port mapping (restarted?): mapping again", "protocol", cur.m.Protocol, "err", err)
		return true
	}
	if err != nil && ctx.Err() == nil {
		m.log.Debug("port mapping check", "protocol", cur.m.Protocol, "err", err)
	}
	return false
}

// renewAt is when to renew mp: at half its lease.
func (m *Mapper) renewAt(mp Mapping) time.Time { return mp.At.Add(mp.Lease / 2) }

// renew renews cur's mapping and confirms it again. A renewal that fails
// drops the mapping and establishes a new one at once; a gateway whose
// epoch went back lost its mappings, so the renewal made it anew.
func (m *Mapper) renew(ctx context.Context, cur *current) (*current, time.Time) {
	prev := cur.m
	mp, err := m.mapWith(ctx, cur.client, cur.gw, &prev)
	if err != nil {
		if ctx.Err() != nil {
			return cur, time.Time{}
		}
		m.log.Info("port mapping renewal failed: mapping again", "protocol", prev.Protocol, "err", err)
		m.setStatus(Status{}, false)
		return m.establish(ctx, cur.gw)
	}
	if mp.HasEpoch && prev.HasEpoch && epochLost(prev.Epoch, prev.At, mp.Epoch, mp.At) {
		m.log.Info("gateway restarted (its epoch went back): mapping made again", "protocol", mp.Protocol)
	}
	if mp.External != prev.External {
		m.log.Info("port mapping moved", "old", prev.External, "new", mp.External)
	}
	was, _ := m.Status()
	cur.m = mp
	m.confirm(ctx, cur)
	if st, _ := m.Status(); was.Confirmed && !st.Confirmed && ctx.Err() == nil {
		// Renewed, and no longer reachable: the gateway may keep the
		// entry and have stopped forwarding it. Make it anew, once.
		m.log.Info("renewed mapping not reachable from outside: mapping anew", "external", mp.External, "reason", st.Reason)
		m.unmap(cur)
		fresh, err := m.mapWith(ctx, cur.client, cur.gw, nil)
		if err != nil {
			m.setStatus(Status{}, false)
			return m.establish(ctx, cur.gw)
		}
		cur.m = fresh
		m.confirm(ctx, cur)
	}
	return cur, m.renewAt(cur.m)
}

// confirm sets the status of cur's mapping: confirmed only when the
// mapping's external address is public and a dial-back through it from
// outside reached our listener at the address it came from.
func (m *Mapper) confirm(ctx context.Context, cur *current) {
	mp := cur.m
	st := Status{Protocol: mp.Protocol, External: mp.External, ExpiresAt: mp.Expires(), Local: cur.gw.Local, Internal: mp.Internal.Port()}
	if old, _ := m.Status(); old.External != st.External || old.Local != st.Local {
		// A new mapping shows, unconfirmed, while it is checked; a renewed
		// one keeps its state until the check ends.
		m.setStatus(st, true)
	}
	ext := mp.External.Addr()
	if private(ext) {
		st.Reason = fmt.Sprintf("external address %s is not public: another nat lies beyond the gateway", ext)
	} else {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		dialed, ok, err := m.cfg.Confirm(ctx, cur.gw.Local, mp.External)
		cancel()
		switch {
		case err != nil:
			st.Reason = fmt.Sprintf("dial-back: %v", err)
		case dialed.IsValid() && dialed.Addr() != ext:
			st.Reason = fmt.Sprintf("the internet sees %s, not the mapping's %s: another nat lies beyond the gateway", dialed.Addr(), ext)
		case !ok:
			st.Reason = "a dial-back through the mapping did not reach the listener"
		default:
			st.Confirmed = true
		}
	}
	if ctx.Err() != nil {
		return
	}
	m.log.Info("port mapping checked", "external", mp.External, "confirmed", st.Confirmed, "reason", st.Reason)
	m.setStatus(st, true)
}

// private tells whether ip cannot be an Internet address.
func private(ip netip.Addr) bool {
	ip = ip.Unmap()
	cgnat := netip.MustParsePrefix("100.64.0.0/10")
	return !ip.IsValid() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() ||
		ip.IsUnspecified() || ip.IsMulticast() || cgnat.Contains(ip)
}

// release deletes cur's mapping, best effort.
func (m *Mapper) release(cur *current) {
	if cur == nil {
		return
	}
	m.unmap(cur)
	m.setStatus(Status{}, false)
}

func (m *Mapper) unmap(cur *current) {
	ctx, cancel := context.WithTimeout(context.Background(), unmapTimeout)
	defer cancel()
	if err := cur.client.Unmap(ctx, cur.m); err != nil && !errors.Is(err, context.Canceled) {
		m.log.Debug("port mapping not deleted", "external", cur.m.External, "err", err)
		return
	}
	m.log.Info("port mapping deleted", "protocol", cur.m.Protocol, "external", cur.m.External)
}
