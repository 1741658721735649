// Package natprobe finds out, for each usable network interface, what lies
// between it and the Internet, over UDP and over TCP: the external IP, the
// NAT's mapping and filtering behaviour (RFC 4787 terms, tested as RFC 5780
// describes), the resulting NAT type and how the NAT picks external ports
// (the port delta), which is what hole punching needs to predict mappings.
// It asks STUN servers only, and every answer is kept in the Report so a
// verdict can be checked.
//
// The rules that turn observations into verdicts are pure functions
// (ClassifyMapping, ClassifyUDP, ClassifyTCP, ClassifyDelta). natprobe does
// not keep mappings alive, listen for peers or choose which interfaces a
// node advertises.
package natprobe

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/reachd/reachd/address"
)

// Config configures a Prober. Zero values mean the documented defaults.
type Config struct {
	// STUNServers are "host:port" STUN servers, each serving UDP and
	// (optionally) TCP on that port. Test I goes to every server; the first
	// that answers is the reference for the port-delta tests, and a server
	// that returns OTHER-ADDRESS (RFC 5780) enables the full mapping tests
	// and, over UDP, the filtering tests. Without OTHER-ADDRESS the mappings
	// seen by two servers are compared, and two servers on one IP (the two
	// ports of an RFC 5780 server with one IP, which sends no OTHER-ADDRESS)
	// serve the filtering test that changes only the port. When two or more servers answer,
	// two must agree on the external IP. Empty: every result is unknown,
	// with the reason.
	STUNServers []string
	// Interfaces lists the local addresses to probe from. Nil means
	// SystemInterfaces.
	Interfaces func() ([]LocalAddr, error)
	// LookupNetIP resolves server host names. Nil means
	// net.DefaultResolver.LookupNetIP.
	LookupNetIP func(ctx context.Context, network, host string) ([]netip.Addr, error)

	// TransactionTimeout bounds one STUN transaction over UDP,
	// retransmissions included. Zero means 500ms.
	TransactionTimeout time.Duration
	// RetransmitInterval is the first UDP retransmission timeout; it doubles
	// after each retransmission. Zero means 100ms.
	RetransmitInterval time.Duration
	// TCPTimeout bounds one STUN exchange over TCP, connect included. Zero
	// means 1s.
	TCPTimeout time.Duration
	// ResolveTimeout bounds resolving the server names. Zero means 2s.
	ResolveTimeout time.Duration
	// MappingTimeout bounds test I (external IP) and the mapping tests.
	// Zero means 3s.
	MappingTimeout time.Duration
	// FilteringTimeout bounds the UDP filtering tests, which run alongside
	// the mapping tests. Zero means 2s.
	FilteringTimeout time.Duration
	// DeltaTimeout bounds the port-delta tests. Zero means 3s.
	DeltaTimeout time.Duration
	// DialBackTimeout bounds the dial-back checks of one interface
	// (ProbeReach), which run alongside the other tests; a server dials
	// for at most 2s of it. Zero means 5s.
	DialBackTimeout time.Duration
	// ProbeTimeout bounds a whole Probe. Zero means 10s.
	ProbeTimeout time.Duration
	// DeltaSamples is the number of bindings in each port-delta set (one
	// from consecutive local ports, one from random local ports). Zero
	// means 4; otherwise at least 2.
	DeltaSamples int

	// Now stamps the report. Nil means time.Now.
	Now func() time.Time
	// Logger receives debug logs of every phase. Nil discards them.
	Logger *slog.Logger
}

// Prober probes interfaces and NATs. It holds no sockets between probes.
// Probe may be called again, even concurrently, though concurrent probes
// through one NAT disturb each other's port-delta samples.
type Prober struct {
	cfg Config
	log *slog.Logger
}

