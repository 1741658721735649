// Package natlab builds throwaway IPv4 and IPv6 networks for tests out of
// Linux network namespaces, veth pairs, bridges and nftables NAT and
// firewall rulesets, so that NAT traversal is tested against real kernels
// rather than simulations.
//
// A Lab has one WAN namespace, the "internet": a bridge carrying
// 203.0.113.0/24 (TEST-NET-3) with the addresses WANAddrs (203.0.113.1 and
// 203.0.113.2) on which tests run rendezvous services and NTP. Routers hang off
// that bridge, each in its own namespace, and hosts hang off a router's LAN
// bridge. Every router is one of six kinds (see Kind): Public (no NAT),
// Forwarded (NAT plus port forwards), Easy (endpoint-independent mapping),
// Hard (endpoint-dependent mapping), FullCone (endpoint-independent
// mapping and filtering) and RestrictedCone (port forwards that admit only
// the addresses the host sent to). An Easy router added with the UPnP
// option also runs miniupnpd, which maps ports for its hosts by PCP,
// NAT-PMP or UPnP IGD (upnp.go).
//
// Addressing plan (N is the router's number, 1 for the first router):
//
//	WAN bridge "br0" in the WAN namespace  203.0.113.0/24, services on .1 and .2
//	router N, interface "wan"              203.0.113.(10+N)/24, default via 203.0.113.1
//	NAT router N (any other kind)          LAN 10.N.0.0/24 on bridge "lan": router .1, hosts .2, .3, ...
//	k-th Public router                     LAN 198.51.100.(16k)/28 (TEST-NET-2): router .16k+1, hosts .16k+2 ...
//	host, interface "eth0"                 default via its router's LAN address
//	CGNAT N (Lab.AddCGNAT)                 LAN 100.64.N.0/24 (RFC 6598): router .1, then its home routers and hosts in the order added
//	router M behind CGNAT N, "wan"         the next free 100.64.N.x/24, default via 100.64.N.1; LAN 10.M.0.0/24 as above
//
// A carrier-grade NAT (Lab.AddCGNAT) is a router on the WAN bridge that
// maps like its kind (Easy, Hard or FullCone) for a LAN that is the
// carrier's access network; home routers behind it (its Router.AddRouter) have
// their WAN interface there, so their hosts' traffic is translated twice,
// and the WAN sees the CGNAT's address. A port forward on such a home
// router reaches only as far as the access network, as in the world.
//
// Public hosts' addresses are routed: the WAN namespace forwards IPv4 and holds
// a route for every public /28 via that router's WAN address, and the other
// routers reach public hosts through their default route (the WAN namespace).
// At most 200 routers per lab, 15 of them Public; 253 hosts per NAT router and
// 13 per Public router.
//
// IPv6: a lab built New(tb, WithIPv6()) is dual-stack. Nothing is
// translated: routers route their hosts' global addresses, and the NAT
// kinds are stateful firewalls instead, as most home routers are (new
// inbound from the WAN dropped, outbound and established or related
// accepted, ICMPv6 errors, packet too big and echo requests let through;
// a Forwarded router opens its forwarded ports to the host). Every
// namespace has static addresses only, usable at once: no duplicate
// address detection, no router advertisements, no SLAAC; each interface
// also has its link-local address. Hosts are dual-stack, or IPv6-only when
// added with V6Only; a router added with IPv4Only (an ISP without IPv6)
// gives its hosts IPv4 only. IPv6 numbers repeat the IPv4 plan's decimal digits:
//
//	WAN bridge "br0" in the WAN namespace  2001:db8:ffff::/64, services on ::1 and ::2 (WANAddrs6)
//	router N, interface "wan"              2001:db8:ffff::(10+N)/64, default via 2001:db8:ffff::1
//	router N's site, routed to it          2001:db8:N::/48
//	router N's LAN, on bridge "lan"        2001:db8:N::/64: router ::1, hosts ::2, ::3, ... (10.N.0.2 is 2001:db8:N::2)
//	router M behind CGNAT N, "wan"         2001:db8:N::x/64 (100.64.N.x's x), default via 2001:db8:N::1; its
//	                                       site 2001:db8:M::/48 is routed to it by the CGNAT, to the CGNAT by the WAN
//
// Host.IP6, Router.WANIP6, Router.LAN6 and Router.LANIP6 give them; Host.IP
// is the zero Addr for a V6Only host. A CGNAT routes IPv6 unfiltered, as
// carriers do; a home router behind it is a stateful firewall like any
// other. A lab built without WithIPv6 is exactly the IPv4 lab it always was.
//
// Namespaces are named Prefix() plus "w" (the WAN), "rN" (router N), "hN"
// (the N-th host) or "lN" (router N's link, see below), where the prefix
// "nl<pid>-<lab>-" (pid and lab number in base 36) is unique among running
// processes, e.g. "nl2n9c-1-h3". Interfaces have fixed short names inside
// their namespaces ("br0", "wan", "lan", "eth0", "rtr", and "rN"/"hN" for
// bridge ports), so the 15-byte limit on interface names never depends on
// the namespace names.
//
// Routers drop what the WAN sends them unasked (a SYN to their WAN address
// that is no port forward and belongs to no connection) silently, as home
// and carrier routers do; RejectWithReset makes one answer TCP with a reset.
//
// A router's WAN link is a plain veth pair unless AddRouter is given a Link:
// one-way delay, jitter and loss for every frame between the router and the
// WAN bridge (behind a CGNAT: the CGNAT's LAN bridge), in both directions. Kernels without sch_netem (CI's has none)
// rule out tc, so the router's "wan" then pairs with "rtr" in the link
// namespace "lN", whose "wan" pairs with the router's port on the WAN
// bridge, and a forwarder in the test process copies frames between "rtr"
// and "wan" over AF_PACKET sockets, holding each back for its delay. It
// keeps frames in order unless Link.Reorder, stops with the lab's cleanup,
// and moves TCP at a few hundred MB/s. Router.SetLink changes a link while a
// test runs; Router.LinkStats counts what crossed it.
//
// A typical test:
//
//	lab := natlab.New(t)
//	a := lab.AddRouter(natlab.Easy).AddHost()
//	b := lab.AddRouter(natlab.Hard, natlab.Link{Delay: 40 * time.Millisecond, Loss: 0.01}).AddHost()
//	c := lab.AddCGNAT(natlab.Hard).AddRouter(natlab.Easy).AddHost() // double NAT
//	d := lab.AddRouter(natlab.FullCone).AddHost()
//	ntp := lab.StartNTP(t)
//	lab.WAN().Start(t, "reachd", "rendezvous", "--stun-listen", "203.0.113.1:3478,203.0.113.2:3478")
//	na := a.Start(t, "reachd", "run", "--ntp", ntp.String(), ...)
//	out, err := b.Command(ctx, "curl", ...).Output()
//
// and a dual-stack one, with firewalled IPv6-only and dual-stack hosts:
//
//	lab := natlab.New(t, natlab.WithIPv6())
//	a := lab.AddRouter(natlab.Easy).AddHost(natlab.V6Only()) // a.IP6() is 2001:db8:1::2
//	b := lab.AddRouter(natlab.Hard).AddHost()                // 10.2.0.2 and 2001:db8:2::2
//	// WAN services listen on WANAddrs and WANAddrs6, or on "[::]:port" for both families.
//
// natlab is for tests only: it needs root, ip(8) and nft(8) (and chronyd(8) for
// StartNTP). New skips the test when they are missing, or fails it when the
// environment variable CI is "true". Every namespace, and every process still
// running in one, is removed by the test's cleanup, also when the test fails or
// panics. Namespaces left behind by a test binary killed before its cleanups
// ran are removed by the first New of a later test process.
//
// Methods that build the lab (New, AddRouter, AddCGNAT, AddHost, Forward, SetLink,
// Start, StartNTP) report errors with tb.Fatal and so must be called from the
// goroutine running the test; Host.Do and Host.Command may be used from any
// goroutine. natlab does not model NAT64 or NAT66, nor bandwidth limits.
package natlab

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// Kind is how a router treats traffic between its LAN and the WAN.
type Kind int

