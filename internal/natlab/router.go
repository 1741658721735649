package natlab

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
)

// Router is a namespace joining a LAN to the WAN bridge, with the nftables
// ruleset of its Kind. Create it with Lab.AddRouter.
type Router struct {
	lab    *Lab
	kind   Kind
	n      int     // router number, from 1
	up     *Router // the CGNAT this router sits behind; nil on the WAN bridge
	cgnat  bool    // made by AddCGNAT
	self   *Host
	lan    netip.Prefix
	lanIP  netip.Addr
	lan6   netip.Prefix // IPv6 LAN, a /64; invalid without IPv6
	lanIP6 netip.Addr
	reset  bool        // RejectWithReset
	fwd    *forwarder  // the WAN link's forwarder; nil without a Link option
	upnp   *upnpConfig // miniupnpd's; nil without the UPnP option

	upnpMu   sync.Mutex
	upnpProc *Process // the running miniupnpd

	mu       sync.Mutex
	next     int // the LAN's next free address index (lanAddr), from 2
	hosts    []*Host
	forwards []forward
	rules    string
	link     Link // the forwarder's current Link
}

// RouterOption changes how Lab.AddRouter builds a router.
type RouterOption interface {
	applyRouter(*routerConfig)
}

// routerConfig is what RouterOptions set.
type routerConfig struct {
	reset  bool
	v4only bool
	link   *Link
	upnp   *upnpConfig
}

type optionFunc func(*routerConfig)

func (f optionFunc) applyRouter(c *routerConfig) { f(c) }

// RejectWithReset makes the router answer unsolicited TCP from the WAN (a SYN
// to its WAN address that is no port forward and belongs to no connection)
// with a TCP reset, as a host with a closed port does. By default a router
// drops it silently, as home and carrier routers do, and the sender times
// out. Only for tests that need the reset.
func RejectWithReset() RouterOption {
	return optionFunc(func(c *routerConfig) { c.reset = true })
}

// IPv4Only makes a router of a lab built WithIPv6 route IPv4 only, as an
// ISP without IPv6 would: it has no IPv6 address but link-locals, and its
// hosts have no global IPv6 address (and cannot be V6Only). Routers behind
// an IPv4Only CGNAT are IPv4 only too.
func IPv4Only() RouterOption {
	return optionFunc(func(c *routerConfig) { c.v4only = true })
}

// AddRouter adds a router of the given kind, attached to the WAN bridge with
// the next free WAN address, with an empty LAN. Options: a Link impairs the
// router's WAN link; RejectWithReset makes it refuse unsolicited TCP;
// IPv4Only leaves IPv6 out in a lab built WithIPv6.
func (l *Lab) AddRouter(kind Kind, opts ...RouterOption) *Router {
	l.tb.Helper()
	cfg := routerOptions(opts)
	if cfg.upnp != nil {
		needMiniupnpd(l.tb)
	}
	r, err := l.addRouter(kind, cfg, nil, false)
	if err != nil {
		l.tb.Fatalf("natlab: add %s router: %v", kind, err)
	}
	return r
}

func routerOptions(opts []RouterOption) routerConfig {
	var cfg routerConfig
	for _, o := range opts {
		o.applyRouter(&cfg)
	}
	return cfg
}

// addRouter adds a router on the WAN bridge (up nil) or on the LAN of the
// CGNAT up; cgnat makes it a CGNAT.
func (l *Lab) addRouter(kind Kind, cfg routerConfig, up *Router, cgnat bool) (*Router, error) {
	r, err := l.newRouter(kind, cfg, up, cgnat)
	if err != nil {
		return nil, err
	}
	if err := r.build(cfg.link); err != nil {
		return nil, err
	}
	return r, nil
}

