package node_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/internal/handshake"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/session"
	"github.com/reachd/reachd/strategy"
)

// strangerLink is what a stranger with a fresh key can make of a node:
// a direct path, kept, carrying a session link, without any node of its
// own behind it.
func strangerLink(t *testing.T, target string, victim string) (*session.Link, net.Conn) {
	t.Helper()
	id, err := identity.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := id.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	raw, err := net.Dial("tcp", target)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := handshake.Run(ctx, handshake.Keys{ID: id.NodeID(), Cert: cert},
		strategy.Raw{Conn: raw, SendPreamble: true, Client: true}, victim)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(true); err != nil {
		t.Fatal(err)
	}
	l, err := session.New(session.Config{}, id.NodeID() < victim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Attach(ctx, p.TLS); err != nil {
		t.Fatal(err)
	}
	return l, raw
}

// TestLinkFloodFromManyKeys is finding 7 of the second hardening round:
// strangers with fresh keys each make a peer link with no connection on
// it. The node holds at most --max-links of them (a new one replaces the
// one idle the longest), and when the strangers vanish it does not look
// for new paths to them (before, 3,000 keys made 3,000 links, and their
// loss 18,991 address requests and 20,561 resume failures).
func TestLinkFloodFromManyKeys(t *testing.T) {
	const maxLinks, keys = 8, 40
	rv := rendezvoustest.Start(t)
	b := nodetest.Start(t, rv, withConfig(func(c *node.Config) {
		c.Limits.MaxLinks = maxLinks
		c.Grace = 3 * time.Second // past node/internal/peerlink.ResumeDefer, when b would have looked
	}))
	bAddr := mustParse(t, b.Address())
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(bAddr.IPv4[0].ListenPort)))
	var paths []net.Conn
	most := 0
	for range keys {
		_, raw := strangerLink(t, target, b.ID())
		paths = append(paths, raw)
		most = max(most, b.Metrics().Links)
	}
	if most > maxLinks {
		t.Errorf("b held %d peer links at once, want at most %d", most, maxLinks)
	}
	if most < maxLinks {
		t.Errorf("b held at most %d peer links: the flood did not reach the cap of %d (the test proves nothing)", most, maxLinks)
	}
	// The strangers vanish without a word: b loses the paths.
	sentBefore := messagesOut(b)
	for _, raw := range paths {
		raw.Close()
	}
	// Their links fail after the grace, unless b finds new paths.
	deadline := time.Now().Add(20 * time.Second)
	for b.Metrics().Links > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("b still holds %d peer links 20 s after the strangers vanished", b.Metrics().Links)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if attempts := b.Metrics().Attempts; len(attempts) != 0 {
		t.Errorf("b raced for paths to strangers that only ever dialled it: %v", attempts)
	}
	if n := messagesOut(b) - sentBefore; n != 0 {
		t.Errorf("b sent %d signaling messages for strangers that only ever dialled it (address requests)", n)
	}
}

// messagesOut is how many signaling messages n has published.
func messagesOut(n *node.Node) uint64 {
	var out uint64
	for _, b := range n.Metrics().Brokers {
		out += b.Out
	}
	return out
}
