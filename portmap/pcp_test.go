package portmap

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// unhex decodes hex with spaces and newlines for layout.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The request layouts of RFC 6887 sections 7.1 and 11.1, byte by byte.
func TestPCPEncode(t *testing.T) {
	client := netip.MustParseAddr("10.1.0.2")
	nonce := [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	for _, tt := range []struct {
		name string
		got  []byte
		want string
	}{
		{"announce", encodePCPAnnounce(client), `
			02 00 0000  00000000
			00000000 00000000 0000ffff 0a010002`},
		{"map tcp, no suggestion", encodePCPMap(client, 7200, pcpMap{Nonce: nonce, Protocol: pcpProtoTCP, Internal: 40000, External: netip.AddrPortFrom(netip.Addr{}, 40000)}), `
			02 01 0000  00001c20
			00000000 00000000 0000ffff 0a010002
			0102030405060708090a0b0c
			06 000000  9c40 9c40
			00000000 00000000 0000ffff 00000000`},
		{"map udp, suggested address, delete", encodePCPMap(client, 0, pcpMap{Nonce: nonce, Protocol: pcpProtoUDP, Internal: 5000, External: netip.MustParseAddrPort("203.0.113.11:6000")}), `
			02 01 0000  00000000
			00000000 00000000 0000ffff 0a010002
			0102030405060708090a0b0c
			11 000000  1388 1770
			00000000 00000000 0000ffff cb00710b`},
		{"ipv6 client", encodePCPMap(netip.MustParseAddr("2001:db8::2"), 1, pcpMap{Protocol: pcpProtoTCP, Internal: 1}), `
			02 01 0000  00000001
			20010db8 00000000 00000000 00000002
			000000000000000000000000
			06 000000  0001 0000
			00000000 00000000 00000000 00000000`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if want := unhex(t, tt.want); !bytes.Equal(tt.got, want) {
				t.Errorf("got  %x\nwant %x", tt.got, want)
			}
		})
	}
}

// The response layout of RFC 6887 sections 7.2 and 11.1.
func TestPCPDecode(t *testing.T) {
	mapOK := unhex(t, `
		02 81 00 00  00000e10  0000002a  000000000000000000000000
		0102030405060708090a0b0c
		06 000000  9c40 9c41
		00000000 00000000 0000ffff cb00710b`)
	r, err := decodePCP(mapOK)
	if err != nil {
		t.Fatal(err)
	}
	want := pcpResponse{Opcode: pcpOpMap, Result: PCPSuccess, Lifetime: 3600, Epoch: 42, Map: pcpMap{
		Nonce: [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, Protocol: pcpProtoTCP, Internal: 40000,
		External: netip.MustParseAddrPort("203.0.113.11:40001"),
	}}
	if r != want {
		t.Errorf("got %+v\nwant %+v", r, want)
	}

	refused := unhex(t, `02 81 00 02  00000000  00000007  000000000000000000000000`)
	if r, err := decodePCP(refused); err != nil || r.Result != PCPNotAuthorized || r.Epoch != 7 || r.Result.String() != "not authorized" {
		t.Errorf("refusal: %+v %v", r, err)
	}
	announce := unhex(t, `02 80 00 00  00000000  00000009  000000000000000000000000`)
	if r, err := decodePCP(announce); err != nil || r.Opcode != pcpOpAnnounce || r.Epoch != 9 {
		t.Errorf("announce: %+v %v", r, err)
	}

	for _, tt := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, errPCPShort},
		{"nat-pmp answer", unhex(t, "00 80 0001 00000000"), errPCPVersion},
		{"a request", encodePCPAnnounce(netip.MustParseAddr("10.0.0.1")), errPCPRequest},
		{"short header", mapOK[:20], errPCPShort},
		{"not a multiple of 4", append(bytes.Clone(mapOK), 0), errPCPShort},
		{"short map", mapOK[:40], errPCPShort},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodePCP(tt.b); !errors.Is(err, tt.want) {
				t.Errorf("err %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzDecodePCP(f *testing.F) {
	f.Add(encodePCPAnnounce(netip.MustParseAddr("10.0.0.1")))
	f.Add(unhex(f, `02 81 00 00  00000e10  0000002a  000000000000000000000000
		0102030405060708090a0b0c 06 000000 9c40 9c41 00000000 00000000 0000ffff cb00710b`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodePCP(b)
		if err == nil && (len(b) < pcpHeaderLen || r.Opcode&pcpOpReply != 0) {
			t.Errorf("accepted %x as %+v", b, r)
		}
	})
}

func TestEpochLost(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tt := range []struct {
		name      string
		prev, cur uint32
		elapsed   time.Duration
		lost      bool
	}{
		{"in step", 100, 160, time.Minute, false},
		{"server slower by 1/16", 1000, 1000 + 3600 - 225, time.Hour, false},
		{"went back", 1000, 5, time.Minute, true},
		{"restarted, then ran a while", 100, 30, time.Minute, true},
		{"ran too slow", 100, 110, time.Minute, true},
		{"ran too fast", 100, 300, time.Minute, true},
		{"one second back is jitter", 100, 99, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := epochLost(tt.prev, t0, tt.cur, t0.Add(tt.elapsed)); got != tt.lost {
				t.Errorf("epochLost = %v, want %v", got, tt.lost)
			}
		})
	}
}
