package tap

import (
	"testing"
	"time"
)

// TestMACTable: learning, moving, ageing, the size bound and forgetting a
// port, on an injected clock.
func TestMACTable(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p1, p2 := &port{id: "1"}, &port{id: "2"}
	m1, m2, m3 := [6]byte{2, 0, 0, 0, 0, 1}, [6]byte{2, 0, 0, 0, 0, 2}, [6]byte{2, 0, 0, 0, 0, 3}
	tab := macTable{m: map[[6]byte]*macEntry{}, max: 2, ttl: time.Minute}

	if tab.lookup(m1, t0) != nil {
		t.Fatal("unknown MAC found")
	}
	tab.learn(m1, p1, t0)
	if tab.lookup(m1, t0.Add(59*time.Second)) != p1 {
		t.Fatal("learned MAC not found on its port")
	}
	if tab.lookup(m1, t0.Add(61*time.Second)) != nil {
		t.Fatal("stale MAC still found")
	}
	tab.learn(m1, p1, t0.Add(time.Minute)) // refreshed
	if tab.lookup(m1, t0.Add(110*time.Second)) != p1 {
		t.Fatal("refresh did not extend the entry")
	}
	tab.learn(m1, p2, t0.Add(time.Minute)) // moved
	if tab.lookup(m1, t0.Add(time.Minute)) != p2 {
		t.Fatal("moved MAC not on its new port")
	}
	tab.learn(m2, p1, t0.Add(time.Minute))
	tab.learn(m3, p1, t0.Add(time.Minute)) // full of live entries: not learned
	if tab.lookup(m3, t0.Add(time.Minute)) != nil {
		t.Fatal("learned past the bound")
	}
	tab.learn(m3, p1, t0.Add(3*time.Minute)) // the others are stale: swept
	if tab.lookup(m3, t0.Add(3*time.Minute)) != p1 || len(tab.m) != 1 {
		t.Fatalf("stale entries not swept: %d entries", len(tab.m))
	}
	if got := tab.byPort(t0.Add(3 * time.Minute)); len(got[p1]) != 1 || got[p1][0].String() != "02:00:00:00:00:03" {
		t.Fatalf("byPort = %v", got)
	}
	tab.forget(p1)
	if tab.lookup(m3, t0.Add(3*time.Minute)) != nil {
		t.Fatal("forgotten port's MAC still found")
	}
	if n := testing.AllocsPerRun(100, func() {
		tab.learn(m1, p2, t0)
		tab.lookup(m1, t0)
	}); n != 0 {
		t.Errorf("refresh and lookup of a known MAC: %.0f allocs, want 0", n)
	}
}
