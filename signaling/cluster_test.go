package signaling_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/signaling/signalingtest"
)

// waitMembers waits until c's broker entry 0 has n members connected and
// returns them.
func waitMembers(tb testing.TB, c *signaling.Client, n int, timeout time.Duration, not ...string) []string {
	tb.Helper()
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		ch := c.Changes()
		st := c.Brokers()[0]
		if len(st.Members) == n && !slices.ContainsFunc(st.Members, func(m string) bool { return slices.Contains(not, m) }) {
			return st.Members
		}
		select {
		case <-ch:
		case <-t.C:
			tb.Fatalf("members %v (last error %q), want %d other than %v within %v", st.Members, st.LastError, n, not, timeout)
		}
	}
}

// waitIn waits until c has received at least n messages on entry 0.
func waitIn(tb testing.TB, c *signaling.Client, n uint64) uint64 {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		in := c.Brokers()[0].In
		if in >= n || time.Now().After(deadline) {
			return in
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A node given the members of one broker cluster uses two of them: each
// message reaches it twice, not once per member; when a member it uses
// dies, echoes keep working and it takes the third member.
func TestClusterTwoMembersAndFailover(t *testing.T) {
	checkLeaks(t)
	nc := signalingtest.StartNATSCluster(t, 3)
	c1 := startClient(t, newIdentity(t), []string{nc.Entry()})
	c2 := startClient(t, newIdentity(t), []string{nc.Entry()})
	used := waitMembers(t, c1, 2, 10*time.Second)
	waitMembers(t, c2, 2, 10*time.Second)
	if st := c1.Brokers()[0]; st.URL != nc.Entry() || !st.Connected {
		t.Fatalf("status %+v, want the entry %q connected", st, nc.Entry())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	to2 := signaling.Peer{NodeID: c2.ID(), SignalOffsets: []int{0}}
	to1 := signaling.Peer{NodeID: c1.ID(), SignalOffsets: []int{0}}

	if _, _, err := c1.Echo(ctx, to2); err != nil { // the first also makes NATS's MQTT streams
		t.Fatalf("first echo: %v", err)
	}
	const echoes = 10
	in0 := waitIn(t, c2, 2)
	for range echoes {
		if _, _, err := c1.Echo(ctx, to2); err != nil {
			t.Fatalf("echo: %v", err)
		}
	}
	// Each request reaches c2 once per member it is subscribed on: two,
	// whatever the size of the cluster (three here).
	if got := waitIn(t, c2, in0+2*echoes) - in0; got != 2*echoes {
		t.Fatalf("c2 received %d copies of %d echoes, want %d", got, echoes, 2*echoes)
	}

	t.Logf("c2 members %v in %d", c2.Brokers()[0].Members, c2.Brokers()[0].In-in0)
	// A reconnect of our own (the node's address changed) is no member
	// failure: the node comes back on the same members (those it uses now:
	// a member may have been swapped since the start, while NATS made its
	// MQTT streams).
	used = c1.Brokers()[0].Members
	c1.Reconnect()
	if again := waitMembers(t, c1, 2, 10*time.Second); !slices.Equal(slices.Sorted(slices.Values(again)), slices.Sorted(slices.Values(used))) {
		t.Fatalf("after Reconnect c1 uses %v, want the same members %v", again, used)
	}
	used = c1.Brokers()[0].Members

	killed := slices.Index(nc.URLs(), used[0])
	nc.Kill(killed)
	// The other member carries on at once; no wait for the failover.
	if _, _, err := c2.Echo(ctx, to1); err != nil {
		t.Fatalf("echo to c1 right after its member %s died: %v", used[0], err)
	}
	now := waitMembers(t, c1, 2, 10*time.Second, used[0])
	t.Logf("c1 used %v, then %v after %s died", used, now, used[0])
	for _, p := range []struct {
		from *signaling.Client
		to   signaling.Peer
	}{{c1, to2}, {c2, to1}} {
		if _, _, err := p.from.Echo(ctx, p.to); err != nil {
			t.Fatalf("echo after the failover: %v", err)
		}
	}
}
