package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/tap"
)

// Link states in the peer table.
const (
	LinkUp         = "up"         // the link carries frames
	LinkConnecting = "connecting" // we are dialing the member
	LinkWaiting    = "waiting"    // the member dials us; it has not yet
	LinkDown       = "down"       // the last attempt or link failed; retrying
)

// Network is one joined network.
type Network struct {
	m    *Manager
	log  *slog.Logger
	name string
	keys Keys
	self string
	mac  net.HardwareAddr

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan bool // capacity 1: announce now (true: as a reply)

	subnet netip.Prefix // the configured address's, or the derived one

	group Group
	dev   *tap.Device
	ns    devNS // where dev lives
	sw    *tap.Switch

	moveLimit *rate.Limiter // address moves after a clash
	refusals  *rate.Limiter // log lines about refused announces (logRefusal)
	skipped   atomic.Int64  // log lines logRefusal skipped

	mu       sync.Mutex
	ip       netip.Prefix
	ipSince  time.Time // when we took ip
	auto     bool
	up       bool // the device exists
	members  map[string]*member
	joined   time.Time
	lastAddr string // the node address announced last
	moves    int    // automatic address changes after a clash
	refused  int    // announces and links refused for the member cap
	stopped  bool   // no goroutine starts any more (wg is waited on)
	ll       string // the device's link-local address, once read
	state    string // as last reported (noteState)
	heard    bool   // a member has answered once
}

// member is one row of the peer table.
type member struct {
	id        string
	address   string
	ip        netip.Prefix
	mac       net.HardwareAddr
	auto      bool
	ready     bool   // its device is up: it takes links
	linkLocal string // its device's IPv6 link-local address, as announced
	host      string // its host name, as announced (a DNS label, or empty)
	lastSeen  time.Time
	ipSince   time.Time     // when it took ip, as far as we can tell (see mustMove)
	announces *rate.Limiter // its announces we act on
	state     string
	since     time.Time // of the state
	link      Link
	port      string // the switch port of link
	err       string
	attempts  int
	wake      chan struct{} // capacity 1: the dialer should try now
	stopDial  context.CancelFunc
	dialing   bool
	linkSince time.Time
	downSince time.Time // when the link went down, or the member was found
}

func newNetwork(m *Manager, name string, keys Keys, ip, subnet netip.Prefix) *Network {
	self := m.cfg.Host.ID()
	n := &Network{
		m: m, log: m.log.With("network", name), name: name, keys: keys, self: self,
		mac:       tap.StableMAC(self + "/" + name),
		kick:      make(chan bool, 1),
		ip:        ip,
		subnet:    subnet,
		auto:      !ip.IsValid(),
		state:     StateJoining,
		members:   make(map[string]*member),
		joined:    m.cfg.Now(),
		moveLimit: rate.NewLimiter(rate.Every(moveEvery), moveBurst),
		refusals:  rate.NewLimiter(1, 5),
	}
	n.ipSince = n.joined
	n.ctx, n.cancel = context.WithCancel(m.ctx)
	if n.auto {
		a, _ := pick(self, name, subnet, nil)
		n.ip = netip.PrefixFrom(a, subnet.Bits())
	}
	return n
}

// start joins the group, announces, settles an automatic address, then
// creates the device and the switch and starts the link work.
func (n *Network) start(ctx context.Context) error {
	g, err := n.m.cfg.Signal.JoinGroup(n.keys.Topic, n.keys.Seal, n.handle)
	if err != nil {
		return fmt.Errorf("network %s: join topic: %w", n.name, err)
	}
	n.group = g
	n.announce(ctx, false)
	if n.isAuto() {
		select {
		case <-time.After(n.m.cfg.Settle):
		case <-ctx.Done():
			n.abort()
			return ctx.Err()
		case <-n.ctx.Done():
			n.abort()
			return ErrClosed
		}
		n.settleRange()
	}
	n.mu.Lock()
	ip := n.ip
	n.mu.Unlock()
	dev, err := n.newDevice(ip)
	if err != nil {
		n.abort()
		return fmt.Errorf("network %s: %w", n.name, err)
	}
	n.dev = dev
	n.sw = tap.NewSwitch(dev, tap.SwitchConfig{Logger: n.m.cfg.Logger})
	n.mu.Lock()
	n.up = true
	// The device may have been set up with an address a clash moved
	// meanwhile.
	if n.ip != ip {
		if err := n.ns.setAddr(dev.Name(), ip, n.ip); err != nil {
			n.log.Info("move address", "err", err)
		}
	}
	for _, mb := range n.members {
		n.startDialLocked(mb)
	}
	n.mu.Unlock()
	n.wg.Go(n.announcer)
	n.wg.Go(n.sweeper)
	n.announce(ctx, false)
	n.log.Info("joined", "device", dev.Name(), "ip", n.IPString(), "mac", n.mac.String())
	n.noteState()
	return nil
}

