package network

import (
	"bytes"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/signaling"
)

// Membership messages travel on the network's group topic (see Keys),
// sealed with its seal key and signed by the sender's node key; the
// envelope's from is the member's node ID, and an announce speaks only for
// it (guard.go).
var (
	// msgAnnounce: a member is in the network, at this address, with this
	// TAP IP and MAC. Sent on join, periodically, when something in it
	// changes, and in answer to an announce from a member not yet known.
	msgAnnounce = signaling.NewType[announce]("net_announce")
	// msgLeave: the member left; the others drop it at once.
	msgLeave = signaling.NewType[struct{}]("net_leave")
)

// announce is the body of a net_announce.
type announce struct {
	Address string `json:"address"` // the member's peer address
	IP      string `json:"ip"`      // its TAP address with prefix, e.g. 10.99.0.7/24
	MAC     string `json:"mac"`
	// Auto: the IP was picked automatically, so it moves on a clash.
	Auto bool `json:"auto"`
	// LinkLocal: its device's IPv6 link-local address, once it is up.
	LinkLocal string `json:"link_local,omitempty"`
	// Ready: its device is up, so it takes links (an automatic address
	// announces itself before, while it settles).
	Ready bool `json:"ready"`
	// Reply: an answer to a newcomer's announce (not answered again).
	Reply bool `json:"reply,omitempty"`
	// Held: how long the member has held IP, in milliseconds (see
	// mustMove; believed only by members newer than the claim).
	Held int64 `json:"held_ms,omitempty"`
	// Host: the member's host name, a DNS label (Config.HostName); the
	// other members reach it as host.network.
	Host string `json:"host,omitempty"`
}

// parse checks an announce's fields.
func (a *announce) parse() (netip.Prefix, net.HardwareAddr, error) {
	p, err := netip.ParsePrefix(a.IP)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, nil, fmt.Errorf("ip %q is not an IPv4 address with prefix", a.IP)
	}
	mac, err := net.ParseMAC(a.MAC)
	if err != nil || len(mac) != 6 {
		return netip.Prefix{}, nil, fmt.Errorf("mac %q is not an Ethernet address", a.MAC)
	}
	if a.Address == "" {
		return netip.Prefix{}, nil, errors.New("no address")
	}
	return p, mac, nil
}

// The hello is the first thing each side of a member link sends, before
// any frame: the dialer first, the acceptor in answer. Binary:
//
//	"RNET" version(1)=1
//	from: node ID (52 bytes)
//	proof: HMAC-SHA256(link key, from NUL to) (32 bytes)
//	ip: IPv4 address (4 bytes), prefix bits (1 byte)
//	mac (6 bytes)
//
// 100 bytes in all. The link is TLS between the two node keys already, so
// from must be the link's authenticated peer; the proof shows the sender
// knows the network's secret, and which network the link is for.
const (
	helloMagic   = "RNET"
	helloVersion = 1
	helloLen     = len(helloMagic) + 1 + identity.NodeIDLen + 32 + 5 + 6
)

// hello is what one side of a link says of itself.
type hello struct {
	From  string
	Proof [32]byte
	IP    netip.Prefix
	MAC   net.HardwareAddr
}

var errBadHello = errors.New("network: bad link hello")

func (h *hello) marshal() ([]byte, error) {
	if len(h.From) != identity.NodeIDLen || !h.IP.Addr().Is4() || len(h.MAC) != 6 {
		return nil, fmt.Errorf("network: hello: invalid from, ip %v or mac %v", h.IP, h.MAC)
	}
	b := make([]byte, 0, helloLen)
	b = append(b, helloMagic...)
	b = append(b, helloVersion)
	b = append(b, h.From...)
	b = append(b, h.Proof[:]...)
	a4 := h.IP.Addr().As4()
	b = append(b, a4[:]...)
	b = append(b, byte(h.IP.Bits()))
	b = append(b, h.MAC...)
	return b, nil
}

func parseHello(b []byte) (hello, error) {
	var h hello
	if len(b) != helloLen {
		return h, fmt.Errorf("%w: %d bytes, want %d", errBadHello, len(b), helloLen)
	}
	if string(b[:4]) != helloMagic {
		return h, fmt.Errorf("%w: magic %q", errBadHello, b[:4])
	}
	if b[4] != helloVersion {
		return h, fmt.Errorf("%w: version %d, want %d", errBadHello, b[4], helloVersion)
	}
	b = b[5:]
	h.From = string(b[:identity.NodeIDLen])
	if err := identity.ValidNodeID(h.From); err != nil {
		return h, fmt.Errorf("%w: from: %w", errBadHello, err)
	}
	b = b[identity.NodeIDLen:]
	copy(h.Proof[:], b[:32])
	b = b[32:]
	bits := int(b[4])
	if bits > 32 {
		return h, fmt.Errorf("%w: prefix length %d", errBadHello, bits)
	}
	h.IP = netip.PrefixFrom(netip.AddrFrom4([4]byte(b[:4])), bits)
	h.MAC = bytes.Clone(b[5:11])
	return h, nil
}

func readHello(r io.Reader) (hello, error) {
	b := make([]byte, helloLen)
	if _, err := io.ReadFull(r, b); err != nil {
		return hello{}, fmt.Errorf("network: read hello: %w", err)
	}
	return parseHello(b)
}

// verify reports whether h proves knowledge of keys on a link from h.From
// to us.
func (h *hello) verify(k *Keys, us string) bool {
	want := k.proof(h.From, us)
	return hmac.Equal(want[:], h.Proof[:])
}
