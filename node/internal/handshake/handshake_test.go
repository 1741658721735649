package handshake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/strategy"
)

func keysOf(t *testing.T) Keys {
	t.Helper()
	id, err := identity.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := id.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return Keys{ID: id.NodeID(), Cert: cert}
}

// tcpPair is a connected loopback TCP pair.
func tcpPair(t *testing.T) (dialer, accepted net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialer, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	accepted, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialer.Close(); accepted.Close() })
	return dialer, accepted
}

type outcome struct {
	path Path
	peer string
	err  error
}

// both runs the two ends of a handshake at once.
func both(t *testing.T, a Keys, ra strategy.Raw, expectB string, b Keys, rb strategy.Raw, expectA string) (outcome, outcome) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ch := make(chan outcome, 1)
	go func() {
		p, peer, err := Run(ctx, b, rb, expectA)
		ch <- outcome{p, peer, err}
	}()
	p, peer, err := Run(ctx, a, ra, expectB)
	return outcome{p, peer, err}, <-ch
}

// TestRunRoles: whatever the strategy's roles, both ends get a secured
// path and the other's proven node ID.
func TestRunRoles(t *testing.T) {
	a, b := keysOf(t), keysOf(t)
	ticket := strategy.NewTicket()
	for _, tc := range []struct {
		name   string
		ra, rb strategy.Raw // a dials; b accepted
	}{
		{"no preamble", strategy.Raw{Client: true}, strategy.Raw{}},
		{"dialer sends, acceptor checks", strategy.Raw{Client: true, SendPreamble: true, Ticket: ticket}, strategy.Raw{CheckPreamble: true, Ticket: ticket}},
		{"acceptor is the TLS client", strategy.Raw{SendPreamble: true, Ticket: ticket}, strategy.Raw{Client: true, CheckPreamble: true, Ticket: ticket}},
		{"both dialled, dialer the TLS client", strategy.Raw{Client: true, SendPreamble: true, CheckPreamble: true, Ticket: ticket},
			strategy.Raw{SendPreamble: true, CheckPreamble: true, Ticket: ticket}},
		{"both dialled, acceptor the TLS client", strategy.Raw{SendPreamble: true, CheckPreamble: true, Ticket: ticket},
			strategy.Raw{Client: true, SendPreamble: true, CheckPreamble: true, Ticket: ticket}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, cb := tcpPair(t)
			tc.ra.Conn, tc.rb.Conn = ca, cb
			oa, ob := both(t, a, tc.ra, b.ID, b, tc.rb, a.ID)
			if oa.err != nil || ob.err != nil {
				t.Fatalf("a: %v; b: %v", oa.err, ob.err)
			}
			if oa.peer != b.ID || ob.peer != a.ID {
				t.Fatalf("a sees %s, b sees %s", oa.peer, ob.peer)
			}
			// The path carries the commit, then data, both ways.
			go oa.path.Commit(true)
			if err := ob.path.AwaitCommit(t.Context()); err != nil {
				t.Fatalf("await commit: %v", err)
			}
			go ob.path.TLS.Write([]byte("hi"))
			buf := make([]byte, 2)
			if _, err := oa.path.TLS.Read(buf); err != nil || string(buf) != "hi" {
				t.Fatalf("read %q, %v", buf, err)
			}
		})
	}
}