func (n *Network) abort() {
	n.cancel()
	n.mu.Lock()
	n.stopped = true
	n.mu.Unlock()
	n.group.Leave()
	n.wg.Wait()
}

// stop leaves the network: tells the members (when tell), then closes the
// links, the switch and the device.
func (n *Network) stop(ctx context.Context, tell bool) {
	if tell && n.group != nil {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := n.group.Publish(ctx, msgLeave, struct{}{}); err != nil {
			n.log.Info("announce leaving", "err", err)
		}
		cancel()
	}
	n.cancel()
	n.group.Leave()
	if n.sw != nil {
		n.sw.Close()
	}
	n.mu.Lock()
	n.stopped = true
	for _, mb := range n.members {
		if mb.link != nil {
			mb.link.Close()
		}
	}
	n.mu.Unlock()
	n.wg.Wait()
	if n.dev != nil {
		n.dev.Close()
		n.ns.close()
	}
	n.log.Info("left")
}

// newDevice creates the network's TAP device on the calling thread's
// namespace, named after the network (falling back to the kernel's next
// reach%d when that name is taken, e.g. by a second daemon on the host).
func (n *Network) newDevice(ip netip.Prefix) (*tap.Device, error) {
	cfg := tap.Config{Name: deviceName(n.name), Addrs: []netip.Prefix{ip}, MAC: n.mac, Logger: n.m.cfg.Logger}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dev, err := tap.New(cfg)
	var taken *tap.TakenError
	if errors.As(err, &taken) && taken.What == "name" && cfg.Name != "" {
		cfg.Name = ""
		dev, err = tap.New(cfg)
	}
	if err == nil {
		n.ns = currentNS()
	}
	return dev, err
}

// deviceName is "rn-" and the network's name when that fits an interface
// name, else the kernel's next reach%d.
func deviceName(name string) string {
	if len("rn-"+name) <= 15 {
		return "rn-" + name
	}
	return ""
}

func (n *Network) isAuto() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.auto
}

// IPString is the node's address in the network, with prefix.
func (n *Network) IPString() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ip.String()
}

// settleRange moves an automatic address into the range the members use
// (when it is another), off every address they announce.
func (n *Network) settleRange() {
	n.mu.Lock()
	var prefixes []netip.Prefix
	for _, mb := range n.members {
		prefixes = append(prefixes, mb.ip)
	}
	r := chooseRange(prefixes, n.subnet)
	if n.ip.Masked() == r {
		// In the range already; a clash within it is learn's to settle,
		// by the rule both sides apply.
		n.mu.Unlock()
		return
	}
	taken := n.takenLocked()
	a, err := pick(n.self, n.name, r, taken)
	if err != nil {
		n.mu.Unlock()
		n.log.Info("pick address", "err", err)
		return
	}
	n.ip, n.ipSince = netip.PrefixFrom(a, r.Bits()), n.m.cfg.Now()
	n.mu.Unlock()
	// The members' subnet wins over ours, even over a route of the host
	// (theirs may be another member's device on this host): say so.
	if routes, err := n.m.cfg.Routes(); err == nil {
		if route, taken := collision(r, routes); taken {
			n.log.Warn("the members' subnet overlaps a route of the host", "subnet", r, "route", route.String())
		}
	}
	n.announce(n.ctx, false)
}

func (n *Network) takenLocked() map[netip.Addr]bool {
	taken := make(map[netip.Addr]bool, len(n.members))
	for _, mb := range n.members {
		taken[mb.ip.Addr()] = true
	}
	return taken
}

