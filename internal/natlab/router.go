package natlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Router is a namespace joining a LAN to the WAN bridge, with the nftables
// ruleset of its Kind. Create it with Lab.AddRouter.
type Router struct {
	lab   *Lab
	kind  Kind
	n     int // router number, from 1
	self  *Host
	lan   netip.Prefix
	lanIP netip.Addr
	reset bool       // RejectWithReset
	fwd   *forwarder // the WAN link's forwarder; nil without a Link option

	mu       sync.Mutex
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
	reset bool
	link  *Link
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

// AddRouter adds a router of the given kind, attached to the WAN bridge with
// the next free WAN address, with an empty LAN. Options: a Link impairs the
// router's WAN link; RejectWithReset makes it refuse unsolicited TCP.
func (l *Lab) AddRouter(kind Kind, opts ...RouterOption) *Router {
	l.tb.Helper()
	var cfg routerConfig
	for _, o := range opts {
		o.applyRouter(&cfg)
	}
	r, err := l.addRouter(kind, cfg)
	if err != nil {
		l.tb.Fatalf("natlab: add %s router: %v", kind, err)
	}
	return r
}

func (l *Lab) addRouter(kind Kind, cfg routerConfig) (*Router, error) {
	if kind < Public || kind > Hard {
		return nil, fmt.Errorf("unknown kind %d", int(kind))
	}
	if cfg.link != nil {
		if err := cfg.link.validate(); err != nil {
			return nil, err
		}
	}
	l.mu.Lock()
	n := len(l.routers) + 1
	wanIP, err := routerWANIP(n)
	var lan netip.Prefix
	if err == nil && kind == Public {
		lan, err = publicLAN(l.public + 1)
	} else if err == nil {
		lan, err = natLAN(n)
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
		lab:   l,
		kind:  kind,
		n:     n,
		self:  &Host{lab: l, name: name, ip: wanIP},
		lan:   lan,
		lanIP: must(lanAddr(lan, 1)),
		reset: cfg.reset,
	}
	l.routers = append(l.routers, r)
	l.mu.Unlock()

	if err := addNamespace(name); err != nil {
		return nil, err
	}
	l.track(name)
	if err := setSysctls(name, routerSysctls); err != nil {
		return nil, err
	}
	port := r.port()
	if cfg.link == nil {
		if err := ipBatch("", fmt.Sprintf("link add name %s netns %s type veth peer name %s netns %s",
			wanIface, name, port, l.wan.name)); err != nil {
			return nil, err
		}
	} else {
		if r.fwd, err = l.addLink(n, name, port, *cfg.link); err != nil {
			return nil, fmt.Errorf("link: %w", err)
		}
		r.link = *cfg.link
	}
	if err := ipBatch(l.wan.name, "link set "+port+" master br0", "link set "+port+" up"); err != nil {
		return nil, err
	}
	if err := ipBatch(name,
		fmt.Sprintf("addr add %s dev %s", netip.PrefixFrom(wanIP, wanPrefix.Bits()), wanIface),
		"link set "+wanIface+" up",
		"link add "+lanIface+" type bridge",
		fmt.Sprintf("link set %s address 02:00:0a:%02x:00:01", lanIface, n), // fixed, see setupWAN
		fmt.Sprintf("addr add %s dev %s", netip.PrefixFrom(r.lanIP, lan.Bits()), lanIface),
		"link set "+lanIface+" up",
		"route add default via "+wanAddrs[0].String(),
	); err != nil {
		return nil, err
	}
	if r.link.segmented() {
		if err := r.segment(true); err != nil {
			return nil, err
		}
	}
	if kind == Public {
		if err := ipBatch(l.wan.name, fmt.Sprintf("route add %s via %s", lan, wanIP)); err != nil {
			return nil, err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.applyLocked(); err != nil {
		return nil, err
	}
	if r.fwd != nil {
		if err := r.awaitLink(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// awaitLink waits until the router's linked WAN passes traffic both ways:
// the first frames across a new forwarder can be lost (the first router of
// a lab lost its first SYN, a second's retransmission, without this). A
// SYN to a closed port of the WAN namespace is answered with a reset,
// which proves the round trip.
func (r *Router) awaitLink() error {
	target := netip.AddrPortFrom(wanAddrs[0], 9).String()
	return r.self.Do(func() error {
		var err error
		for range 20 {
			var c net.Conn
			c, err = net.DialTimeout("tcp", target, 250*time.Millisecond+4*r.link.Delay)
			if c != nil {
				c.Close()
			}
			if err == nil || errors.Is(err, syscall.ECONNREFUSED) {
				return nil
			}
		}
		return fmt.Errorf("the linked WAN passes no traffic: %w", err)
	})
}

// port returns the name of the router's port on the WAN bridge.
func (r *Router) port() string { return fmt.Sprintf("r%d", r.n) }

// Kind returns the router's kind.
func (r *Router) Kind() Kind { return r.kind }

// Name returns the router's network namespace name.
func (r *Router) Name() string { return r.self.name }

// WANIP returns the router's address on the WAN bridge, 203.0.113.(10+N):
// the source address the WAN sees for NAT kinds.
func (r *Router) WANIP() netip.Addr { return r.self.ip }

// LAN returns the router's LAN prefix: 10.N.0.0/24 for NAT kinds, a public
// 198.51.100.x/28 for Public.
func (r *Router) LAN() netip.Prefix { return r.lan }

// LANIP returns the router's own address on its LAN, its hosts' gateway.
func (r *Router) LANIP() netip.Addr { return r.lanIP }

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

// AddHost adds a host on the router's LAN with the next free LAN address and
// a default route via the router.
func (r *Router) AddHost() *Host {
	r.lab.tb.Helper()
	h, err := r.addHost()
	if err != nil {
		r.lab.tb.Fatalf("natlab: add host to router %s: %v", r.Name(), err)
	}
	return h
}

func (r *Router) addHost() (*Host, error) {
	l := r.lab
	r.mu.Lock()
	ip, err := lanAddr(r.lan, len(r.hosts)+2)
	if err != nil {
		r.mu.Unlock()
		return nil, err
	}
	l.mu.Lock()
	l.hosts++
	hn := l.hosts
	l.mu.Unlock()
	name := fmt.Sprintf("%sh%d", l.prefix, hn)
	h := &Host{lab: l, name: name, ip: ip, router: r}
	r.hosts = append(r.hosts, h)
	r.mu.Unlock()

	if err := addNamespace(name); err != nil {
		return nil, err
	}
	l.track(name)
	if err := setSysctls(name, hostSysctls); err != nil {
		return nil, err
	}
	port := fmt.Sprintf("h%d", hn) // the host's port on the LAN bridge
	if err := ipBatch("", fmt.Sprintf("link add name eth0 netns %s type veth peer name %s netns %s",
		name, port, r.Name())); err != nil {
		return nil, err
	}
	if err := ipBatch(r.Name(), "link set "+port+" master "+lanIface, "link set "+port+" up"); err != nil {
		return nil, err
	}
	if err := ipBatch(name,
		fmt.Sprintf("addr add %s dev eth0", netip.PrefixFrom(ip, r.lan.Bits())),
		"link set eth0 up",
		"route add default via "+r.lanIP.String(),
	); err != nil {
		return nil, err
	}
	return h, nil
}

// Forward forwards TCP and UDP port on the router's WAN address to the same
// port on h, which must be on the router's LAN. Only Forwarded routers take
// forwards; a port can be forwarded once.
func (r *Router) Forward(h *Host, port uint16) {
	r.lab.tb.Helper()
	if err := r.forward(h, port); err != nil {
		r.lab.tb.Fatalf("natlab: router %s: forward port %d: %v", r.Name(), port, err)
	}
}

func (r *Router) forward(h *Host, port uint16) error {
	if r.kind != Forwarded {
		return fmt.Errorf("router kind is %s, not %s", r.kind, Forwarded)
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
	r.forwards = append(r.forwards, forward{Port: port, To: h.ip})
	if err := r.applyLocked(); err != nil {
		r.forwards = r.forwards[:len(r.forwards)-1]
		return err
	}
	return nil
}

// applyLocked renders the ruleset and loads it into the router's namespace.
func (r *Router) applyLocked() error {
	rules := ruleset(rulesetSpec{Kind: r.kind, WANIP: r.self.ip, LAN: r.lan, Forwards: r.forwards, Reset: r.reset})
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