// newRouter checks a router's kind and place and numbers it: its number,
// its addresses, its LANs.
func (l *Lab) newRouter(kind Kind, cfg routerConfig, up *Router, cgnat bool) (*Router, error) {
	switch {
	case kind < Public || kind > RestrictedCone:
		return nil, fmt.Errorf("unknown kind %d", int(kind))
	case cgnat && (kind == Public || kind == Forwarded || kind == RestrictedCone):
		return nil, fmt.Errorf("a cgnat maps like %s, %s or %s, not %s", Easy, Hard, FullCone, kind)
	case up != nil && !up.cgnat:
		return nil, fmt.Errorf("router %s is no cgnat", up.Name())
	case up != nil && kind == Public:
		return nil, fmt.Errorf("a %s router behind a cgnat: its lan would not be routed", kind)
	}
	if cfg.upnp != nil && (kind != Easy || up != nil) {
		return nil, fmt.Errorf("miniupnpd runs on an %s router on the WAN, not %s", Easy, kind)
	}
	if cfg.link != nil {
		if err := cfg.link.validate(); err != nil {
			return nil, err
		}
	}
	var upIndex int // the router's address index on up's LAN
	if up != nil {
		var err error
		if upIndex, err = up.allocAddr(); err != nil {
			return nil, err
		}
	}
	l.mu.Lock()
	n := len(l.routers) + 1
	var wanIP, wanIP6, lanIP6 netip.Addr
	var lan, lan6 netip.Prefix
	var err error
	if up == nil {
		wanIP, err = routerWANIP(n)
	} else {
		wanIP, err = lanAddr(up.lan, upIndex)
	}
	if err == nil {
		switch {
		case cgnat:
			lan, err = cgnatLAN(n)
		case kind == Public:
			lan, err = publicLAN(l.public + 1)
		default:
			lan, err = natLAN(n)
		}
	}
	// v6: the router routes IPv6.
	v6 := l.v6 && !cfg.v4only && (up == nil || up.lan6.IsValid())
	if err == nil && v6 {
		var site netip.Prefix
		site, err = site6(n)
		lan6 = netip.PrefixFrom(site.Addr(), 64)
		lanIP6 = must(lanAddr6(lan6, 1))
		if err == nil && up == nil {
			wanIP6, err = routerWANIP6(n)
		} else if err == nil {
			wanIP6, err = lanAddr6(up.lan6, upIndex)
		}
	}
	if err != nil {
		l.mu.Unlock()
		return nil, err
	}
	if kind == Public {
		l.public++
	}
	name := fmt.Sprintf("%sr%d", l.prefix, n)
	r := &Router{
		lab:    l,
		kind:   kind,
		n:      n,
		up:     up,
		cgnat:  cgnat,
		self:   &Host{lab: l, name: name, ip: wanIP, ip6: wanIP6},
		lan:    lan,
		lanIP:  must(lanAddr(lan, 1)),
		lan6:   lan6,
		lanIP6: lanIP6,
		reset:  cfg.reset,
		upnp:   cfg.upnp,
		next:   2,
	}
	l.routers = append(l.routers, r)
	l.mu.Unlock()
	return r, nil
}