// announce publishes the node's announcement now.
func (n *Network) announce(ctx context.Context, reply bool) {
	n.mu.Lock()
	addr := n.m.cfg.Host.Address()
	a := announce{Address: addr, IP: n.ip.String(), MAC: n.mac.String(), Auto: n.auto, Ready: n.up, Reply: reply,
		Held: max(n.m.cfg.Now().Sub(n.ipSince).Milliseconds(), 0), Host: n.m.cfg.HostName}
	if n.up {
		a.LinkLocal = n.linkLocalLocked()
	}
	n.lastAddr = addr
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := n.group.Publish(ctx, msgAnnounce, a); err != nil {
		n.log.Info("announce", "err", err)
	}
}

// poke asks the announcer to announce now.
func (n *Network) poke() {
	select {
	case n.kick <- false:
	default:
	}
}

// announcer announces periodically, when the node's address changes and
// when poked.
func (n *Network) announcer() {
	every := time.NewTicker(n.m.cfg.AnnounceEvery)
	defer every.Stop()
	check := time.NewTicker(time.Second)
	defer check.Stop()
	for {
		reply := false
		select {
		case <-n.ctx.Done():
			return
		case <-every.C:
		case reply = <-n.kick:
		case <-check.C:
			n.mu.Lock()
			same := n.lastAddr == n.m.cfg.Host.Address()
			n.mu.Unlock()
			if same {
				continue
			}
		}
		n.announce(n.ctx, reply)
	}
}

// sweeper drops members whose link stayed down past the grace period.
func (n *Network) sweeper() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		now := n.m.cfg.Now()
		n.mu.Lock()
		var gone []*member
		for id, mb := range n.members {
			if mb.link == nil && now.Sub(mb.downSince) > n.m.cfg.Grace {
				delete(n.members, id)
				gone = append(gone, mb)
			}
		}
		n.mu.Unlock()
		for _, mb := range gone {
			n.log.Info("member dropped: no link for longer than the grace period", "member", mb.id, "grace", n.m.cfg.Grace)
			n.forget(mb)
		}
		n.noteState()
	}
}

// handle receives a membership message.
func (n *Network) handle(m *signaling.Message) {
	if n.ctx.Err() != nil {
		return
	}
	from := m.From
	switch {
	case msgLeave.Is(m):
		n.mu.Lock()
		mb := n.members[from]
		delete(n.members, from)
		n.mu.Unlock()
		if mb != nil {
			n.log.Info("member left", "member", from)
			n.forget(mb)
			n.noteState()
		}
	case msgAnnounce.Is(m):
		a, err := msgAnnounce.Decode(m)
		if err != nil {
			n.logRefusal("bad announce", "from", from, "err", err)
			return
		}
		ip, mac, err := a.parse()
		if err == nil && !bytes.Equal(mac, n.memberMAC(from)) {
			err = fmt.Errorf("mac %s is not the member's", mac)
		}
		if err != nil {
			n.logRefusal("bad announce", "from", from, "err", err)
			return
		}
		n.learn(from, a, ip, mac)
	}
}