// New validates cfg and fills in its defaults.
func New(cfg Config) (*Prober, error) {
	for _, s := range cfg.STUNServers {
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			return nil, fmt.Errorf("natprobe: stun server %q: %w", s, err)
		}
		if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 || host == "" {
			return nil, fmt.Errorf("natprobe: stun server %q: want host:port with a port in 1-65535", s)
		}
	}
	durations := []struct {
		d    *time.Duration
		name string
		def  time.Duration
	}{
		{&cfg.TransactionTimeout, "TransactionTimeout", 500 * time.Millisecond},
		{&cfg.RetransmitInterval, "RetransmitInterval", 100 * time.Millisecond},
		{&cfg.TCPTimeout, "TCPTimeout", time.Second},
		{&cfg.ResolveTimeout, "ResolveTimeout", 2 * time.Second},
		{&cfg.MappingTimeout, "MappingTimeout", 3 * time.Second},
		{&cfg.FilteringTimeout, "FilteringTimeout", 2 * time.Second},
		{&cfg.DeltaTimeout, "DeltaTimeout", 3 * time.Second},
		{&cfg.DialBackTimeout, "DialBackTimeout", 5 * time.Second},
		{&cfg.ProbeTimeout, "ProbeTimeout", 10 * time.Second},
	}
	for _, d := range durations {
		switch {
		case *d.d < 0:
			return nil, fmt.Errorf("natprobe: %s is negative (%v)", d.name, *d.d)
		case *d.d == 0:
			*d.d = d.def
		}
	}
	switch {
	case cfg.DeltaSamples == 0:
		cfg.DeltaSamples = 4
	case cfg.DeltaSamples < 2:
		return nil, fmt.Errorf("natprobe: DeltaSamples is %d, want at least 2", cfg.DeltaSamples)
	}
	if cfg.Interfaces == nil {
		cfg.Interfaces = SystemInterfaces
	}
	if cfg.LookupNetIP == nil {
		cfg.LookupNetIP = net.DefaultResolver.LookupNetIP
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Prober{cfg: cfg, log: log.With("component", "natprobe")}, nil
}

// Probe probes every local address over UDP and TCP concurrently and
// returns within Config.ProbeTimeout (or when ctx ends). It always returns
// a Report: what could not be found is unknown, with a reason.
func (p *Prober) Probe(ctx context.Context) Report { return p.probe(ctx, nil) }

// probe is Probe, with the dial-back checks of db when it is not nil.
func (p *Prober) probe(ctx context.Context, db *DialBack) Report {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ProbeTimeout)
	defer cancel()
	rep := Report{Started: p.cfg.Now(), Interfaces: []Interface{}}
	locals, err := p.cfg.Interfaces()
	if err != nil {
		rep.Error = fmt.Sprintf("natprobe: list interfaces: %v", err)
		rep.Finished = p.cfg.Now()
		return rep
	}
	servers := p.resolve(ctx)

	rep.Interfaces = make([]Interface, len(locals))
	var wg sync.WaitGroup
	for i, la := range locals {
		ifc := &rep.Interfaces[i]
		*ifc = Interface{Name: la.Name, Index: la.Index, IP: la.IP}
		targets, failed, reason := targetsFor(servers, la.IP)
		if len(targets) == 0 {
			for _, r := range []*Result{&ifc.UDP, &ifc.TCP} {
				r.Reason, r.Servers = reason, failed
			}
			ifc.Reach = Reach{State: ReachUnknown, Reason: reason}
			continue
		}
		wg.Go(func() { ifc.UDP = p.probeUDP(ctx, la, targets, failed) })
		wg.Go(func() { ifc.TCP = p.probeTCP(ctx, la, targets, failed) })
		if db != nil {
			wg.Go(func() { ifc.Reach = p.checkReach(ctx, la, targets, db) })
		} else {
			ifc.Reach = Reach{State: ReachUnknown, Reason: "not checked"}
		}
	}
	wg.Wait()
	for i := range rep.Interfaces {
		ifc := &rep.Interfaces[i]
		markBlocked(ifc)
		ifc.TCP = ApplyReach(ifc.TCP, ifc.Reach)
		ifc.UDP = ApplyReachUDP(ifc.UDP, ifc.Reach)
	}
	rep.Finished = p.cfg.Now()
	return rep
}