// build makes the router's namespace, links it to its upstream (through a
// link namespace when link is not nil), addresses and routes it, and loads
// its ruleset.
func (r *Router) build(link *Link) error {
	l, name, n, up := r.lab, r.self.name, r.n, r.up
	wanIP, wanIP6, lan, lan6 := r.self.ip, r.self.ip6, r.lan, r.lan6
	v6 := lan6.IsValid()
	if err := addNamespace(name); err != nil {
		return err
	}
	l.track(name)
	if err := setSysctls(name, routerSysctls); err != nil {
		return err
	}
	if v6 {
		if err := setSysctls(name, routerSysctls6); err != nil {
			return err
		}
	}
	port, upNS, upBridge := r.port(), r.upstream(), "br0"
	upBits, gw, gw6 := wanPrefix.Bits(), wanAddrs[0], netip.Addr{}
	if v6 {
		gw6 = wanAddrs6[0]
	}
	if up != nil {
		upBridge, upBits, gw, gw6 = lanIface, up.lan.Bits(), up.lanIP, up.lanIP6
	}
	if link == nil {
		if err := ipBatch("", fmt.Sprintf("link add name %s netns %s type veth peer name %s netns %s",
			wanIface, name, port, upNS)); err != nil {
			return err
		}
	} else {
		var err error
		if r.fwd, err = l.addLink(n, name, port, upNS, *link); err != nil {
			return fmt.Errorf("link: %w", err)
		}
		r.link = *link
	}
	if err := ipBatch(upNS, "link set "+port+" master "+upBridge, "link set "+port+" up"); err != nil {
		return err
	}
	cmds := []string{
		fmt.Sprintf("link set %s address %s", wanIface, routerWANMAC(n)),
		fmt.Sprintf("addr add %s dev %s", netip.PrefixFrom(wanIP, upBits), wanIface),
		"link set " + wanIface + " up",
		"link add " + lanIface + " type bridge",
		fmt.Sprintf("link set %s address 02:00:0a:%02x:00:01", lanIface, n), // fixed, see setupWAN
		fmt.Sprintf("addr add %s dev %s", netip.PrefixFrom(r.lanIP, lan.Bits()), lanIface),
		"link set " + lanIface + " up",
		"route add default via " + gw.String(),
	}
	if v6 {
		cmds = append(cmds,
			fmt.Sprintf("addr add %s dev %s nodad", netip.PrefixFrom(wanIP6, 64), wanIface),
			fmt.Sprintf("addr add %s dev %s nodad", netip.PrefixFrom(r.lanIP6, 64), lanIface),
			"route add ::/0 via "+gw6.String(),
		)
	}
	if err := ipBatch(name, cmds...); err != nil {
		return err
	}
	if r.link.segmented() {
		if err := r.segment(true); err != nil {
			return err
		}
	}
	if up == nil {
		if err := l.knowNeighbours(r); err != nil {
			return err
		}
	}
	if r.kind == Public {
		if err := ipBatch(l.wan.name, fmt.Sprintf("route add %s via %s", lan, wanIP)); err != nil {
			return err
		}
	}
	if v6 {
		// The router's site /48 is routed to it by its upstream, and by the
		// WAN namespace through its CGNAT if it sits behind one.
		site := netip.PrefixFrom(lan6.Addr(), 48)
		if up != nil {
			if err := ipBatch(upNS, fmt.Sprintf("route add %s via %s", site, wanIP6)); err != nil {
				return err
			}
			if err := ipBatch(l.wan.name, fmt.Sprintf("route add %s via %s", site, up.self.ip6)); err != nil {
				return err
			}
		} else if err := ipBatch(l.wan.name, fmt.Sprintf("route add %s via %s", site, wanIP6)); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.applyLocked(); err != nil {
		return err
	}
	if r.fwd != nil {
		if err := r.awaitLink(); err != nil {
			return err
		}
	}
	if r.upnp != nil {
		return r.StartUPnP()
	}
	return nil
}

// routerWANMAC is router n's fixed MAC on the WAN bridge.
func routerWANMAC(n int) string { return fmt.Sprintf("02:00:cb:00:72:%02x", n) }

// knowNeighbours gives r and every router before it each other's WAN MAC
// as permanent neighbour entries. On the Internet a router resolves only
// its next hop; on the lab's one WAN segment two routers would first
// resolve each other, which over delayed links costs a whole extra round
// trip on the first connection between two hosts.
func (l *Lab) knowNeighbours(r *Router) error {
	l.mu.Lock()
	others := slices.Clone(l.routers)
	l.mu.Unlock()
	var mine []string
	for _, o := range others {
		if o == r || o.up != nil {
			continue
		}
		theirs := []string{fmt.Sprintf("neigh replace %s lladdr %s dev %s nud permanent", r.self.ip, routerWANMAC(r.n), wanIface)}
		mine = append(mine, fmt.Sprintf("neigh replace %s lladdr %s dev %s nud permanent", o.self.ip, routerWANMAC(o.n), wanIface))
		if r.self.ip6.IsValid() && o.self.ip6.IsValid() {
			theirs = append(theirs, fmt.Sprintf("neigh replace %s lladdr %s dev %s nud permanent", r.self.ip6, routerWANMAC(r.n), wanIface))
			mine = append(mine, fmt.Sprintf("neigh replace %s lladdr %s dev %s nud permanent", o.self.ip6, routerWANMAC(o.n), wanIface))
		}
		if err := ipBatch(o.self.name, theirs...); err != nil {
			return err
		}
	}
	if len(mine) == 0 {
		return nil
	}
	return ipBatch(r.self.name, mine...)
}

// port returns the name of the router's port on its upstream's bridge.
func (r *Router) port() string { return fmt.Sprintf("r%d", r.n) }

// Kind returns the router's kind.
func (r *Router) Kind() Kind { return r.kind }

// Name returns the router's network namespace name.
func (r *Router) Name() string { return r.self.name }

// WANIP returns the router's address on the WAN bridge, 203.0.113.(10+N):
// the source address the WAN sees for NAT kinds. For a router behind a
// CGNAT it is its address on the CGNAT's LAN, 100.64.M.x; the WAN sees
// Upstream().WANIP().
func (r *Router) WANIP() netip.Addr { return r.self.ip }

// WANIP6 returns the router's IPv6 address on the WAN bridge,
// 2001:db8:ffff::(10+N), or on its CGNAT's LAN, or the zero Addr in a lab
// without IPv6.
func (r *Router) WANIP6() netip.Addr { return r.self.ip6 }

// LAN returns the router's LAN prefix: 10.N.0.0/24 for NAT kinds, a public
// 198.51.100.x/28 for Public, 100.64.N.0/24 for a CGNAT.
func (r *Router) LAN() netip.Prefix { return r.lan }

// LANIP returns the router's own address on its LAN, its hosts' gateway.
func (r *Router) LANIP() netip.Addr { return r.lanIP }

// LAN6 returns the router's IPv6 LAN, 2001:db8:N::/64 (the first /64 of its
// site 2001:db8:N::/48), or the zero Prefix in a lab without IPv6.
func (r *Router) LAN6() netip.Prefix { return r.lan6 }

// LANIP6 returns the router's own IPv6 address on its LAN, 2001:db8:N::1,
// its hosts' IPv6 gateway; the zero Addr in a lab without IPv6.
func (r *Router) LANIP6() netip.Addr { return r.lanIP6 }

// Host returns the router's own namespace as a Host whose IP is WANIP, for
// running tools such as nft or conntrack there.
func (r *Router) Host() *Host { return r.self }

// Hosts returns the hosts on the router's LAN, in the order added.
func (r *Router) Hosts() []*Host {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.hosts)
}