// learn records a member's announcement, answers a newcomer, and moves an
// automatic address that clashes. It acts on a member's announces at most
// at announceRate, on at most MaxMembers members, and only on an address
// that is the member's own and may be dialled (guard.go).
func (n *Network) learn(from string, a announce, ip netip.Prefix, mac net.HardwareAddr) {
	now := n.m.cfg.Now()
	n.mu.Lock()
	mb, known := n.members[from]
	switch {
	case known && !mb.announces.AllowN(now, 1):
		n.mu.Unlock()
		return
	case !known && len(n.members) >= n.m.cfg.MaxMembers:
		n.refusedLocked(from)
		n.mu.Unlock()
		return
	}
	n.mu.Unlock()
	addr, err := n.m.cfg.Host.Dialable(from, a.Address)
	if err != nil {
		n.logRefusal("announce refused", "from", from, "err", err)
		return
	}
	n.mu.Lock()
	if mb, known = n.members[from]; !known {
		if len(n.members) >= n.m.cfg.MaxMembers {
			n.refusedLocked(from)
			n.mu.Unlock()
			return
		}
		mb = n.newMemberLocked(from, now)
		n.log.Info("member found", "member", from, "ip", ip, "mac", mac.String())
	}
	changed := mb.address != addr
	before := [2]string{mb.ip.String(), mb.linkLocal}
	if !known || mb.ip.Addr() != ip.Addr() {
		mb.ipSince = n.claimedSince(now, a.Held)
	}
	mb.address, mb.ip, mb.mac, mb.auto, mb.lastSeen = addr, ip, mac, a.Auto, now
	mb.ready = mb.ready || a.Ready
	mb.host = ""
	if ValidHostName(a.Host) {
		mb.host = a.Host
	}
	if ll, err := netip.ParseAddr(a.LinkLocal); err == nil && ll.Is6() && ll.IsLinkLocalUnicast() {
		mb.linkLocal = ll.String()
	}
	if n.up {
		n.startDialLocked(mb)
	}
	if changed {
		select {
		case mb.wake <- struct{}{}:
		default:
		}
	}
	moved := false
	self := claim{n.self, n.ip.Addr(), n.auto, n.ipSince}
	other := claim{from, ip.Addr(), a.Auto, mb.ipSince}
	if mustMove(self, other, n.tie()) {
		if !n.moveLimit.AllowN(now, 1) {
			n.logRefusal("address clash: moved too often to move again now", "ip", n.ip, "other", from)
		} else if moved = n.moveLocked(from); moved {
			n.moves++
		}
	} else if self.addr == other.addr && self.id != other.id {
		n.logRefusal("address clash: keeping the address", "ip", n.ip, "other", from, "other_auto", a.Auto)
	}
	if moved || before != [2]string{mb.ip.String(), mb.linkLocal} {
		n.refreshSourcesLocked()
	}
	n.mu.Unlock()
	if !known {
		n.noteState()
	}
	switch {
	case moved:
		n.poke()
	case !known && !a.Reply:
		select {
		case n.kick <- true:
		default:
		}
	}
}

// moveLocked moves our automatic address off a clash with other.
func (n *Network) moveLocked(other string) bool {
	old := n.ip
	r := old.Masked()
	taken := n.takenLocked()
	taken[old.Addr()] = true
	addr, err := pick(n.self, n.name, r, taken)
	if err != nil {
		n.log.Info("address clash: no address to move to", "ip", old, "other", other, "err", err)
		return false
	}
	n.ip, n.ipSince = netip.PrefixFrom(addr, r.Bits()), n.m.cfg.Now()
	n.log.Info("address clash: moving", "from", old, "to", n.ip, "other", other)
	if n.up {
		if err := n.ns.setAddr(n.dev.Name(), old, n.ip); err != nil {
			n.log.Info("move address", "err", err)
		}
	}
	return true
}

// forget stops a member's dialer and link.
func (n *Network) forget(mb *member) {
	n.mu.Lock()
	if mb.stopDial != nil {
		mb.stopDial()
	}
	l, port := mb.link, mb.port
	mb.link = nil
	n.refreshSourcesLocked() // an address it held may be another's now
	n.mu.Unlock()
	if l != nil {
		if n.sw != nil {
			n.sw.RemovePort(port)
		}
		l.Close()
	}
}

// hasLink reports whether connection connID is a member's live link.
func (n *Network) hasLink(connID string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, mb := range n.members {
		if mb.link != nil && mb.link.ID() == connID {
			return true
		}
	}
	return false
}

// dials reports whether we dial the member: the smaller node ID does.
func (n *Network) dials(id string) bool { return n.self < id }

// startDialLocked starts the member's dialer when we are the one to dial.
func (n *Network) startDialLocked(mb *member) {
	if !n.dials(mb.id) || !mb.ready || mb.dialing || n.stopped {
		return
	}
	mb.dialing = true
	ctx, cancel := context.WithCancel(n.ctx)
	mb.stopDial = cancel
	n.wg.Go(func() { n.dialLoop(ctx, mb) })
}