const (
	// Public routes public addresses to its hosts: no NAT, no filtering.
	Public Kind = iota + 1
	// Forwarded masquerades like Easy and forwards TCP and UDP ports on its
	// WAN address to LAN hosts (see Router.Forward), hairpin included.
	Forwarded
	// Easy masquerades with endpoint-independent mapping that keeps the
	// source port when it is free, and port-restricted filtering: only
	// packets of connections the LAN opened (conntrack established or
	// related) come in.
	Easy
	// Hard masquerades with fully random source ports, a new one for every
	// connection (endpoint-dependent mapping), and filters like Easy.
	Hard
	// FullCone maps like Easy and filters endpoint-independently (RFC 4787;
	// "full cone"): once a LAN host has sent TCP or UDP from a port, any
	// WAN host may reach it at the mapped port, until 2 minutes after the
	// mapping's last outbound packet. Its IPv6 firewall likewise lets in
	// anyone's packets to a port a LAN host has sent from. The router keeps
	// its mappings in an nftables map (mapped port to LAN host and port)
	// and DNATs new inbound connections by it. Linux keeps a source port
	// per destination, so two LAN hosts sending from one port to different
	// destinations share the mapped port; the map then holds the first
	// (a full-cone NAT in a box would give the second another port).
	FullCone
	// RestrictedCone maps like Easy and forwards ports like Forwarded (see
	// Router.Forward), but filters by address (RFC 4787 address-dependent
	// filtering, a "restricted cone"): a new connection from the WAN to a
	// forwarded port passes only from an IP address the LAN host has sent
	// to in the last 2 minutes, from any port. The router keeps those
	// (host, remote IP) pairs in an nftables set. Its IPv6 firewall is the
	// other kinds'.
	RestrictedCone
)

