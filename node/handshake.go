package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/reachd/reachd/strategy"
)

// handshakeTimeout bounds reading a preamble, the TLS handshake and the
// commit on an inbound connection.
const handshakeTimeout = 5 * time.Second

// keepAlive lets the kernel drop a TCP path whose peer vanished. The
// session's pings judge every path (relayed ones too) within about 12 s;
// there is no TCP user timeout, which would take a reader that pushes
// back for a dead one.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 2 * time.Second, Count: 3}

func setKeepAlive(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetKeepAliveConfig(keepAlive)
	}
}

// secured is a raw connection after the TLS handshake.
type secured struct {
	tls *tls.Conn
	raw net.Conn
}

func (s secured) close() { s.raw.Close() }

// handshake makes a strategy's raw transport a secured path: keepalive,
// the preamble steps (ours, and the peer's answer to it; theirs, and our
// answer), then TLS in the strategy's role, proving the peer is expected
// (any peer when expected is empty).
// The raw connection is closed on failure; ctx bounds it all. It returns
// the peer's node ID.
func (n *Node) handshake(ctx context.Context, r strategy.Raw, expected string) (secured, string, error) {
	raw := r.Conn
	setKeepAlive(raw)
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	fail := func(err error) (secured, string, error) {
		raw.Close()
		return secured{}, "", err
	}
	if r.SendPreamble {
		if err := writePreamble(raw, preamble{session: r.Session, from: n.ID()}); err != nil {
			return fail(fmt.Errorf("write preamble: %w", err))
		}
	}
	if r.CheckPreamble {
		got, err := readPreamble(raw)
		if errors.Is(err, errVersion) {
			writeAnswer(raw, answerVersion)
		}
		if err != nil {
			return fail(err)
		}
		if got.session != r.Session || (expected != "" && got.from != expected) {
			writeAnswer(raw, answerUnknownSession)
			return fail(fmt.Errorf("the peer's preamble names session %s of %s, want %s of %s", got.session, got.from, r.Session, expected))
		}
		if err := writeAnswer(raw, answerOK); err != nil {
			return fail(fmt.Errorf("answer preamble: %w", err))
		}
	}
	// The peer's answer to our preamble comes ahead of its TLS bytes; we
	// start TLS without waiting for it.
	var conn net.Conn = raw
	if r.SendPreamble {
		conn = &answeredConn{Conn: raw}
	}
	tc, peer, err := n.secure(ctx, conn, r.Client, expected)
	if err != nil {
		return fail(err)
	}
	if !stop() || raw.SetDeadline(time.Time{}) != nil {
		return fail(ctx.Err())
	}
	return secured{tc, raw}, peer, nil
}

// The commit: the first byte the initiator of a connection sends on a
// secured path says whether it keeps the path (it won the race) or drops
// it. The responder lists a path only once it is committed, so a lost
// race never shows on either side.
const (
	commitKeep byte = 'K'
	commitDrop byte = 'D'
)

var errDropped = errors.New("the peer kept another path")

// commit sends our decision on a path we initiated; a dropped path is
// closed.
func commit(sc secured, keep bool) error {
	b := commitDrop
	if keep {
		b = commitKeep
	}
	sc.raw.SetWriteDeadline(time.Now().Add(handshakeTimeout))
	_, err := sc.tls.Write([]byte{b})
	sc.raw.SetWriteDeadline(time.Time{})
	if !keep || err != nil {
		sc.close()
	}
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// awaitCommit reads the initiator's decision on a path we answered.
func awaitCommit(ctx context.Context, sc secured) error {
	stop := context.AfterFunc(ctx, func() { sc.raw.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var b [1]byte
	if _, err := sc.tls.Read(b[:]); err != nil {
		return fmt.Errorf("await commit: %w", err)
	}
	switch b[0] {
	case commitKeep:
		if !stop() || sc.raw.SetReadDeadline(time.Time{}) != nil {
			return ctx.Err()
		}
		return nil
	case commitDrop:
		return errDropped
	}
	return fmt.Errorf("await commit: %w: got byte %#x", errBadPreamble, b[0])
}

// answeredConn reads the peer's answer to our preamble before the first
// byte of TLS, so a refusal ends the handshake with a *RefusedError.
type answeredConn struct {
	net.Conn
	answered bool
}

func (c *answeredConn) Read(p []byte) (int, error) {
	if !c.answered {
		if err := readAnswer(c.Conn); err != nil {
			return 0, err
		}
		c.answered = true
	}
	return c.Conn.Read(p)
}
