package node_test

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(entries)
}

// settle waits until the goroutine and descriptor counts come back to at
// most base plus slack, and reports the last counts.
func settle(t *testing.T, baseG, baseFD, slack int) (int, int) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, fd := runtime.NumGoroutine(), openFDs(t)
		if (g <= baseG+slack && fd <= baseFD+slack) || time.Now().After(deadline) {
			return g, fd
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConnectionsDoNotLeak opens and closes 1,000 connections and checks
// that goroutines and file descriptors come back to where they started.
func TestConnectionsDoNotLeak(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	addr := mustParse(t, b.Address())
	cycle := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := a.Connect(ctx, addr, []string{node.StrategyDirect})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	// Warm up: lazily started goroutines (timers, pools) count as baseline.
	for range 5 {
		cycle()
	}
	baseG, baseFD := settle(t, 0, 0, 0)
	const n = 1000
	for range n {
		cycle()
	}
	// Both sides must have let go: wait until B lists every connection closed.
	deadline := time.Now().Add(10 * time.Second)
	for open := -1; open != 0 && time.Now().Before(deadline); {
		open = 0
		for _, c := range b.Conns() {
			if c.State() != node.StateClosed {
				open++
			}
		}
		if open != 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	g, fd := settle(t, baseG, baseFD, 2)
	t.Logf("after %d connections: goroutines %d (start %d), fds %d (start %d)", n, g, baseG, fd, baseFD)
	if g > baseG+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d, started at %d\n%s", g, baseG, buf[:runtime.Stack(buf, true)])
	}
	if fd > baseFD+2 {
		t.Errorf("file descriptors: %d, started at %d", fd, baseFD)
	}
}
