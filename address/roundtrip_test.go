package address_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/reachd/reachd/address"
)

// randomAddress builds a valid address, biased towards boundary values.
func randomAddress(r *rand.Rand) address.Address {
	pick := func(lo, hi int) int {
		switch r.IntN(4) {
		case 0:
			return lo
		case 1:
			return hi
		default:
			return lo + r.IntN(hi-lo+1)
		}
	}
	ip4 := func() netip.Addr {
		var b [4]byte
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return netip.AddrFrom4(b)
	}
	ip6 := func() netip.Addr {
		var b [16]byte
		switch r.IntN(3) {
		case 0: // link-local, mostly zeros
			b[0], b[1], b[15] = 0xfe, 0x80, byte(r.IntN(256))
		case 1: // sparse, exercises :: compression
			b[0], b[1], b[r.IntN(16)] = 0x20, 0x01, byte(r.IntN(256))
		default:
			for i := range b {
				b[i] = byte(r.IntN(256))
			}
		}
		a := netip.AddrFrom16(b)
		if a.Is4In6() {
			a = netip.IPv6Loopback()
		}
		return a
	}
	ifaces := func(ip func() netip.Addr) []address.Interface {
		n := r.IntN(address.MaxInterfaces + 1)
		var out []address.Interface
		for range n {
			out = append(out, address.Interface{
				NetIfIndex: pick(0, 1<<31-1),
				Offset:     pick(0, 255),
				ExternalIP: ip(),
				InternalIP: ip(),
				ListenPort: uint16(pick(1, 65535)),
				NAT:        address.NATType(pick(1, 7)),
				Delta:      address.DeltaType(pick(1, 6)),
				DeltaValue: pick(0, 65535),
			})
		}
		return out
	}
	offs := r.Perm(256)[:1+r.IntN(8)]
	var key [32]byte
	for i := range key {
		key[i] = byte(r.IntN(256))
	}
	const b32 = "abcdefghijklmnopqrstuvwxyz234567"
	const hex = "0123456789abcdef"
	// Encode the key by hand (5 bits at a time) so the test does not share
	// the package's encoder.
	node := make([]byte, 0, 52)
	for bit := 0; bit < 256; bit += 5 {
		v := 0
		for j := 0; j < 5; j++ {
			v <<= 1
			if b := bit + j; b < 256 && key[b/8]&(0x80>>(b%8)) != 0 {
				v |= 1
			}
		}
		node = append(node, b32[v])
	}
	machine := make([]byte, 16)
	for i := range machine {
		machine[i] = hex[r.IntN(16)]
	}
	return address.Address{
		SignalOffsets: offs,
		IPv4:          ifaces(ip4),
		IPv6:          ifaces(ip6),
		NodeID:        string(node),
		MachineID:     string(machine),
	}
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		a := randomAddress(r)
		if err := a.Validate(); err != nil {
			t.Fatalf("case %d: Validate(%+v) = %v", i, a, err)
		}
		s := a.String()
		b, err := address.Parse(s)
		if err != nil {
			t.Fatalf("case %d: Parse(%q) = %v", i, s, err)
		}
		if !equal(a, b) {
			t.Fatalf("case %d: round trip of %q\n got %+v\nwant %+v", i, s, b, a)
		}
		if s2 := b.String(); s2 != s {
			t.Fatalf("case %d: re-encoded %q, want %q", i, s2, s)
		}
	}
}