// markBlocked turns "no UDP answer" into NATBlocked when TCP reached the
// same servers: then UDP is filtered, not the servers down. (The converse
// does not hold: many STUN servers serve UDP only.)
func markBlocked(ifc *Interface) {
	if answered(ifc.UDP) || !answered(ifc.TCP) || len(ifc.UDP.Servers) == 0 {
		return
	}
	ifc.UDP.NAT = address.NATBlocked
	ifc.UDP.Delta = address.DeltaNA
	ifc.UDP.Reason = "no udp answer from any stun server while tcp reaches them"
}

func answered(r Result) bool {
	for _, s := range r.Servers {
		if s.Mapped.IsValid() {
			return true
		}
	}
	return false
}

// server is a configured STUN server and its resolved addresses.
type server struct {
	name  string
	addrs []netip.AddrPort
	err   error
}

// target is one server address a local address can reach.
type target struct {
	name string
	addr netip.AddrPort
}

// resolve looks up every configured server concurrently.
func (p *Prober) resolve(ctx context.Context) []server {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ResolveTimeout)
	defer cancel()
	servers := make([]server, len(p.cfg.STUNServers))
	var wg sync.WaitGroup
	for i, s := range p.cfg.STUNServers {
		servers[i].name = s
		host, portStr, _ := net.SplitHostPort(s) // checked by New
		port, _ := strconv.ParseUint(portStr, 10, 16)
		if ip, err := netip.ParseAddr(host); err == nil {
			servers[i].addrs = []netip.AddrPort{netip.AddrPortFrom(ip.Unmap(), uint16(port))}
			continue
		}
		wg.Go(func() {
			ips, err := p.cfg.LookupNetIP(ctx, "ip", host)
			if err != nil {
				servers[i].err = fmt.Errorf("resolve %s: %w", host, err)
				return
			}
			for _, ip := range ips {
				servers[i].addrs = append(servers[i].addrs, netip.AddrPortFrom(ip.Unmap(), uint16(port)))
			}
		})
	}
	wg.Wait()
	return servers
}

// targetsFor picks, for each server, its first address that local can use:
// same IP family, and link-local only with link-local. failed reports the
// servers that could not be resolved; reason says why targets is empty.
func targetsFor(servers []server, local netip.Addr) (targets []target, failed []ServerResult, reason string) {
	if len(servers) == 0 {
		return nil, nil, "no stun servers configured"
	}
	seen := make(map[netip.AddrPort]bool)
	for _, s := range servers {
		if s.err != nil {
			failed = append(failed, ServerResult{Server: s.name, Error: s.err.Error()})
			continue
		}
		for _, a := range s.addrs {
			if a.Addr().Is4() != local.Is4() || a.Addr().IsLinkLocalUnicast() != local.IsLinkLocalUnicast() {
				continue
			}
			if a.Addr().IsLinkLocalUnicast() && a.Addr().Zone() == "" {
				a = netip.AddrPortFrom(a.Addr().WithZone(local.Zone()), a.Port())
			}
			if !seen[a] {
				seen[a] = true
				targets = append(targets, target{name: s.name, addr: a})
			}
			break
		}
	}
	if len(targets) > 0 {
		return targets, failed, ""
	}
	family := "ipv4"
	if !local.Is4() {
		family = "ipv6"
	}
	switch {
	case len(failed) == len(servers):
		var errs []string
		for _, f := range failed {
			errs = append(errs, f.Error)
		}
		reason = "no stun server could be resolved: " + strings.Join(errs, "; ")
	case local.IsLinkLocalUnicast():
		reason = "link-local address and no link-local stun server"
	default:
		reason = "no " + family + " stun server configured"
	}
	return nil, failed, reason
}
