package node

import (
	"testing"
	"time"

	"github.com/reachd/reachd/pair"
	"github.com/reachd/reachd/state"
)

// TestDefaultPeerName: an offer made without a name saves the peer under
// its host name made a DNS label, unless that is no label or names another
// node in the book.
func TestDefaultPeerName(t *testing.T) {
	st, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := openBook(st, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.put(Peer{Name: "taken", NodeID: selfID}); err != nil {
		t.Fatal(err)
	}
	n := &Node{book: b}
	for _, tc := range []struct{ host, want string }{
		{"Desk.example.org", "desk"},
		{"My_Laptop", "my-laptop"},
		{"--x--", "x"},
		{"", "peer-" + peerID[:8]},
		{"___", "peer-" + peerID[:8]},
		{"taken", "peer-" + peerID[:8]},
	} {
		if got := n.defaultPeerName(pair.Result{PeerID: peerID, Card: pair.Card{Host: tc.host}}); got != tc.want {
			t.Errorf("host %q: name %q, want %q", tc.host, got, tc.want)
		}
	}
	if got := n.defaultPeerName(pair.Result{PeerID: selfID, Card: pair.Card{Host: "taken"}}); got != "taken" {
		t.Errorf("the host name of the node that has it: %q, want taken", got)
	}
}
