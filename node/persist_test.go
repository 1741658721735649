package node_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/state"
)

// TestPolicySurvivesRestart: a policy set through the node's calls is
// back after a restart on the same data dir, and wins over the configured
// one (the flags are the first start's).
func TestPolicySurvivesRestart(t *testing.T) {
	rv := rendezvoustest.Start(t)
	dir := t.TempDir()
	other := nodetest.Start(t, rv)
	a := nodetest.Start(t, rv, func(c *node.Config) { c.DataDir = dir })
	if _, err := a.AllowPeer(other.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetAccept(node.AcceptAllowlist); err != nil {
		t.Fatal(err)
	}
	a.Close()

	b := nodetest.Start(t, rv, func(c *node.Config) { c.DataDir = dir; c.Accept = node.AcceptAny })
	got := b.Policy()
	if got.Accept != node.AcceptAllowlist || !slices.Equal(got.Allow, []string{other.ID()}) {
		t.Fatalf("policy after restart: %+v, want allowlist of %s", got, other.ID())
	}
	if _, removed := b.DisallowPeer(other.ID()); !removed {
		t.Fatal("DisallowPeer: not on the list")
	}
	b.Close()
	c := nodetest.Start(t, rv, func(c *node.Config) { c.DataDir = dir })
	if got := c.Policy(); len(got.Allow) != 0 {
		t.Errorf("allow list after a removal and a restart: %v, want empty", got.Allow)
	}
}

// TestCorruptStateFile: a state file that does not parse stops New with
// an error naming the file; the file is left as it was.
func TestCorruptStateFile(t *testing.T) {
	rv := rendezvoustest.Start(t)
	cfg := nodetest.Config(t, rv)
	path := filepath.Join(cfg.DataDir, state.FileName)
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(cfg)
	if err == nil {
		n.Close()
		t.Fatal("New with a corrupt state file: no error")
	}
	if !errors.Is(err, state.ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q: want ErrCorrupt naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "{not json" {
		t.Errorf("state file rewritten: %q", b)
	}
}

// TestLeaveSavedNetwork: a saved network that cannot be joined again (here
// its secret is too short) stays saved until a leave forgets it.
func TestLeaveSavedNetwork(t *testing.T) {
	rv := rendezvoustest.Start(t)
	cfg := nodetest.Config(t, rv)
	st, err := state.Open(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put("networks", []map[string]string{{"name": "ghost", "secret": "short", "ip": "auto"}}); err != nil {
		t.Fatal(err)
	}
	n := nodetest.Start(t, rv, func(c *node.Config) { c.DataDir = cfg.DataDir })
	if err := n.LeaveNetwork(t.Context(), "ghost"); err != nil {
		t.Fatalf("leave a saved network not joined: %v", err)
	}
	if err := n.LeaveNetwork(t.Context(), "ghost"); !errors.Is(err, node.ErrNetworkNotJoined) {
		t.Errorf("leave it again: %v, want ErrNetworkNotJoined", err)
	}
	n.Close()
	st, err = state.Open(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	var nets []map[string]string
	if _, err := st.Get("networks", &nets); err != nil || len(nets) != 0 {
		t.Errorf("saved networks after the leave: %v %v", nets, err)
	}
}