// String returns the kind's lowercase name.
func (k Kind) String() string {
	switch k {
	case Public:
		return "public"
	case Forwarded:
		return "forwarded"
	case Easy:
		return "easy"
	case Hard:
		return "hard"
	case FullCone:
		return "fullcone"
	case RestrictedCone:
		return "restrictedcone"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Lab is one test's network: the WAN namespace and the routers and hosts
// added to it. Create it with New.
type Lab struct {
	tb     testing.TB
	prefix string
	wan    *Host

	mu         sync.Mutex
	namespaces []string // created namespaces, in creation order
	forwarders []*forwarder
	routers    []*Router
	v6         bool // built WithIPv6
	hosts      int  // hosts created so far, for names
	public     int  // Public routers created so far
	spares     int  // WAN addresses ChangeWANIP handed out
	ntp        netip.AddrPort
}

// labs numbers the labs of this process, for unique namespace names.
var labs atomic.Int64

// LabOption changes how New builds a lab.
type LabOption interface {
	applyLab(*labConfig)
}

type labConfig struct {
	v6 bool
}

type labOptionFunc func(*labConfig)

func (f labOptionFunc) applyLab(c *labConfig) { f(c) }

// WithIPv6 makes the lab dual-stack: the WAN namespace also holds
// WANAddrs6, every router (unless added with IPv4Only) also routes an IPv6
// LAN (without NAT; the NAT kinds are stateful IPv6 firewalls) and every
// host of such a router has a global IPv6 address besides its IPv4 one,
// unless added with V6Only. Without it a lab
// is IPv4 only, as it always was.
func WithIPv6() LabOption { return labOptionFunc(func(c *labConfig) { c.v6 = true }) }

// New builds a lab holding only the WAN namespace and registers its teardown
// with tb.Cleanup. It skips the test when natlab cannot run here (not Linux,
// not root, ip or nft missing, namespaces not permitted), or fails it when the
// environment variable CI is "true".
func New(tb testing.TB, opts ...LabOption) *Lab {
	tb.Helper()
	var cfg labConfig
	for _, o := range opts {
		o.applyLab(&cfg)
	}
	if reason := missing(runtime.GOOS, os.Geteuid(), exec.LookPath, "ip", "nft"); reason != "" {
		unavailable(tb, reason)
	}
	sweepOnce.Do(sweepStale)
	l := &Lab{
		tb: tb,
		// Unique among live processes: the pid, then the lab's number. The
		// pid lets a later run sweep namespaces of a dead process.
		prefix: fmt.Sprintf("nl%s-%s-", strconv.FormatInt(int64(os.Getpid()), 36),
			strconv.FormatInt(labs.Add(1), 36)),
		v6: cfg.v6,
	}
	tb.Cleanup(l.teardown)

	name := l.prefix + "w"
	if err := addNamespace(name); err != nil {
		unavailable(tb, fmt.Sprintf("cannot create a network namespace: %v", err))
	}
	l.track(name)
	l.wan = &Host{lab: l, name: name, ip: wanAddrs[0]}
	if l.v6 {
		l.wan.ip6 = wanAddrs6[0]
	}
	if err := l.setupWAN(); err != nil {
		tb.Fatalf("natlab: wan namespace %s: %v", name, err)
	}
	return l
}

// Prefix returns the prefix of every namespace name in the lab. It ends with
// "-", so no other lab's names start with it.
func (l *Lab) Prefix() string { return l.prefix }

// WAN returns the WAN namespace as a Host whose IP is WANAddrs()[0]. Run
// rendezvous services there.
func (l *Lab) WAN() *Host { return l.wan }

// WANAddrs returns the WAN namespace's addresses, 203.0.113.1 and
// 203.0.113.2: two, so that a STUN server can answer from a second IP (RFC
// 5780).
func (l *Lab) WANAddrs() []netip.Addr { return append([]netip.Addr(nil), wanAddrs...) }

// WANAddrs6 returns the WAN namespace's IPv6 addresses, 2001:db8:ffff::1 and
// 2001:db8:ffff::2, or nil when the lab was built without WithIPv6.
func (l *Lab) WANAddrs6() []netip.Addr {
	if !l.v6 {
		return nil
	}
	return append([]netip.Addr(nil), wanAddrs6...)
}

// IPv6 reports whether the lab was built WithIPv6.
func (l *Lab) IPv6() bool { return l.v6 }

// Routers returns the routers added so far, in order.
func (l *Lab) Routers() []*Router {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Router(nil), l.routers...)
}

func (l *Lab) track(name string) {
	l.mu.Lock()
	l.namespaces = append(l.namespaces, name)
	l.mu.Unlock()
}

// teardown stops the link forwarders, kills what still runs in the lab's
// namespaces and deletes them, newest first.
func (l *Lab) teardown() {
	l.mu.Lock()
	names, fwds := l.namespaces, l.forwarders
	l.namespaces, l.forwarders = nil, nil
	l.mu.Unlock()
	// Forwarders first: their sockets would keep link namespaces alive.
	for _, f := range fwds {
		f.close()
	}
	for i := len(names) - 1; i >= 0; i-- {
		if err := deleteNamespace(names[i]); err != nil {
			l.tb.Errorf("natlab: teardown: %v", err)
		}
	}
}

func (l *Lab) setupWAN() error {
	name := l.wan.name
	// Sysctls first: interfaces copy the "default" settings when created.
	if err := setSysctls(name, routerSysctls); err != nil {
		return err
	}
	if l.v6 {
		if err := setSysctls(name, routerSysctls6); err != nil {
			return err
		}
	}
	cmds := []string{
		"link add br0 type bridge",
		// A fixed MAC: a bridge otherwise takes its ports' lowest MAC, which
		// changes as routers join and leaves stale ARP entries behind.
		"link set br0 address 02:00:cb:00:71:01",
	}
	for _, a := range wanAddrs {
		cmds = append(cmds, "addr add "+netip.PrefixFrom(a, wanPrefix.Bits()).String()+" dev br0")
	}
	if l.v6 {
		for _, a := range wanAddrs6 {
			cmds = append(cmds, "addr add "+netip.PrefixFrom(a, wanPrefix6.Bits()).String()+" dev br0 nodad")
		}
	}
	cmds = append(cmds, "link set br0 up")
	return ipBatch(name, cmds...)
}
