//go:build linux

package natlab_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// TestTeardown checks what a lab's cleanup leaves behind: no namespace with
// its prefix, no process started by Host.Start, nor one the test started with
// Host.Command and left running, and no goroutine of a link's forwarder.
func TestTeardown(t *testing.T) {
	var (
		prefix string
		proc   *natlab.Process
		orphan *exec.Cmd
	)
	t.Run("lab", func(t *testing.T) {
		lab := natlab.New(t)
		prefix = lab.Prefix()
		h := lab.AddRouter(natlab.Hard, natlab.Link{Delay: time.Millisecond, Loss: 0.01}).AddHost()
		if !strings.Contains(forwarderGoroutines(), "natlab.(*direction)") {
			t.Errorf("no forwarder goroutine runs for a router with a Link")
		}
		// Stopped by the test: SIGTERM first, so it can exit cleanly.
		stopped := h.Start(t, os.Args[0], helper("wait")...)
		waitFor(t, "started process ready", func() bool { return strings.Contains(stopped.Output(), "ready") })
		if err := stopped.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if out := stopped.Output(); !strings.Contains(out, "terminated") {
			t.Errorf("stopped process wrote %q, want it to see SIGTERM", out)
		}

		// Stopped by the cleanup.
		proc = h.Start(t, os.Args[0], helper("wait")...)
		waitFor(t, "started process ready", func() bool { return strings.Contains(proc.Output(), "ready") })

		// A process the test started itself and left running.
		orphan = h.Command(context.Background(), os.Args[0], helper("wait")...)
		out, err := orphan.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := orphan.Start(); err != nil {
			t.Fatal(err)
		}
		if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
			t.Fatalf("orphan said %q, %v", line, err)
		}
	})
	if t.Failed() {
		return
	}

	list, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(list), "\n") {
		if strings.HasPrefix(line, prefix) {
			t.Errorf("namespace left after teardown: %s", line)
		}
	}

	select {
	case <-proc.Done():
	default:
		t.Errorf("started process %d still running", proc.Pid())
	}

	if g := forwarderGoroutines(); g != "" {
		t.Errorf("forwarder goroutines left after teardown:\n%s", g)
	}

	waited := make(chan error, 1)
	go func() { waited <- orphan.Wait() }()
	select {
	case err := <-waited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("orphan exited with %v, want killed by SIGKILL", err)
		}
	case <-time.After(10 * time.Second):
		_ = orphan.Process.Kill()
		<-waited
		t.Error("orphan process survived the lab's teardown")
	}
}

// forwarderGoroutines returns the stacks of the goroutines running a link
// forwarder.
func forwarderGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "natlab.(*direction)") {
			found = append(found, g)
		}
	}
	return strings.Join(found, "\n\n")
}