func (n *Network) expects(peer string) bool {
	if n.dials(peer) {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	mb, ok := n.members[peer]
	return ok && n.up && mb.link == nil
}

// dialLoop links to a member until the network or the member ends,
// backing off after failures.
func (n *Network) dialLoop(ctx context.Context, mb *member) {
	backoff := time.Second
	for ctx.Err() == nil {
		n.mu.Lock()
		addr := mb.address
		mb.state, mb.since = LinkConnecting, n.m.cfg.Now()
		mb.attempts++
		n.mu.Unlock()
		l, h, err := n.dial(ctx, addr)
		if err == nil {
			backoff = time.Second
			n.install(mb, l, h)
			select {
			case <-l.Done():
			case <-ctx.Done():
			}
			n.linkDown(mb, l, "link ended")
			if ctx.Err() != nil {
				return
			}
		} else {
			n.mu.Lock()
			mb.state, mb.since, mb.err = LinkDown, n.m.cfg.Now(), err.Error()
			n.mu.Unlock()
			n.log.Info("member link failed", "member", mb.id, "err", err, "retry", backoff)
		}
		select {
		case <-ctx.Done():
			return
		case <-mb.wake:
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, n.m.cfg.MaxBackoff)
	}
}

// dial connects to a member and exchanges hellos.
func (n *Network) dial(ctx context.Context, addr string) (Link, hello, error) {
	if addr == "" {
		return nil, hello{}, errors.New("its address is not known yet")
	}
	dctx, cancel := context.WithTimeout(ctx, n.m.cfg.DialTimeout)
	defer cancel()
	l, err := n.m.cfg.Host.Dial(dctx, addr)
	if err != nil {
		return nil, hello{}, err
	}
	if err := n.writeHello(l); err != nil {
		l.Close()
		return nil, hello{}, err
	}
	// The answer comes at once from a member that expected the link; one
	// that did not yet (our announcement is still on its way) never
	// answers, and the next attempt is soon.
	h, err := readWithin(ctx, l, answerTimeout)
	if err != nil {
		l.Close()
		return nil, hello{}, err
	}
	if h.From != l.PeerID() || !h.verify(&n.keys, n.self) {
		l.Close()
		return nil, hello{}, fmt.Errorf("%w: the member's answer does not prove the secret", errBadHello)
	}
	if !bytes.Equal(h.MAC, n.memberMAC(h.From)) {
		l.Close()
		return nil, hello{}, fmt.Errorf("%w: mac %s is not the member's", errBadHello, h.MAC)
	}
	return l, h, nil
}

func (n *Network) writeHello(l Link) error {
	n.mu.Lock()
	h := hello{From: n.self, Proof: n.keys.proof(n.self, l.PeerID()), IP: n.ip, MAC: n.mac}
	n.mu.Unlock()
	b, err := h.marshal()
	if err != nil {
		return err
	}
	if _, err := l.Write(b); err != nil {
		return fmt.Errorf("network: write hello: %w", err)
	}
	return nil
}

// accepted takes a member link the member dialed, once its hello proved
// the secret.
func (n *Network) accepted(l Link, h hello) error {
	if n.ctx.Err() != nil {
		return ErrClosed
	}
	if n.dials(h.From) {
		return fmt.Errorf("network %s: %s dialed, but we are the dialer of that pair", n.name, h.From)
	}
	if !bytes.Equal(h.MAC, n.memberMAC(h.From)) {
		return fmt.Errorf("%w: mac %s is not the member's", errBadHello, h.MAC)
	}
	if err := n.writeHello(l); err != nil {
		return err
	}
	now := n.m.cfg.Now()
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return ErrClosed
	}
	mb, ok := n.members[h.From]
	if !ok { // its announcement is still on the way
		if len(n.members) >= n.m.cfg.MaxMembers {
			n.refusedLocked(h.From)
			n.mu.Unlock()
			return fmt.Errorf("network %s: %w", n.name, errTooManyMembers)
		}
		mb = n.newMemberLocked(h.From, now)
		mb.ip, mb.mac, mb.auto, mb.ipSince = h.IP, h.MAC, true, now
	}
	n.wg.Add(1) // under the lock: stop has not begun to wait
	n.mu.Unlock()
	n.install(mb, l, h)
	go func() {
		defer n.wg.Done()
		select {
		case <-l.Done():
		case <-n.ctx.Done():
		}
		n.linkDown(mb, l, "link ended")
	}()
	return nil
}

