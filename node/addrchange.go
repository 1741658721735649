package node

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/natprobe"
	"github.com/reachd/reachd/node/internal/peerlink"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/strategy"
)

// Noticing that the node's own address changed (a WAN address the ISP
// renumbered, another Wi-Fi, a new route). The NATs are probed again, one
// probe for a burst of triggers (debounce.go), on:
//
//   - a local address or default route change (netwatch_linux.go);
//   - a broker reconnect (watchBrokers): its connection went through our
//     NAT, and may have died with our address;
//   - a peer link's path lost (linkHost.PathChanged);
//   - the external address watch (watchExternal): every Config.WatchEvery,
//     one STUN binding per NATed interface to a server the last probe
//     resolved, whose mapped IP is no longer the one that probe found.
//
// When a probe finds other interfaces than the last (addressChanged):
// GET /v1/node has the new address, an "address" event says what changed
// and why, and every peer with a link in use (one that carries a
// connection, or that we dialled) is told the new address (address_moved),
// which its link and address book keep. When an interface's external IP
// changed or the interface went away, every broker connection is also made
// again (the old ones went through the old address), and the paths from
// that interface are dropped so their links resume now rather than after
// their pings go unanswered.

// Reprobe timing.
const (
	reprobeQuiet = 200 * time.Millisecond // a burst of triggers ends this long after its last
	reprobeMost  = time.Second            // a burst waits at most this long
	// DefaultWatchEvery is how often the external address is checked
	// (Config.WatchEvery).
	DefaultWatchEvery = 2 * time.Second
	watchTimeout      = time.Second
	// watchBackoff: an IP the watch saw that a probe begun after it asked
	// did not find (servers that see us from two addresses) is left alone
	// this long.
	watchBackoff = time.Minute
	// Telling a peer our new address: tries, each bounded, spaced.
	tellTries   = 5
	tellTimeout = 2 * time.Second
	tellSpacing = time.Second
)

// msgAddressMoved tells a peer with a link our new address; it answers
// with its own (address_reply).
var msgAddressMoved = signaling.NewType[addressBody]("address_moved")

// AddressChange is the payload of an "address" event.
type AddressChange struct {
	Address  string `json:"address"`
	Previous string `json:"previous"`
	// Trigger says what made the node probe: a local address, a route,
	// a broker reconnect, a lost path, the external address watch, or
	// the periodic probe.
	Trigger string `json:"trigger"`
	// Moved lists the local IPs whose external address changed or that
	// went away; their paths were dropped.
	Moved []netip.Addr `json:"moved,omitempty"`
}

// reprobeSoon asks for a probe soon, for reason; bursts make one probe.
func (n *Node) reprobeSoon(reason string) { n.reprobes.trigger(reason) }

// reprobeLoop runs the probes reprobeSoon asks for, once the node is ready.
func (n *Node) reprobeLoop() {
	select {
	case <-n.ready:
	case <-n.ctx.Done():
		return
	}
	n.reprobes.run(n.ctx, func(reasons []string, last time.Time) {
		n.probeMu.Lock()
		defer n.probeMu.Unlock()
		if n.probeBeganAfter(last) {
			return // a probe begun since the last trigger saw what they are about
		}
		n.probeLocked(strings.Join(reasons, ", "))
	})
}

// addressChanged compares the probe rep with the one before (old) and, when
// the interfaces of our address differ, acts as the comment above says.
func (n *Node) addressChanged(old, rep natprobe.Report, trigger string) {
	before, after := n.buildAddress(old), n.buildAddress(rep)
	if slices.Equal(before.IPv4, after.IPv4) && slices.Equal(before.IPv6, after.IPv6) {
		return
	}
	moved := movedLocals(old, rep)
	n.log.Info("our address changed", "trigger", trigger, "address", after.String(), "moved", moved)
	n.emit(Event{Type: EventAddress, AddrChange: &AddressChange{
		Address: after.String(), Previous: before.String(), Trigger: trigger, Moved: moved,
	}})
	if len(moved) > 0 {
		n.sig.Reconnect()
		n.dropPaths(func(p peerlink.Path) bool {
			la, err := netip.ParseAddrPort(p.LocalAddr)
			return err == nil && slices.Contains(moved, la.Addr().Unmap().WithZone(""))
		})
	}
	for _, l := range n.links.Links() {
		if n.ctx.Err() != nil {
			return
		}
		// Not the idle links of peers that only dialled in: a flood of
		// strangers' links must not make us send a message each.
		if l.InUse() {
			n.wg.Go(func() { n.tellAddress(l) })
		}
	}
}

