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

// echoWithin retries echoes from c to peer, each with a 3 s timeout,
// until one succeeds; it fails tb if none did within d.
func echoWithin(tb testing.TB, c *signaling.Client, peer signaling.Peer, d time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), min(3*time.Second, time.Until(deadline)))
		_, _, err := c.Echo(ctx, peer)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no echo to %s within %v: %v", peer.NodeID[:12], d, err)
		}
		select { // it may have failed at once, with no member connected
		case <-c.Changes():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// A node given the members of one broker cluster uses two of them: each
// message reaches it twice, not once per member; when a member it uses
// dies, echoes keep working and it takes the third member.
func TestClusterTwoMembersAndFailover(t *testing.T) {
	checkLeaks(t)
	nc := signalingtest.StartNATSCluster(t, 3)
	// The default ConnectTimeout, which is also how long a member that
	// refuses to connect after Reconnect is waited for: NATS refuses the
	// client ID until it has closed the session Reconnect left, for up to
	// 4 s per subscription.
	defaults := func(cfg *signaling.Config) { cfg.ConnectTimeout = signaling.DefaultConnectTimeout }
	c1 := startClient(t, newIdentity(t), []string{nc.Entry()}, defaults)
	c2 := startClient(t, newIdentity(t), []string{nc.Entry()}, defaults)
	used := waitMembers(t, c1, 2, 10*time.Second)
	waitMembers(t, c2, 2, 10*time.Second)
	if st := c1.Brokers()[0]; st.URL != nc.Entry() || !st.Connected {
		t.Fatalf("status %+v, want the entry %q connected", st, nc.Entry())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	to2 := signaling.Peer{NodeID: c2.ID(), SignalOffsets: []int{0}}
	to1 := signaling.Peer{NodeID: c1.ID(), SignalOffsets: []int{0}}

	if _, _, err := c1.Echo(ctx, to2); err != nil { // the first also makes NATS's MQTT streams
		t.Fatalf("first echo: %v", err)
	}
	// Each request reaches c2 once per member it is subscribed on: two,
	// whatever the size of the cluster (three here). More than two copies
	// fail any round; one round must bring exactly two per echo. Others
	// may bring fewer: c2 resubscribing (NATS closes a client's connection
	// when one of its JetStream requests times out, and what is published
	// while it resubscribes reaches c2 once), or, rarely under load, NATS
	// 2.9 not delivering one copy on a subscription that stayed up.
	const echoes = 10
	waitIn(t, c2, 2) // the first echo's copies, not to be counted below
	var in0 uint64
	for round := 1; ; round++ {
		before := c2.Brokers()[0]
		for range echoes {
			if _, _, err := c1.Echo(ctx, to2); err != nil {
				t.Fatalf("echo: %v", err)
			}
		}
		got := waitIn(t, c2, before.In+2*echoes) - before.In
		after := c2.Brokers()[0]
		if got > 2*echoes {
			t.Fatalf("c2 received %d copies of %d echoes, want %d", got, echoes, 2*echoes)
		}
		if got == 2*echoes {
			in0 = before.In
			break
		}
		if round == 3 {
			t.Fatalf("c2 received %d copies of %d echoes on %v (connects %d, then %d), want %d, in each of %d rounds",
				got, echoes, after.Members, before.Connects, after.Connects, 2*echoes, round)
		}
		t.Logf("round %d: c2 received %d copies of %d echoes on %v (connects %d, then %d): again",
			round, got, echoes, after.Members, before.Connects, after.Connects)
	}

	t.Logf("c2 members %v in %d", c2.Brokers()[0].Members, c2.Brokers()[0].In-in0)
	// A reconnect of our own (the node's address changed) is no member
	// failure: the node comes back on the same members (those it uses now:
	// a member may have been swapped since the start, while NATS made its
	// MQTT streams).
	used = c1.Brokers()[0].Members
	c1.Reconnect()
	if again := waitMembers(t, c1, 2, 15*time.Second); !slices.Equal(slices.Sorted(slices.Values(again)), slices.Sorted(slices.Values(used))) {
		t.Fatalf("after Reconnect c1 uses %v, want the same members %v", again, used)
	}
	used = c1.Brokers()[0].Members

	// Kill a member c1 uses, not the one that leads NATS's stream of QoS 1
	// messages: its death stalls every publish on the cluster until NATS
	// has elected another leader (4 to 8 s here; see README), which would
	// time NATS, not the node.
	victim := used[0]
	if lead := nc.MessagesLeader(); lead >= 0 && nc.URLs()[lead] == victim {
		victim = used[1]
	}
	nc.Kill(slices.Index(nc.URLs(), victim))
	// The other member carries on, though not always at once on NATS: the
	// JetStream consumer behind c1's subscription on it may have had its
	// leader on the dead member, and delivers nothing until it has another.
	for _, p := range []struct {
		from *signaling.Client
		to   signaling.Peer
	}{{c2, to1}, {c1, to2}} {
		echoWithin(t, p.from, p.to, 10*time.Second)
	}
	// Taking the third member waits for NATS: it refuses new MQTT sessions
	// and subscriptions until its JetStream cluster has re-elected the
	// leaders the dead member held (the metadata leader takes about 6 s),
	// and a request made meanwhile fails only after its 4 s timeout.
	now := waitMembers(t, c1, 2, 30*time.Second, victim)
	t.Logf("c1 used %v, then %v after %s died", used, now, victim)
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range []struct {
		from *signaling.Client
		to   signaling.Peer
	}{{c1, to2}, {c2, to1}} {
		if _, _, err := p.from.Echo(ctx, p.to); err != nil {
			t.Fatalf("echo after the failover: %v", err)
		}
	}
}