// Ruleset returns the nftables script applied to the router.
func (r *Router) Ruleset() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rules
}

// Forward forwards TCP and UDP port on the router's WAN address to the same
// port on h, which must be on the router's LAN. Only Forwarded and
// RestrictedCone routers (which admit only the hosts h sent to) take
// forwards; a port can be forwarded once. In a lab built WithIPv6 the
// router's IPv6 firewall also lets new connections to that port of h's
// IPv6 address in (a pinhole).
func (r *Router) Forward(h *Host, port uint16) {
	r.lab.tb.Helper()
	if err := r.forward(h, port); err != nil {
		r.lab.tb.Fatalf("natlab: router %s: forward port %d: %v", r.Name(), port, err)
	}
}

func (r *Router) forward(h *Host, port uint16) error {
	if r.kind != Forwarded && r.kind != RestrictedCone {
		return fmt.Errorf("router kind is %s, not %s or %s", r.kind, Forwarded, RestrictedCone)
	}
	if h == nil || h.router != r {
		return fmt.Errorf("host is not on this router's lan")
	}
	if port == 0 {
		return fmt.Errorf("port 0")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.forwards {
		if f.Port == port {
			return fmt.Errorf("already forwarded to %s", f.To)
		}
	}
	r.forwards = append(r.forwards, forward{Port: port, To: h.ip, To6: h.ip6})
	if err := r.applyLocked(); err != nil {
		r.forwards = r.forwards[:len(r.forwards)-1]
		return err
	}
	return nil
}

// applyLocked renders the ruleset and loads it into the router's namespace.
func (r *Router) applyLocked() error {
	spec := rulesetSpec{Kind: r.kind, WANIP: r.self.ip, LAN: r.lan, Forwards: r.forwards,
		Reset: r.reset, IPv6: r.lan6.IsValid(), CGNAT: r.cgnat}
	if r.upnp != nil {
		spec.UPnP, spec.STUN = r.upnp.protos, r.upnp.stun.Addr()
	}
	rules := ruleset(spec)
	if err := run(rules, "ip", "netns", "exec", r.Name(), "nft", "-f", "-"); err != nil {
		return fmt.Errorf("load ruleset: %w", err)
	}
	r.rules = rules
	return nil
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// spareWANBase numbers the addresses ChangeWANIP hands out: 203.0.113.211
// and up, above every router's first address.
const spareWANBase = routerWANBase + maxRouters + 1

// FlushConntrack empties the router's connection tracking table, as a
// home router that reboots or runs out of entries does: its NAT mappings
// go, and established connections through it see their packets dropped
// or mapped anew.
func (r *Router) FlushConntrack() error {
	return r.self.Do(func() error {
		if err := netlink.ConntrackTableFlush(netlink.ConntrackTable); err != nil {
			return fmt.Errorf("natlab: flush conntrack of %s: %w", r.self.name, err)
		}
		return nil
	})
}

// ChangeWANIP moves a NAT router on the WAN to a new address, as an ISP
// renumbering a line: the old address goes, and the NAT mappings with it.
// Every other router learns the new address's MAC. It returns the new
// address.
func (r *Router) ChangeWANIP() (netip.Addr, error) {
	if r.up != nil || r.kind == Public || r.self.ip6.IsValid() {
		return netip.Addr{}, fmt.Errorf("natlab: ChangeWANIP moves an IPv4 NAT router on the WAN, not %s", r.self.name)
	}
	l := r.lab
	l.mu.Lock()
	l.spares++
	k := l.spares
	l.mu.Unlock()
	if spareWANBase+k > 254 {
		return netip.Addr{}, fmt.Errorf("natlab: no spare WAN address left")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.self.ip
	ip := netip.AddrFrom4([4]byte{203, 0, 113, byte(spareWANBase + k)})
	// The old address goes first: a second one in its subnet would be a
	// secondary, deleted with it.
	if err := ipBatch(r.self.name,
		fmt.Sprintf("addr del %s dev %s", netip.PrefixFrom(old, wanPrefix.Bits()), wanIface),
		fmt.Sprintf("addr add %s dev %s", netip.PrefixFrom(ip, wanPrefix.Bits()), wanIface),
		"route replace default via "+wanAddrs[0].String(),
	); err != nil {
		return netip.Addr{}, err
	}
	r.self.ip = ip
	if err := l.knowNeighbours(r); err != nil {
		return netip.Addr{}, err
	}
	if err := r.applyLocked(); err != nil {
		return netip.Addr{}, err
	}
	if err := r.FlushConntrack(); err != nil {
		return netip.Addr{}, err
	}
	return ip, nil
}
