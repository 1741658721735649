package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/reachd/reachd/internal/natlab"
)

// deathGrace is the --grace of the honest-ends nodes: how long a
// connection waits for a new path once its path died.
const deathGrace = 5 * time.Second

// deadPathBound is how long a silent path may take to be declared dead:
// 10 s without a frame, noticed at the next 2 s ping tick.
const deadPathBound = 12 * time.Second

// TestHonestEnds checks that a peer that vanishes ends the other side's
// connections with an abort, never with a clean end: GET /recv answers
// 502 connection-aborted (not 410), the WebSocket closes with 4000 (not
// 1000), reachd nc exits 1, and the connection is closed and aborted
// within the bound: the grace period after the path died, which a killed
// process's kernel reports at once and a silent one within deadPathBound.
// It does so for a direct and a relayed connection to a killed peer, and
// for a peer whose network goes silent. A peer killed and started again
// (same key, new process) no longer knows the connections: they abort as
// soon as the resume reaches it, long before their grace of 30 s, saying
// the peer restarted.
func TestHonestEnds(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	hosts := map[string]*natlab.Host{
		"a":       lab.AddRouter(natlab.Public).AddHost(),
		"killed":  lab.AddRouter(natlab.Public).AddHost(),
		"relayed": lab.AddRouter(natlab.Public).AddHost(),
		"silent":  lab.AddRouter(natlab.Public).AddHost(),
		"restart": lab.AddRouter(natlab.Public).AddHost(),
	}
	nodes := startLabNodes(t, wan, ntp.Addr().String(), hosts, "--grace", deathGrace.String())
	a := nodes["a"]

	for _, tt := range []struct {
		peer     string
		strategy string
		kill     func(n *labNode) error
		bound    time.Duration
		grace    time.Duration // of the connections; 0: the node's
		reason   string        // in the connections' close reason
	}{
		{"killed", "direct", func(n *labNode) error { return syscall.Kill(n.proc.Pid(), syscall.SIGKILL) }, deathGrace, 0, ""},
		{"relayed", "relay", func(n *labNode) error { return syscall.Kill(n.proc.Pid(), syscall.SIGKILL) }, deathGrace, 0, ""},
		{"silent", "direct", func(n *labNode) error {
			return n.host.Command(context.Background(), "ip", "link", "set", "eth0", "down").Run()
		}, deadPathBound + deathGrace, 0, ""},
		{"restart", "direct", func(n *labNode) error {
			if err := syscall.Kill(n.proc.Pid(), syscall.SIGKILL); err != nil {
				return err
			}
			<-n.proc.Done()
			n.proc = n.host.Start(t, reachdBin, n.args...)
			return nil
		}, 10 * time.Second, 30 * time.Second, "restarted"},
	} {
		t.Run(tt.peer, func(t *testing.T) {
			t.Parallel()
			peer := nodes[tt.peer]
			// Three connections on the one path: one read by GET /recv,
			// one by a WebSocket, one by reachd nc.
			var ids [3]string
			for i := range ids {
				body := fmt.Sprintf(`{"address": %q, "strategies": [%q], "grace_ms": %d}`, peer.info.Address, tt.strategy, tt.grace.Milliseconds())
				var c connection
				status, err := a.api.do("POST", "/v1/connections", body, &c)
				if err != nil {
					t.Fatal(err)
				}
				if status != http.StatusCreated || c.Strategy != tt.strategy {
					t.Fatalf("connect: %d %s %s", status, c.Strategy, c.Detail)
				}
				ids[i] = c.ID
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			ws := a.stream(ctx, t, ids[1])
			defer ws.CloseNow()
			nc := a.host.Command(ctx, reachdBin, "nc", "--id", ids[2])
			var ncErr strings.Builder
			nc.Stderr = &ncErr
			ncStdin, err := nc.StdinPipe() // open: nc must not end our side
			if err != nil {
				t.Fatal(err)
			}
			defer ncStdin.Close()
			if err := nc.Start(); err != nil {
				t.Fatal(err)
			}
			ncDone := make(chan error, 1)
			go func() { ncDone <- nc.Wait() }()

			if err := tt.kill(peer); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			limit := tt.bound + 3*time.Second // scheduling and the resume attempt under way

			// The WebSocket: a close with 4000 and the reason.
			_, _, err = ws.Read(ctx)
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason == "" {
				t.Errorf("WebSocket ended with %v, want a close with 4000 and the reason", err)
			}
			t.Logf("%s: WebSocket closed %v after the peer went: %d %q", tt.peer, time.Since(start).Round(time.Millisecond), ce.Code, ce.Reason)

			// GET /recv: 502 connection-aborted, not 410.
			var problem struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			}
			status, err := a.api.do("GET", "/v1/connections/"+ids[0]+"/recv?timeout_ms=60000", "", &problem)
			if err != nil || status != http.StatusBadGateway || !strings.HasSuffix(problem.Type, "/connection-aborted") {
				t.Errorf("recv: %d %+v %v, want 502 connection-aborted", status, problem, err)
			}

			// reachd nc: exit status 1, saying the connection was aborted.
			select {
			case err := <-ncDone:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 1 {
					t.Errorf("reachd nc ended with %v, want exit status 1; stderr: %s", err, ncErr.String())
				}
				t.Logf("%s: %s", tt.peer, strings.TrimSpace(ncErr.String()))
			case <-ctx.Done():
				t.Fatal("reachd nc did not end")
			}

			// Every connection to the peer is closed and aborted, within
			// the bound.
			took := time.Since(start)
			for _, id := range ids {
				var c struct {
					State       string `json:"state"`
					Aborted     bool   `json:"aborted"`
					CloseReason string `json:"close_reason"`
				}
				if _, err := a.api.do("GET", "/v1/connections/"+id, "", &c); err != nil {
					t.Fatal(err)
				}
				if c.State != "closed" || !c.Aborted || !strings.Contains(c.CloseReason, tt.reason) {
					t.Errorf("connection %s: %+v, want closed and aborted (%q)", id, c, tt.reason)
				}
			}
			if took > limit {
				t.Errorf("the connections ended %v after the peer went, want within %v", took.Round(time.Millisecond), limit)
			}
			t.Logf("%s (%s): every connection aborted within %v (bound %v)", tt.peer, tt.strategy, took.Round(time.Millisecond), tt.bound)
		})
	}
}
