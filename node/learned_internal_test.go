package node

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/strategy"
)

const (
	selfID = "g7ryiscno6ny5vketvmw5u433tjokgnh4oasuxqvw3rg5fa52xeq"
	peerID = "wfwjmpjpcxsaufe2f3xrx6fp2vzx36mvmcvxj6o2jkbdlfzpn5ya"
)

func addressReply(t *testing.T, text string) *signaling.Message {
	t.Helper()
	b, err := json.Marshal(addressBody{Address: text})
	if err != nil {
		t.Fatal(err)
	}
	return &signaling.Message{Type: msgAddressReply.Name(), From: peerID, Body: b}
}

// TestStrangerAnswersAddressWithLoopback is finding 2 of the second
// hardening round: a peer asked for its current address (to resume a
// link) answered with a target on the node's own loopback, and the node
// dialled it. Only what the rules for peer requests allow is kept now,
// and an answer with nothing dialable, or another node's address, is
// refused, so the resume falls back to the address last learnt.
func TestStrangerAnswersAddressWithLoopback(t *testing.T) {
	self, err := address.Parse("0-[1,0,198.51.100.7,10.0.0.7,30000,5,2,0]-0-" + selfID + "-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	onLink := func(ip netip.Addr) bool { return netip.MustParsePrefix("10.0.0.0/24").Contains(ip) }
	for _, tc := range []struct {
		name   string
		answer string
		want   string // the external IPs kept, or the error's text
	}{
		{"loopback", "0-[1,0,127.0.0.1,127.0.0.1,22,1,2,0]-0-" + peerID + "-0123456789abcdef", "target not allowed"},
		{"unspecified", "0-[1,0,0.0.0.0,0.0.0.0,22,1,2,0]-0-" + peerID + "-0123456789abcdef", "target not allowed"},
		{"link-local", "0-[1,0,169.254.1.1,169.254.1.1,22,1,2,0]-0-" + peerID + "-0123456789abcdef", "target not allowed"},
		{"another node's", "0-[1,0,203.0.113.9,10.1.0.9,4000,5,2,0]-0-" + selfID + "-0123456789abcdef", "address of " + selfID},
		{"a host behind its NAT", "0-[1,0,203.0.113.9,192.168.7.7,4000,5,2,0]-0-" + peerID + "-0123456789abcdef", "external 203.0.113.9 internal 203.0.113.9"},
		{"on our LAN", "0-[1,0,203.0.113.9,10.0.0.9,4000,5,2,0]-0-" + peerID + "-0123456789abcdef", "external 203.0.113.9 internal 10.0.0.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := learnedAddress(self, peerID, addressReply(t, tc.answer), onLink)
			if err != nil {
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				if tc.want == "target not allowed" && !errors.Is(err, strategy.ErrForbiddenTarget) {
					t.Fatalf("error %v does not wrap ErrForbiddenTarget", err)
				}
				return
			}
			var got []string
			for _, it := range a.IPv4 {
				got = append(got, "external "+it.ExternalIP.String()+" internal "+it.InternalIP.String())
			}
			if strings.Join(got, "; ") != tc.want {
				t.Fatalf("kept %v, want %s", got, tc.want)
			}
		})
	}
}
