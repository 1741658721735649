package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// TestSecondDaemonOnDataDir: while a node runs on a data dir, a second
// reachd run on it exits 1 naming the holder's PID, instead of answering
// for the same key.
func TestSecondDaemonOnDataDir(t *testing.T) {
	rv := rendezvoustest.Start(t)
	cfg := nodetest.Config(t, rv)
	nodetest.Start(t, rv, func(c *node.Config) { c.DataDir = cfg.DataDir })
	cmd := reachdCmd("run", "--data-dir", cfg.DataDir, "--api", "127.0.0.1:0", "--ntp", "off",
		"--mqtt", cfg.MQTT[0], "--stun", strings.Join(cfg.STUN, ","))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("second daemon: %v, want exit code 1; output:\n%s", err, out)
	}
	if want := fmt.Sprintf("pid %d", os.Getpid()); !strings.Contains(string(out), want) || !strings.Contains(string(out), "in use") {
		t.Errorf("second daemon says %q, want it to name the holder (%s)", out, want)
	}
}

// TestKeyFileOthersCanRead: a key file with group or world access is
// refused with the chmod that fixes it.
func TestKeyFileOthersCanRead(t *testing.T) {
	rv := rendezvoustest.Start(t)
	cfg := nodetest.Config(t, rv)
	n := nodetest.Start(t, rv, func(c *node.Config) { c.DataDir = cfg.DataDir })
	n.Close()
	keys, _ := filepath.Glob(filepath.Join(cfg.DataDir, "*.key"))
	if len(keys) != 1 {
		t.Fatalf("key files in the data dir: %v", keys)
	}
	if err := os.Chmod(keys[0], 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := reachdCmd("run", "--data-dir", cfg.DataDir, "--api", "127.0.0.1:0", "--ntp", "off",
		"--mqtt", cfg.MQTT[0]).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("daemon with an open key file: %v, want exit code 1; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "chmod 600 "+keys[0]) {
		t.Errorf("output %q does not say how to fix the mode", out)
	}
}
