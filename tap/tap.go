// Package tap creates TAP devices (virtual Ethernet interfaces) and pumps
// their Ethernet frames over a peer link that keeps frame boundaries.
//
// New creates a device, gives it its addresses, MTU and MAC and sets it up;
// Close removes it. Pump moves frames between a device and one FrameConn (a
// session stream later, any io.ReadWriter through NewFramer today) until
// either side ends. A Switch does the same for many peers at once, sending
// each frame from the device to the peer that has its destination MAC (a
// named network's full mesh).
//
// The package knows nothing of peers, sessions, signaling or membership: it
// is given links and moves frames. It is implemented on Linux only;
// elsewhere New returns ErrUnsupported.
package tap

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
)

const (
	// DefaultMTU is the MTU of a device whose Config leaves it zero.
	//
	// Frames travel inside a TLS stream over TCP (maybe through a TURN
	// relay), never as one outer packet, so the outer path's MTU does not
	// bound them and there is no reason to shave the inner MTU the way UDP
	// tunnels do (1280..1420). 1500 is what every Ethernet stack, bridge
	// and MSS assumption expects, so a TAP link behaves like a wire. A
	// larger MTU (e.g. 9000) raises goodput and may be set per device; all
	// members of one LAN must agree on it.
	DefaultMTU = 1500

	// DefaultName is the kernel name pattern used when Config.Name is empty;
	// the kernel replaces %d with the first free number.
	DefaultName = "reach%d"

	// MinMTU and MaxMTU bound Config.MTU; MinMTUIPv6 applies when the
	// device carries an IPv6 address (RFC 8200). MaxMTU is Linux's limit
	// for a TAP device: 65535 less the Ethernet header.
	MinMTU     = 68
	MaxMTU     = 65521
	MinMTUIPv6 = 1280

	// EthHeaderLen is an Ethernet header without VLAN tag; VLANTagLen is one
	// 802.1Q tag.
	EthHeaderLen = 14
	VLANTagLen   = 4

	maxNameLen = 15 // IFNAMSIZ - 1
)

// Config describes a TAP device. The zero value is valid: a kernel-named
// device without addresses, MTU 1500 and a random MAC.
type Config struct {
	// Name is the interface name. Empty means DefaultName ("reach%d"), the
	// kernel picking the number. At most 15 bytes; a "%d" is allowed once.
	Name string

	// Addrs are the interface addresses with their prefixes, e.g.
	// 10.99.0.1/24 or fd00:99::1/64. Empty means none (IPv6 link-local
	// only).
	Addrs []netip.Prefix

	// MTU of the device. Zero means DefaultMTU. Must be within
	// MinMTU..MaxMTU, and at least MinMTUIPv6 when Addrs holds IPv6.
	MTU int

	// MAC is the device's Ethernet address. Nil means a random locally
	// administered unicast address; StableMAC gives one that survives
	// restarts.
	MAC net.HardwareAddr

	// Logger receives debug logs. Nil discards them.
	Logger *slog.Logger
}

// withDefaults validates cfg and returns it with its defaults filled in.
// It touches nothing outside the process.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if err := validName(cfg.Name); err != nil {
		return cfg, err
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.MTU < MinMTU || cfg.MTU > MaxMTU {
		return cfg, &ConfigError{Field: "MTU", Value: fmt.Sprint(cfg.MTU),
			Reason: fmt.Sprintf("out of range %d..%d", MinMTU, MaxMTU), Err: ErrInvalidMTU}
	}
	seen := make(map[netip.Addr]bool, len(cfg.Addrs))
	addrs := make([]netip.Prefix, 0, len(cfg.Addrs))
	for _, p := range cfg.Addrs {
		if err := validPrefix(p); err != nil {
			return cfg, err
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits())
		if seen[p.Addr()] {
			return cfg, &ConfigError{Field: "Addrs", Value: p.String(), Reason: "listed twice", Err: ErrInvalidAddr}
		}
		seen[p.Addr()] = true
		if p.Addr().Is6() && cfg.MTU < MinMTUIPv6 {
			return cfg, &ConfigError{Field: "MTU", Value: fmt.Sprint(cfg.MTU),
				Reason: fmt.Sprintf("IPv6 address %s needs an MTU of at least %d", p, MinMTUIPv6), Err: ErrInvalidMTU}
		}
		addrs = append(addrs, p)
	}
	cfg.Addrs = addrs
	if cfg.MAC == nil {
		cfg.MAC = RandomMAC()
	} else {
		if err := validMAC(cfg.MAC); err != nil {
			return cfg, err
		}
		cfg.MAC = append(net.HardwareAddr(nil), cfg.MAC...)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

func validName(name string) error {
	bad := func(reason string) error {
		return &ConfigError{Field: "Name", Value: name, Reason: reason, Err: ErrInvalidName}
	}
	if len(name) > maxNameLen {
		return bad(fmt.Sprintf("longer than %d bytes", maxNameLen))
	}
	if name == "." || name == ".." {
		return bad("reserved")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || c == '/' || c == ':' {
			return bad(fmt.Sprintf("byte %q not allowed", c))
		}
	}
	if n := strings.Count(name, "%"); n > 1 || (n == 1 && !strings.Contains(name, "%d")) {
		return bad(`"%" is only allowed once, as "%d"`)
	}
	return nil
}

func validPrefix(p netip.Prefix) error {
	bad := func(reason string) error {
		return &ConfigError{Field: "Addrs", Value: p.String(), Reason: reason, Err: ErrInvalidAddr}
	}
	if !p.IsValid() {
		return bad("not a valid address/prefix")
	}
	a := p.Addr().Unmap()
	switch {
	case a.Zone() != "":
		return bad("zones are not allowed")
	case a.IsUnspecified():
		return bad("unspecified address")
	case a.IsLoopback():
		return bad("loopback address")
	case a.IsMulticast():
		return bad("multicast address")
	case a.Is4() && p.Bits() > 32:
		return bad("prefix longer than 32 bits")
	}
	if a.Is4() && p.Bits() < 31 {
		m := netip.PrefixFrom(a, p.Bits()).Masked()
		if a == m.Addr() {
			return bad("network address of its prefix")
		}
		if a == lastAddr(m) {
			return bad("broadcast address of its prefix")
		}
	}
	return nil
}

// lastAddr is the highest address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}

func validMAC(mac net.HardwareAddr) error {
	bad := func(reason string) error {
		return &ConfigError{Field: "MAC", Value: mac.String(), Reason: reason, Err: ErrInvalidMAC}
	}
	if len(mac) != 6 {
		return bad("not a 6-byte Ethernet address")
	}
	if mac[0]&1 != 0 {
		return bad("multicast bit set")
	}
	if mac[0]|mac[1]|mac[2]|mac[3]|mac[4]|mac[5] == 0 {
		return bad("all zero")
	}
	return nil
}

// RandomMAC returns a random locally administered unicast MAC address.
func RandomMAC() net.HardwareAddr {
	mac := make(net.HardwareAddr, 6)
	rand.Read(mac) // never fails (crypto/rand)
	return localUnicast(mac)
}

// StableMAC derives a locally administered unicast MAC address from seed
// (for example a node ID and a network name), so a device keeps its MAC
// across restarts and peers' ARP and neighbour caches stay right.
func StableMAC(seed string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("reachd tap mac\x00" + seed))
	return localUnicast(net.HardwareAddr(sum[:6]))
}

func localUnicast(mac net.HardwareAddr) net.HardwareAddr {
	mac[0] = (mac[0] | 0x02) &^ 0x01
	return mac
}
