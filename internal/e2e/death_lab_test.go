package e2e

import (
	"context"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// TestPeerDeath checks that a connection moves to closed on its own when the
// peer goes away: at once when the peer's process dies (its kernel ends the
// TCP connection), and within the keepalive time when the peer's link goes
// silent.
func TestPeerDeath(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	hosts := map[string]*natlab.Host{}
	for _, name := range []string{"a", "killed", "silent"} {
		hosts[name] = lab.AddRouter(natlab.Public).AddHost()
	}
	nodes := startLabNodes(t, wan, ntp.Addr().String(), hosts)
	a := nodes["a"]

	for _, tt := range []struct {
		peer   string
		kill   func(n *labNode) error
		within time.Duration
	}{
		{"killed", func(n *labNode) error { return syscall.Kill(n.proc.Pid(), syscall.SIGKILL) }, 5 * time.Second},
		{"silent", func(n *labNode) error {
			return n.host.Command(context.Background(), "ip", "link", "set", "eth0", "down").Run()
		}, 30 * time.Second},
	} {
		t.Run(tt.peer, func(t *testing.T) {
			t.Parallel()
			peer := nodes[tt.peer]
			status, c := connect(t, a, peer, "direct")
			if status != http.StatusCreated {
				t.Fatalf("connect: %d %s", status, c.Detail)
			}
			peer.inbound(t, a.info.NodeID, "direct")
			if err := tt.kill(peer); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			var got connection
			waitFor(t, "connection closed after the peer went away", nil, tt.within, func() (bool, error) {
				_, err := a.api.do("GET", "/v1/connections/"+c.ID, "", &got)
				return got.State == "closed", err
			})
			t.Logf("%s: closed after %v", tt.peer, time.Since(start).Round(time.Millisecond))
		})
	}
}