// movedLocals lists the local IPs of old whose TCP external IP changed in
// rep, or that rep no longer has.
func movedLocals(old, rep natprobe.Report) []netip.Addr {
	var moved []netip.Addr
	for _, o := range old.Interfaces {
		i := slices.IndexFunc(rep.Interfaces, func(r natprobe.Interface) bool { return r.IP == o.IP })
		if i < 0 || (o.TCP.ExternalIP.IsValid() && rep.Interfaces[i].TCP.ExternalIP != o.TCP.ExternalIP) {
			moved = append(moved, o.IP.Unmap().WithZone(""))
		}
	}
	return moved
}

// dropPaths drops the current path of every link for which dead says so,
// unless it runs to a host on our own LAN (no NAT in between).
func (n *Node) dropPaths(dead func(peerlink.Path) bool) {
	onLink := env{n}.OnLink
	for _, l := range n.links.Links() {
		if l.Drop(func(p peerlink.Path) bool {
			ra, err := netip.ParseAddrPort(p.RemoteAddr)
			return !dead(p) || (err == nil && p.Strategy != "relay" && onLink(ra.Addr()))
		}) {
			n.log.Info("dropped a path our address change killed", "peer", l.Peer())
		}
	}
}

// tellAddress tells the peer of l our current address, a few times until
// it answers: our brokers may be reconnecting.
func (n *Node) tellAddress(l *peerlink.Link) {
	known := l.Address()
	to := signaling.Peer{NodeID: l.Peer()}
	if known.NodeID == l.Peer() {
		to = signaling.PeerOf(known)
	}
	for try := range tellTries {
		if try > 0 && !sleepCtx(n.ctx, tellSpacing) {
			return
		}
		addr := n.Address()
		ctx, cancel := context.WithTimeout(n.ctx, tellTimeout)
		m, err := n.sig.Request(ctx, to, msgAddressMoved, addressBody{Address: addr})
		cancel()
		var refused *signaling.RemoteError
		switch {
		case err == nil:
			n.log.Debug("told a peer our new address", "peer", l.Peer())
			if self, ok := n.selfAddress(); ok {
				if a, err := learnedAddress(self, l.Peer(), m, env{n}.OnLink); err == nil {
					n.learnAddress(a)
				}
			}
			return
		case errors.As(err, &refused):
			n.log.Info("a peer refused our new address", "peer", l.Peer(), "reason", refused.Reason)
			return
		}
		n.log.Debug("telling a peer our new address", "peer", l.Peer(), "try", try+1, "err", err)
	}
}

// answerAddressMoved takes a linked peer's new address: its link and the
// address book keep it, and a path to it that the new address no longer
// names is dropped so that the link resumes now.
func (n *Node) answerAddressMoved(ctx context.Context, m *signaling.Message) {
	l := n.links.Get(m.From)
	self, ok := n.selfAddress()
	if l == nil || !n.allowed(m.From) || !ok {
		n.sig.Reply(ctx, m, signaling.Error, signaling.ErrorBody{Reason: "not allowed"})
		return
	}
	if !n.limits.request(m.From) { // each one may drop a path and write the book
		n.sig.Reply(ctx, m, signaling.Error, signaling.ErrorBody{Reason: "rate limited"})
		return
	}
	body, err := msgAddressMoved.Decode(m)
	var a address.Address
	if err == nil {
		a, err = checkLearned(self, m.From, body.Address, env{n}.OnLink)
	}
	if err != nil {
		n.log.Info("a peer told a new address we cannot use", "peer", m.From, "err", err)
		n.sig.Reply(ctx, m, signaling.Error, signaling.ErrorBody{Reason: "bad address"})
		return
	}
	prev := l.Address()
	l.Heard(a)
	n.learnAddress(a)
	n.log.Info("a peer moved", "peer", m.From, "address", a.String())
	n.sig.Reply(ctx, m, msgAddressReply, addressBody{Address: n.Address()})
	gone := slices.ContainsFunc(externalIPs(prev), func(ip netip.Addr) bool { return !slices.Contains(externalIPs(a), ip) })
	ips := addressIPs(a)
	onLink := env{n}.OnLink
	if l.Drop(func(p peerlink.Path) bool {
		ra, err := netip.ParseAddrPort(p.RemoteAddr)
		if err != nil {
			return true
		}
		ip := ra.Addr().Unmap().WithZone("")
		if p.Strategy == "relay" {
			return !gone // the peer's leg to the relay went through its old address
		}
		return slices.Contains(ips, ip) || onLink(ip)
	}) {
		n.log.Info("dropped the path to a peer that moved", "peer", m.From)
	}
}