// TestRunRefusals: a peer with another key, a preamble of another ticket
// or of another node, each fail with the error that names it.
func TestRunRefusals(t *testing.T) {
	a, b, c := keysOf(t), keysOf(t), keysOf(t)
	ticket := strategy.NewTicket()
	t.Run("wrong key", func(t *testing.T) {
		ca, cb := tcpPair(t)
		oa, _ := both(t, a, strategy.Raw{Conn: ca, Client: true}, c.ID, b, strategy.Raw{Conn: cb}, "")
		if !errors.Is(oa.err, ErrWrongPeer) {
			t.Fatalf("got %v, want ErrWrongPeer", oa.err)
		}
	})
	t.Run("another ticket", func(t *testing.T) {
		ca, cb := tcpPair(t)
		oa, ob := both(t,
			a, strategy.Raw{Conn: ca, Client: true, SendPreamble: true, Ticket: strategy.NewTicket()}, b.ID,
			b, strategy.Raw{Conn: cb, CheckPreamble: true, Ticket: ticket}, a.ID)
		var refused *RefusedError
		if !errors.As(oa.err, &refused) || refused.Reason != answerReasons[AnswerUnknownTicket] {
			t.Fatalf("dialer: %v, want refused for its ticket", oa.err)
		}
		if ob.err == nil {
			t.Fatal("acceptor secured a path of another ticket")
		}
	})
	t.Run("both dialled, the server's preamble of another ticket", func(t *testing.T) {
		ca, cb := tcpPair(t)
		oa, ob := both(t,
			a, strategy.Raw{Conn: ca, Client: true, SendPreamble: true, CheckPreamble: true, Ticket: ticket}, b.ID,
			b, strategy.Raw{Conn: cb, SendPreamble: true, CheckPreamble: true, Ticket: strategy.NewTicket()}, a.ID)
		if oa.err == nil || ob.err == nil {
			t.Fatalf("a path of two tickets: client %v, server %v", oa.err, ob.err)
		}
	})
	t.Run("preamble of another node", func(t *testing.T) {
		ca, cb := tcpPair(t)
		_, ob := both(t,
			a, strategy.Raw{Conn: ca, Client: true, SendPreamble: true, Ticket: ticket}, b.ID,
			b, strategy.Raw{Conn: cb, CheckPreamble: true, Ticket: ticket}, c.ID)
		if ob.err == nil {
			t.Fatal("acceptor took a preamble from a node it did not expect")
		}
	})
}

// TestCommitDrop: a dropped path is closed on the initiator's side and
// seen as dropped on the other.
func TestCommitDrop(t *testing.T) {
	a, b := keysOf(t), keysOf(t)
	ca, cb := tcpPair(t)
	oa, ob := both(t, a, strategy.Raw{Conn: ca, Client: true}, b.ID, b, strategy.Raw{Conn: cb}, a.ID)
	if oa.err != nil || ob.err != nil {
		t.Fatalf("a: %v; b: %v", oa.err, ob.err)
	}
	go oa.path.Commit(false)
	if err := ob.path.AwaitCommit(t.Context()); !errors.Is(err, ErrDropped) {
		t.Fatalf("await commit: %v, want ErrDropped", err)
	}
	if _, err := oa.path.Raw.Write([]byte{0}); err == nil {
		t.Fatal("the dropped path is still open on the initiator's side")
	}
}

// TestAwaitCommitEndsWithContext: a peer that never commits cannot hold
// the responder past its context.
func TestAwaitCommitEndsWithContext(t *testing.T) {
	a, b := keysOf(t), keysOf(t)
	ca, cb := tcpPair(t)
	_, ob := both(t, a, strategy.Raw{Conn: ca, Client: true}, b.ID, b, strategy.Raw{Conn: cb}, a.ID)
	if ob.err != nil {
		t.Fatal(ob.err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := ob.path.AwaitCommit(ctx); err == nil {
		t.Fatal("await commit returned nil with no commit sent")
	}
}

// TestBothDialledClientDoesNotWait: when both sides dialled, the TLS
// client sends its preamble, its answer and its ClientHello before the
// peer's preamble arrives (half a round trip sooner), and still checks that
// preamble: a peer that withholds its own until it has read the
// ClientHello's first byte gets it, and its refusal ends the handshake.
func TestBothDialledClientDoesNotWait(t *testing.T) {
	a, b := keysOf(t), keysOf(t)
	ticket := strategy.NewTicket()
	ca, cb := tcpPair(t)
	peer := make(chan error, 1)
	go func() {
		peer <- func() error {
			if _, err := ReadPreamble(cb); err != nil {
				return err
			}
			if err := ReadAnswer(cb); err != nil {
				return err
			}
			var rec [1]byte
			if _, err := io.ReadFull(cb, rec[:]); err != nil {
				return err
			}
			if rec[0] != 0x16 { // a TLS handshake record
				return fmt.Errorf("got %#x after the answer, want a TLS handshake record", rec[0])
			}
			if err := WritePreamble(cb, Preamble{Ticket: ticket, From: b.ID}); err != nil {
				return err
			}
			return WriteAnswer(cb, AnswerNotAllowed)
		}()
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, _, err := Run(ctx, a, strategy.Raw{Conn: ca, Client: true, SendPreamble: true, CheckPreamble: true, Ticket: ticket}, b.ID)
	if perr := <-peer; perr != nil {
		t.Fatalf("peer: %v", perr)
	}
	var refused *RefusedError
	if !errors.As(err, &refused) || refused.Reason != answerReasons[AnswerNotAllowed] {
		t.Fatalf("client: %v, want refused by policy", err)
	}
}
