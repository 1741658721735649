package natlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Link is the impairment of a router's WAN link: what happens to every
// Ethernet frame between the router and the WAN bridge, in each direction
// separately. Pass it to Lab.AddRouter as an option, and change it later with
// Router.SetLink. The zero Link forwards every frame at once, unchanged.
//
// A router with a Link has its frames copied by a forwarder in the test
// process, between two veth pairs that meet in a link namespace of their
// own (see the package comment). A TCP sender's segments cross it as the
// kernel hands them over: a super-frame of up to 64 KiB (segmentation
// offload), all delayed alike, which keeps the forwarder fast. With Loss or
// Reorder the kernel segments before the link, so that every packet is
// lost or overtaken on its own, at a cost in throughput.
type Link struct {
	// Delay is added to every frame in each direction: a router with Delay
	// D adds 2D to the round trip of its hosts' connections.
	Delay time.Duration
	// Jitter varies each frame's delay uniformly within ±Jitter. It may
	// not exceed Delay. A frame never leaves before the frame ahead of it
	// (unless Reorder), so back-to-back frames see a delay nearer Delay +
	// Jitter than the spread suggests.
	Jitter time.Duration
	// Loss is the probability, from 0 to 1, that a frame is dropped, drawn
	// for each frame on its own.
	Loss float64
	// Reorder lets a frame overtake the one ahead of it when its jitter
	// makes it due first. TCP suffers from reordering; off by default.
	Reorder bool
}

func (l Link) applyRouter(c *routerConfig) { c.link = &l }

var _ RouterOption = Link{}

// segmented says whether l acts on single packets rather than super-frames.
func (l Link) segmented() bool { return l.Loss > 0 || l.Reorder }

// validate reports what is wrong with l.
func (l Link) validate() error {
	switch {
	case l.Delay < 0:
		return fmt.Errorf("link delay %v is negative", l.Delay)
	case l.Jitter < 0:
		return fmt.Errorf("link jitter %v is negative", l.Jitter)
	case l.Jitter > l.Delay:
		return fmt.Errorf("link jitter %v exceeds the delay %v", l.Jitter, l.Delay)
	case !(l.Loss >= 0 && l.Loss <= 1): // NaN fails both
		return fmt.Errorf("link loss %v is not a probability from 0 to 1", l.Loss)
	}
	return nil
}

// String describes l for test logs, e.g. "delay 50ms ±10ms, loss 1%".
func (l Link) String() string {
	s := "delay " + l.Delay.String()
	if l.Jitter > 0 {
		s += " ±" + l.Jitter.String()
	}
	if l.Reorder {
		s += " reordering"
	}
	if l.Loss > 0 {
		s += fmt.Sprintf(", loss %.4g%%", 100*l.Loss)
	}
	return s
}

var errNoLink = errors.New("router was built without a Link option, so its link has no forwarder")

// SetLink changes the impairment of the router's WAN link, for frames that
// arrive from now on; frames already delayed keep their send time. The
// router must have been built with a Link option (the zero Link will do).
func (r *Router) SetLink(l Link) {
	r.lab.tb.Helper()
	if err := r.setLink(l); err != nil {
		r.lab.tb.Fatalf("natlab: router %s: set link: %v", r.Name(), err)
	}
}

func (r *Router) setLink(l Link) error {
	if r.fwd == nil {
		return errNoLink
	}
	if err := l.validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.link
	if l.segmented() && !old.segmented() {
		if err := r.segment(true); err != nil {
			return err
		}
	}
	r.fwd.setLink(l)
	r.link = l
	if !l.segmented() && old.segmented() {
		return r.segment(false)
	}
	return nil
}

// segment sets whether the two interfaces sending into the router's link
// namespace (its "wan" and its port on the WAN bridge) segment TCP
// super-frames into packets first.
func (r *Router) segment(on bool) error {
	segs := "65535" // the kernel's default, GSO_MAX_SEGS
	if on {
		segs = "1"
	}
	if err := ipBatch(r.Name(), "link set "+wanIface+" gso_max_segs "+segs); err != nil {
		return err
	}
	return ipBatch(r.upstream(), fmt.Sprintf("link set %s gso_max_segs %s", r.port(), segs))
}

// LinkStats counts the frames a router's link forwarder read, both
// directions together.
type LinkStats struct {
	Frames   uint64 // frames read from either end
	Bytes    uint64 // their bytes, from the Ethernet header on
	Lost     uint64 // frames dropped by Link.Loss
	Overflow uint64 // frames dropped because 64 MiB were queued already
}

// LinkStats returns the counters of the router's link forwarder, or zero
// counters for a router built without a Link option.
func (r *Router) LinkStats() LinkStats {
	if r.fwd == nil {
		return LinkStats{}
	}
	return r.fwd.stats()
}

// Interface names inside a link namespace.
const (
	linkRouterIface = "rtr" // veth to the router's "wan"
	linkWANIface    = "wan" // veth to the router's port on the WAN bridge
)

// linkSysctls keep a link namespace's own stack quiet: it has no address, and
// sends nothing of its own (no IPv6 neighbour or router discovery).
var linkSysctls = []sysctl{
	{"ipv4/ip_forward", "0"},
	{"ipv6/conf/all/disable_ipv6", "1"},
	{"ipv6/conf/default/disable_ipv6", "1"},
}

// addLink builds router n's WAN link through a link namespace: the router's
// "wan" is paired with "rtr" there, and "wan" there with port, the router's
// port in namespace up (the WAN, or its CGNAT; not yet on the bridge). A
// forwarder copies frames between "rtr" and "wan".
func (l *Lab) addLink(n int, router, port, up string, link Link) (*forwarder, error) {
	name := fmt.Sprintf("%sl%d", l.prefix, n)
	if err := addNamespace(name); err != nil {
		return nil, err
	}
	l.track(name)
	if err := setSysctls(name, linkSysctls); err != nil {
		return nil, err
	}
	if err := ipBatch("",
		fmt.Sprintf("link add name %s netns %s type veth peer name %s netns %s",
			wanIface, router, linkRouterIface, name),
		fmt.Sprintf("link add name %s netns %s type veth peer name %s netns %s",
			linkWANIface, name, port, up),
	); err != nil {
		return nil, err
	}
	if err := ipBatch(name,
		"link set "+linkRouterIface+" promisc on up",
		"link set "+linkWANIface+" promisc on up",
	); err != nil {
		return nil, err
	}
	f, err := startForwarder(name, linkRouterIface, linkWANIface, link)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.forwarders = append(l.forwarders, f)
	l.mu.Unlock()
	return f, nil
}

// awaitLink waits until the router's linked WAN passes traffic both ways:
// the first frames across a new forwarder can be lost (the first router of
// a lab lost its first SYN, a second's retransmission, without this). A
// SYN to a closed port of the WAN namespace is answered with a reset,
// which proves the round trip.
func (r *Router) awaitLink() error {
	targets := []netip.Addr{wanAddrs[0]}
	if r.self.ip6.IsValid() {
		// Also resolves the IPv6 neighbours on both ends of the link.
		targets = append(targets, wanAddrs6[0])
	}
	return r.self.Do(func() error {
		for _, a := range targets {
			if err := r.awaitDial(netip.AddrPortFrom(a, 9).String()); err != nil {
				return err
			}
		}
		return nil
	})
}

func (r *Router) awaitDial(target string) error {
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
	return fmt.Errorf("the linked WAN passes no traffic to %s: %w", target, err)
}