// externalIPs are the external IPs of a's interfaces.
func externalIPs(a address.Address) []netip.Addr {
	var ips []netip.Addr
	for _, it := range slices.Concat(a.IPv4, a.IPv6) {
		ips = append(ips, it.ExternalIP.WithZone(""))
	}
	return ips
}

// addressIPs are every IP a names, external and internal.
func addressIPs(a address.Address) []netip.Addr {
	ips := externalIPs(a)
	for _, it := range slices.Concat(a.IPv4, a.IPv6) {
		ips = append(ips, it.InternalIP.WithZone(""))
	}
	return ips
}

// checkLearned parses an address a peer gave as its own, and cuts it to
// what a peer's word may make us dial (strategy.CheckLearned).
func checkLearned(self address.Address, peer, text string, onLink func(netip.Addr) bool) (address.Address, error) {
	a, err := address.Parse(text)
	if err != nil {
		return address.Address{}, err
	}
	if a.NodeID != peer {
		return address.Address{}, errors.New("the peer answered with the address of " + a.NodeID)
	}
	return strategy.CheckLearned(self, a, onLink)
}

// watchExternal checks every Config.WatchEvery that each NATed interface
// is still mapped to the external IP the last probe found, and asks for a
// probe when it is not. When a probe begun after it asked did not take up
// the IP the watch saw (servers that see us from two IPs), the watch
// leaves that IP alone for watchBackoff.
func (n *Node) watchExternal() {
	if n.cfg.WatchEvery < 0 {
		return
	}
	select {
	case <-n.ready:
	case <-n.ctx.Done():
		return
	}
	t := time.NewTicker(n.cfg.WatchEvery)
	defer t.Stop()
	var (
		asked     netip.Addr // the mapped IP we last asked a probe about
		askedAt   time.Time
		held      netip.Addr // an IP probes did not take up
		heldUntil time.Time
	)
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		ip := n.externalMoved()
		switch {
		case !ip.IsValid():
			asked = netip.Addr{}
			continue
		case ip == held && time.Now().Before(heldUntil):
			continue
		case ip == asked && n.probeBeganAfter(askedAt):
			held, heldUntil = ip, time.Now().Add(watchBackoff)
			n.log.Info("the external address watch sees an address probes do not find; leaving it alone", "ip", ip, "for", watchBackoff)
			continue
		case ip == asked:
			continue // the probe asked for has not begun yet
		}
		asked, askedAt = ip, time.Now()
		n.reprobeSoon("external address watch")
	}
}

// probeBeganAfter reports whether the last probe began after t.
func (n *Node) probeBeganAfter(t time.Time) bool {
	n.stateMu.Lock()
	defer n.stateMu.Unlock()
	return n.probeBegan.After(t)
}

// externalMoved returns the mapped IP of the first NATed interface that is
// not the one the last probe found (asking the first server that answered
// that probe), or the zero Addr.
func (n *Node) externalMoved() netip.Addr {
	n.stateMu.Lock()
	rep := n.report
	n.stateMu.Unlock()
	for _, ifc := range rep.Interfaces {
		network, r := "udp", ifc.UDP
		if !r.ExternalIP.IsValid() {
			network, r = "tcp", ifc.TCP
		}
		if !r.ExternalIP.IsValid() || r.ExternalIP.WithZone("") == ifc.IP.WithZone("") {
			continue // no NAT: a change of the local address shows in netlink
		}
		i := slices.IndexFunc(r.Servers, func(s natprobe.ServerResult) bool { return s.Error == "" && s.Addr.IsValid() })
		if i < 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, watchTimeout)
		got, err := n.prober.MapOnce(ctx, network, ifc.IP, r.Servers[i].Addr)
		cancel()
		if err != nil {
			continue // a lost answer is no change; the next probe sees the rest
		}
		if ip := got.Addr().Unmap(); ip != r.ExternalIP.Unmap() {
			return ip
		}
	}
	return netip.Addr{}
}

// sleepCtx waits d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
