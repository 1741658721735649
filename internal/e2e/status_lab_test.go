package e2e

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// cli runs a reachd client command on n's host against its API and
// returns its exit code, stdout and stderr.
func (n *labNode) cli(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := n.host.Command(ctx, reachdBin, args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if err != nil && code <= 0 {
		t.Fatalf("%s: reachd %s: %v", n.name, strings.Join(args, " "), err)
	}
	return code, out.String(), errOut.String()
}

// TestPeerStatusLab: through real NATs, reachd ping answers over a
// punched path and over a relayed one and says which; reachd status
// --json lists the peer with its path's strategy and round trip; and a
// connect to a peer that is down says it is offline.
func TestPeerStatusLab(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	nodes := startLabNodes(t, wan, ntp.Addr().String(), map[string]*natlab.Host{
		"easy-a": lab.AddRouter(natlab.Easy).AddHost(),
		"easy-b": lab.AddRouter(natlab.Easy).AddHost(),
		"hard-c": lab.AddRouter(natlab.Hard).AddHost(),
		"down-d": lab.AddRouter(natlab.Easy).AddHost(),
	})
	a, b, c, d := nodes["easy-a"], nodes["easy-b"], nodes["hard-c"], nodes["down-d"]

	t.Run("ping over a punched path", func(t *testing.T) {
		code, out, errOut := a.cli(t, "ping", "-c", "3", "--strategies", "punch", b.info.Address)
		if code != 0 {
			t.Fatalf("exit code %d; stderr: %s", code, errOut)
		}
		want := regexp.MustCompile(`(?m)^punch: ok \d+ms\n(pong from \S+ via punch in \d+\.\d\dms\n){3}$`)
		if !want.MatchString(out) {
			t.Errorf("ping output:\n%s\nwant %s", out, want)
		}
		t.Logf("reachd ping:\n%s", out)
	})

	t.Run("status lists the peer", func(t *testing.T) {
		code, out, errOut := a.cli(t, "status", "--json")
		if code != 0 {
			t.Fatalf("exit code %d; stderr: %s", code, errOut)
		}
		var st struct {
			Ready      bool     `json:"ready"`
			WaitingFor []string `json:"waiting_for"`
			Peers      []struct {
				NodeID string `json:"node_id"`
				State  string `json:"state"`
				Path   *struct {
					Strategy   string  `json:"strategy"`
					LocalAddr  string  `json:"local_addr"`
					RemoteAddr string  `json:"remote_addr"`
					RTTMS      float64 `json:"rtt_ms"`
				} `json:"path"`
			} `json:"peers"`
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		if !st.Ready || len(st.WaitingFor) != 0 {
			t.Errorf("ready %v, waiting for %v", st.Ready, st.WaitingFor)
		}
		if len(st.Peers) != 1 || st.Peers[0].NodeID != b.info.NodeID || st.Peers[0].Path == nil {
			t.Fatalf("peers %+v, want b's link with a path", st.Peers)
		}
		p := st.Peers[0].Path
		if p.Strategy != "punch" || p.RTTMS <= 0 || p.LocalAddr == "" || p.RemoteAddr == "" {
			t.Errorf("b's path %+v, want punch with its addresses and a round trip", *p)
		}
		_, text, _ := a.cli(t, "status")
		t.Logf("reachd status:\n%s", text)
		if !strings.Contains(text, " punch ") {
			t.Errorf("reachd status has no punch row:\n%s", text)
		}
	})

	t.Run("ping over a relayed path", func(t *testing.T) {
		// A symmetric NAT against a cone NAT: only the relay connects.
		code, out, errOut := a.cli(t, "ping", "-c", "2", "--json", c.info.Address)
		if code != 0 {
			t.Fatalf("exit code %d; stderr: %s", code, errOut)
		}
		var res struct {
			Strategy string `json:"strategy"`
			Pings    []struct {
				RTTMS    float64 `json:"rtt_ms"`
				Strategy string  `json:"strategy"`
			} `json:"pings"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("ping --json: %v\n%s", err, out)
		}
		if res.Strategy != "relay" || len(res.Pings) != 2 {
			t.Fatalf("ping %+v, want 2 round trips over the relay", res)
		}
		for _, p := range res.Pings {
			if p.Strategy != "relay" || p.RTTMS <= 0 {
				t.Errorf("round trip %+v, want one over the relay", p)
			}
		}
	})

	t.Run("peer down", func(t *testing.T) {
		if err := d.proc.Stop(); err != nil {
			t.Fatalf("stop %s: %v", d.name, err)
		}
		code, _, errOut := a.cli(t, "connect", d.info.Address)
		if code != 1 {
			t.Fatalf("exit code %d, want 1; stderr: %s", code, errOut)
		}
		first := strings.SplitN(errOut, "\n", 2)[0]
		if !strings.Contains(first, "the peer did not answer over signaling: it is offline or shares no broker with us") {
			t.Errorf("the error does not start with the offline verdict:\n%s", errOut)
		}
		t.Logf("reachd connect to a peer that is down:\n%s", errOut)
	})
}
