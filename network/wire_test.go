package network

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/reachd/reachd/identity"
)

func testNodeID(t testing.TB) string {
	t.Helper()
	id, err := identity.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return id.NodeID()
}

func TestHelloRoundTrip(t *testing.T) {
	from, to := testNodeID(t), testNodeID(t)
	k, _ := Derive("lab", "correct horse battery staple")
	h := hello{From: from, Proof: k.proof(from, to), IP: netip.MustParsePrefix("10.99.0.7/24"),
		MAC: net.HardwareAddr{0x02, 1, 2, 3, 4, 5}}
	b, err := h.marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != helloLen || helloLen != 100 {
		t.Fatalf("hello is %d bytes (helloLen %d), want 100", len(b), helloLen)
	}
	got, err := readHello(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got.From != h.From || got.IP != h.IP || !bytes.Equal(got.MAC, h.MAC) || got.Proof != h.Proof {
		t.Errorf("got %+v, want %+v", got, h)
	}
	if !got.verify(&k, to) {
		t.Error("proof does not verify for the recipient")
	}
	if got.verify(&k, from) {
		t.Error("proof verifies for the sender as recipient")
	}

	bad := func(f func([]byte)) []byte { c := bytes.Clone(b); f(c); return c }
	for name, data := range map[string][]byte{
		"magic":   bad(func(c []byte) { c[0] = 'X' }),
		"version": bad(func(c []byte) { c[4] = 2 }),
		"from":    bad(func(c []byte) { c[5] = '!' }),
		"bits":    bad(func(c []byte) { c[5+52+32+4] = 33 }),
		"short":   b[:helloLen-1],
	} {
		if _, err := parseHello(data); !errors.Is(err, errBadHello) {
			t.Errorf("%s: err = %v, want errBadHello", name, err)
		}
	}
}

func TestAnnounceParse(t *testing.T) {
	for _, tt := range []struct {
		name string
		a    announce
		ok   bool
	}{
		{"good", announce{Address: "x", IP: "10.99.0.2/24", MAC: "02:00:00:00:00:01"}, true},
		{"ipv6", announce{Address: "x", IP: "fd00::1/64", MAC: "02:00:00:00:00:01"}, false},
		{"no prefix", announce{Address: "x", IP: "10.99.0.2", MAC: "02:00:00:00:00:01"}, false},
		{"bad mac", announce{Address: "x", IP: "10.99.0.2/24", MAC: "02:00"}, false},
		{"no address", announce{IP: "10.99.0.2/24", MAC: "02:00:00:00:00:01"}, false},
	} {
		if _, _, err := tt.a.parse(); (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestLinkLocal(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	if got, want := linkLocal(mac), "fe80::5054:ff:fe12:3456"; got != want {
		t.Errorf("linkLocal = %s, want %s", got, want)
	}
}

// FuzzParseHello: any input parses or fails with errBadHello, never
// panics; what parses marshals back to the same bytes.
func FuzzParseHello(f *testing.F) {
	from := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	h := hello{From: from, IP: netip.MustParsePrefix("10.99.0.7/24"), MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}}
	seed, err := h.marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("RNET"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHello(b)
		if err != nil {
			if !errors.Is(err, errBadHello) {
				t.Fatalf("error %v is not errBadHello", err)
			}
			return
		}
		out, err := h.marshal()
		if err != nil {
			t.Fatalf("parsed %+v does not marshal: %v", h, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip: %x != %x", out, b)
		}
	})
}