// install makes l the member's link and a port of the switch, replacing
// an older link.
func (n *Network) install(mb *member, l Link, h hello) {
	port := mb.id + "/" + l.ID()
	now := n.m.cfg.Now()
	n.mu.Lock()
	// What the link's hello says is the member's address and MAC now.
	if mb.ip.Addr() != h.IP.Addr() {
		mb.ipSince = now
	}
	mb.ip, mb.mac = h.IP, h.MAC
	old, oldPort := mb.link, mb.port
	mb.link, mb.port = l, port
	mb.state, mb.since, mb.linkSince, mb.err = LinkUp, now, now, ""
	src := n.sourceLocked(mb)
	n.mu.Unlock()
	if old != nil {
		n.sw.RemovePort(oldPort)
	}
	if err := n.sw.AddPortFrom(port, tap.NewFramer(l), src); err != nil {
		n.log.Info("add port", "member", mb.id, "err", err)
		l.Close()
		return
	}
	n.log.Info("member link up", "member", mb.id, "conn", l.ID(), "strategy", l.Strategy())
}

// linkDown records that l, once the member's link, ended.
func (n *Network) linkDown(mb *member, l Link, why string) {
	n.mu.Lock()
	current := mb.link == l
	port := mb.port
	if current {
		mb.link = nil
		mb.state, mb.since, mb.err = LinkDown, n.m.cfg.Now(), why
		mb.downSince = mb.since
		if !n.dials(mb.id) {
			mb.state = LinkWaiting
		}
	}
	n.mu.Unlock()
	if current {
		if n.sw != nil {
			n.sw.RemovePort(port)
		}
		n.log.Info("member link down", "member", mb.id, "conn", l.ID())
	}
	l.Close()
}

// Info reports the network and its peer table.
func (n *Network) Info() Info {
	n.mu.Lock()
	defer n.mu.Unlock()
	st, detail := n.stateLocked(n.m.cfg.Now())
	info := Info{Name: n.name, State: st, Detail: detail, IP: n.ip.String(), Auto: n.auto, MAC: n.mac.String(),
		LinkLocal: n.linkLocalLocked(), JoinedAt: n.joined, Members: []Member{}, AddressMoves: n.moves, Host: n.m.cfg.HostName}
	var ports map[string]tap.PortStats
	if n.up {
		info.Device = n.dev.Name()
		info.MTU = n.dev.MTU()
		st := n.dev.Stats()
		info.FramesIn, info.FramesOut = st.FramesIn, st.FramesOut
		ports = map[string]tap.PortStats{}
		for _, p := range n.sw.Ports() {
			ports[p.ID] = p
		}
	}
	for _, mb := range n.members {
		row := Member{
			NodeID: mb.id, Address: mb.address, IP: mb.ip.String(), MAC: mb.mac.String(),
			LinkLocal: cmpOr(mb.linkLocal, linkLocal(mb.mac)), Link: mb.state, Since: mb.since, LastSeen: mb.lastSeen,
			Dials: n.dials(mb.id), Attempts: mb.attempts, LastError: mb.err, Host: mb.host,
		}
		if mb.link != nil {
			row.ConnectionID, row.Strategy, row.RemoteAddr = mb.link.ID(), mb.link.Strategy(), mb.link.RemoteAddr()
			if p, ok := ports[mb.port]; ok {
				row.FramesIn, row.FramesOut, row.FramesSpoofed = p.FramesIn, p.FramesOut, p.Spoofed
			}
		}
		info.Members = append(info.Members, row)
	}
	slices.SortFunc(info.Members, func(a, b Member) int { return strings.Compare(a.NodeID, b.NodeID) })
	return info
}

// linkLocalLocked is the device's IPv6 link-local address as the kernel
// set it (which depends on its address generation mode), or the EUI-64
// one of the MAC while the device is not up or has none yet.
func (n *Network) linkLocalLocked() string {
	if n.ll == "" && n.up {
		if ll := n.ns.linkLocal(n.dev.Name()); ll.IsValid() {
			n.ll = ll.String()
		}
	}
	return cmpOr(n.ll, linkLocal(n.mac))
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
