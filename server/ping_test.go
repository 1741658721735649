package server

import (
	"crypto/ed25519"
	"net/http"
	"strings"
	"testing"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// TestPing: POST /v1/ping races for a path when there is none, then
// measures round trips over it; GET /v1/node lists the peer's link with
// that path and its RTT; a peer that does not answer is a connect-failed
// problem whose verdict says it is offline.
func TestPing(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	api := startServer(t, Config{Node: a})
	url := "http://" + api.Addr() + "/v1/ping"

	pings := func(t *testing.T, m map[string]any, n int) string {
		t.Helper()
		list, _ := m["pings"].([]any)
		if len(list) != n {
			t.Fatalf("%d pings, want %d: %v", len(list), n, m)
		}
		for _, p := range list {
			p, _ := p.(map[string]any)
			if rtt, _ := p["rtt_ms"].(float64); rtt <= 0 {
				t.Errorf("rtt_ms = %v, want > 0", p["rtt_ms"])
			}
			if p["strategy"] != m["strategy"] {
				t.Errorf("a ping's strategy %v, the result's %v", p["strategy"], m["strategy"])
			}
		}
		s, _ := m["strategy"].(string)
		if s == "" {
			t.Fatalf("no strategy: %v", m)
		}
		return s
	}

	var strategy string
	t.Run("no path yet", func(t *testing.T) {
		status, m, _ := call(t, "POST", url, `{"address":"`+b.Address()+`","count":3}`)
		if status != http.StatusOK {
			t.Fatalf("status %d: %v", status, m)
		}
		strategy = pings(t, m, 3)
		if at, _ := m["attempts"].([]any); len(at) == 0 {
			t.Errorf("no attempts: the ping had to race for a path")
		}
	})
	t.Run("the link's path", func(t *testing.T) {
		status, m, _ := call(t, "POST", url, `{"address":"`+b.Address()+`"}`)
		if status != http.StatusOK {
			t.Fatalf("status %d: %v", status, m)
		}
		if got := pings(t, m, 1); got != strategy {
			t.Errorf("strategy %s, want the link's %s", got, strategy)
		}
		if at, _ := m["attempts"].([]any); len(at) != 0 {
			t.Errorf("attempts %v: the link had a path", at)
		}
	})
	t.Run("fresh", func(t *testing.T) {
		status, m, _ := call(t, "POST", url, `{"address":"`+b.Address()+`","fresh":true,"strategies":["relay"]}`)
		if status != http.StatusOK {
			t.Fatalf("status %d: %v", status, m)
		}
		if got := pings(t, m, 1); got != "relay" {
			t.Errorf("strategy %s after a fresh race of the relay alone", got)
		}
	})
	t.Run("node lists the peer", func(t *testing.T) {
		status, m, _ := call(t, "GET", "http://"+api.Addr()+"/v1/node", "")
		if status != http.StatusOK {
			t.Fatalf("status %d: %v", status, m)
		}
		if m["ready"] != true {
			t.Errorf("ready %v, waiting for %v", m["ready"], m["waiting_for"])
		}
		peers, _ := m["peers"].([]any)
		if len(peers) != 1 {
			t.Fatalf("peers %v, want b's link", peers)
		}
		p, _ := peers[0].(map[string]any)
		path, _ := p["path"].(map[string]any)
		if p["node_id"] != b.ID() || p["state"] != "connected" || path["strategy"] != "relay" {
			t.Errorf("peer %v, want b connected over the relay", p)
		}
		if rtt, _ := path["rtt_ms"].(float64); rtt <= 0 {
			t.Errorf("path rtt_ms %v, want > 0 after a ping", path["rtt_ms"])
		}
	})
	t.Run("silent peer", func(t *testing.T) {
		pub, _, _ := ed25519.GenerateKey(nil)
		ghost, err := address.Parse(b.Address())
		if err != nil {
			t.Fatal(err)
		}
		ghost.NodeID = identity.NodeIDFromKey(pub)
		status, m, _ := call(t, "POST", url, `{"address":"`+ghost.String()+`","strategies":["reverse"],"timeout_ms":1000}`)
		if status != http.StatusBadGateway {
			t.Fatalf("status %d: %v", status, m)
		}
		if v, _ := m["verdict"].(string); !strings.Contains(v, "offline") {
			t.Errorf("verdict %q, want the peer offline", v)
		}
	})
	t.Run("count out of range", func(t *testing.T) {
		status, m, _ := call(t, "POST", url, `{"address":"`+b.Address()+`","count":101}`)
		if status != http.StatusBadRequest {
			t.Fatalf("status %d: %v", status, m)
		}
	})
}
