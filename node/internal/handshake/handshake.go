// Package handshake is the first stage of reachd's connection pipeline:
// it turns a raw TCP connection that a strategy made into a secured path
// between two node IDs, and settles whether the path is kept.
//
// On the wire, in order (ARCHITECTURE.md, "The path handshake"):
//
//  1. the dialer's preamble (magic, version, ticket, its node ID) and the
//     reader's one-byte answer, both sent without waiting for the other;
//  2. TLS 1.3, each side presenting a self-signed certificate over its
//     node key, checked against the node ID expected;
//  3. the commit byte: the first byte the initiator of the connect sends
//     inside TLS says whether it keeps the path (it won the race) or
//     drops it; the responder lists a path only once it is kept.
//
// Which side sends or checks the preamble and which is the TLS client is
// the strategy's call (strategy.Raw). The package keeps no state and
// starts no goroutine; it does not know races, links or policy.
package handshake

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/reachd/reachd/strategy"
)

// Timeout bounds reading a preamble, the TLS handshake and the commit on
// an inbound connection.
const Timeout = 5 * time.Second

// keepAlive lets the kernel drop a TCP path whose peer vanished. The
// session's pings judge every path (relayed ones too) within about 12 s;
// there is no TCP user timeout, which would take a reader that pushes
// back for a dead one.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 2 * time.Second, Count: 3}

// SetKeepAlive turns on the keepalive of a TCP path.
func SetKeepAlive(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetKeepAliveConfig(keepAlive)
	}
}

// Path is a raw connection after the TLS handshake: a secured path.
type Path struct {
	TLS *tls.Conn
	Raw net.Conn
}

// Close closes the path without a word to the peer.
func (p Path) Close() error { return p.Raw.Close() }

// Keys are what a node proves itself with.
type Keys struct {
	// ID is the node's ID, sent in its preambles.
	ID string
	// Cert is its TLS certificate over the node key.
	Cert tls.Certificate
}

// Run makes a strategy's raw transport a secured path: keepalive, the
// preamble steps (ours, and the peer's answer to it; theirs, and our
// answer), then TLS in the strategy's role, proving the peer is expected
// (any peer when expected is empty). The raw connection is closed on
// failure; ctx bounds it all. It returns the peer's node ID.
func Run(ctx context.Context, keys Keys, r strategy.Raw, expected string) (Path, string, error) {
	raw := r.Conn
	SetKeepAlive(raw)
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	fail := func(err error) (Path, string, error) {
		raw.Close()
		return Path{}, "", err
	}
	if r.SendPreamble {
		if err := WritePreamble(raw, Preamble{Ticket: r.Ticket, From: keys.ID}); err != nil {
			return fail(fmt.Errorf("write preamble: %w", err))
		}
	}
	// Both sides dialled (a punch): the TLS client answers at once and
	// starts TLS behind the answer, and checks the peer's preamble when
	// it comes, ahead of the peer's answer and TLS bytes; half a round
	// trip earlier than reading it first. A preamble that names another
	// attempt then ends the handshake without an answer.
	early := r.SendPreamble && r.CheckPreamble && r.Client
	if early {
		if err := WriteAnswer(raw, AnswerOK); err != nil {
			return fail(fmt.Errorf("answer preamble: %w", err))
		}
	}
	if r.CheckPreamble && !early {
		got, err := ReadPreamble(raw)
		if errors.Is(err, ErrVersion) {
			WriteAnswer(raw, AnswerVersion)
		}
		if err != nil {
			return fail(err)
		}
		if got.Ticket != r.Ticket || (expected != "" && got.From != expected) {
			WriteAnswer(raw, AnswerUnknownTicket)
			return fail(fmt.Errorf("the peer's preamble names ticket %s of %s, want %s of %s", got.Ticket, got.From, r.Ticket, expected))
		}
		if err := WriteAnswer(raw, AnswerOK); err != nil {
			return fail(fmt.Errorf("answer preamble: %w", err))
		}
	}
	// The peer's answer to our preamble comes ahead of its TLS bytes; we
	// start TLS without waiting for it.
	var conn net.Conn = raw
	if r.SendPreamble {
		ac := &answeredConn{Conn: raw}
		if early {
			ac.check = func() error { return checkPreamble(raw, r.Ticket, expected) }
		}
		conn = ac
	}
	tc, peer, err := secure(ctx, conn, keys.Cert, r.Client, expected)
	if err != nil {
		return fail(err)
	}
	if !stop() || raw.SetDeadline(time.Time{}) != nil {
		return fail(ctx.Err())
	}
	return Path{tc, raw}, peer, nil
}

// checkPreamble reads the peer's preamble and checks that it names
// ticket, from expected (anyone when empty).
func checkPreamble(r io.Reader, ticket strategy.Ticket, expected string) error {
	got, err := ReadPreamble(r)
	if err != nil {
		return err
	}
	if got.Ticket != ticket || (expected != "" && got.From != expected) {
		return fmt.Errorf("the peer's preamble names ticket %s of %s, want %s of %s", got.Ticket, got.From, ticket, expected)
	}
	return nil
}

// answeredConn reads the peer's answer to our preamble before the first
// byte of TLS, so a refusal ends the handshake with a *RefusedError; with
// check, the peer's preamble ahead of it, which check reads and checks.
type answeredConn struct {
	net.Conn
	check    func() error
	answered bool
}

func (c *answeredConn) Read(p []byte) (int, error) {
	if !c.answered {
		if c.check != nil {
			if err := c.check(); err != nil {
				return 0, err
			}
		}
		if err := ReadAnswer(c.Conn); err != nil {
			return 0, err
		}
		c.answered = true
	}
	return c.Conn.Read(p)
}
