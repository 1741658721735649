package main

import (
	"errors"
	"os"
	"os/exec"
	"testing"

	"github.com/reachd/reachd/node"
)

// asMain makes the test binary run reachd's main, so tests can run the
// real command: its stdin, its signals, its exit codes.
const asMain = "GO_TEST_REACHD_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMain) == "1" {
		main()
		return
	}
	// Nodes of these tests run on loopback: they ask no gateway of this
	// machine for a port mapping.
	os.Setenv("REACHD_PORTMAP", "false")
	os.Exit(m.Run())
}

// reachdCmd is the real command with args.
func reachdCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asMain+"=1")
	return cmd
}

// TestMainInterrupt: SIGINT ends a real nc, whose stdin (a blocking pipe)
// cannot be interrupted, with exit code 1, and closes its connection.
func TestMainInterrupt(t *testing.T) {
	p := startPair(t, "")
	cmd := reachdCmd("nc", "--api", p.apiA, p.b.Address())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, stderr := newSyncBuffer(), newSyncBuffer()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	id := ncConnID(t, &proc{stderr: stderr})
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want exit code 1; stderr: %s", err, stderr)
	}
	if c, ok := p.a.Conn(id); !ok || c.State() != node.StateClosed {
		t.Errorf("connection %s not closed after the interrupt", id)
	}
}

// TestMainExitCodes runs the real command: 0, 1 and 2 as documented.
func TestMainExitCodes(t *testing.T) {
	p := startPair(t, "")
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"ok", []string{"status", "--api", p.apiA}, 0},
		{"failure", []string{"connect", "--api", p.apiA, "--strategies", "direct", forged(t, p.b.Address(), 1, true)}, 1},
		{"bad input", []string{"connect", "--api", p.apiA, "not_an_address"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := reachdCmd(tt.args...)
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit code %d, want %d; output:\n%s", code, tt.code, out)
			}
		})
	}
}
