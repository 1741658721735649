package node

import (
	"errors"
	"fmt"
	"io"

	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/strategy"
)

// The preamble is what a dialer sends on a raw connection before TLS:
// magic, version, the signaling session the connection belongs to (so the
// accepting side can match a reverse, punched or relayed connection to the
// request that caused it; a direct connection carries the zero session)
// and the dialer's node ID (which TLS then proves). The side that reads a
// preamble answers with one byte before TLS: accepted, or why not. Both
// go out ahead of the TLS handshake without waiting for each other, so
// the answer costs no round trip, and a refused dialer learns why instead
// of seeing its handshake cut.
//
// Version 2: the node ID, the answer, and the commit byte after TLS (see
// commit).
const (
	preambleMagic   = "RCHD"
	preambleVersion = 3
	sessionLen      = len(strategy.Session{})
	preambleLen     = len(preambleMagic) + 1 + sessionLen + identity.NodeIDLen
)

var errBadPreamble = errors.New("not a reachd peer connection")

// preamble is what a dialer says of itself.
type preamble struct {
	session strategy.Session
	from    string // the dialer's node ID, as it claims
}

func writePreamble(w io.Writer, p preamble) error {
	var b [preambleLen]byte
	copy(b[:], preambleMagic)
	b[len(preambleMagic)] = preambleVersion
	copy(b[len(preambleMagic)+1:], p.session[:])
	copy(b[len(preambleMagic)+1+sessionLen:], p.from)
	_, err := w.Write(b[:])
	return err
}

// errVersion is a preamble of another protocol version; the dialer is
// told (answerVersion) before the connection closes.
var errVersion = errors.New("peer speaks another protocol version")

func readPreamble(r io.Reader) (preamble, error) {
	var b [preambleLen]byte
	// The version comes first, so a dialer of another version is told
	// even if its preamble has another length.
	if _, err := io.ReadFull(r, b[:len(preambleMagic)+1]); err != nil {
		return preamble{}, fmt.Errorf("read preamble: %w", err)
	}
	if string(b[:len(preambleMagic)]) != preambleMagic {
		return preamble{}, fmt.Errorf("%w: bad magic %q", errBadPreamble, b[:len(preambleMagic)])
	}
	if v := b[len(preambleMagic)]; v != preambleVersion {
		return preamble{}, fmt.Errorf("%w: version %d, this node speaks %d", errVersion, v, preambleVersion)
	}
	if _, err := io.ReadFull(r, b[len(preambleMagic)+1:]); err != nil {
		return preamble{}, fmt.Errorf("read preamble: %w", err)
	}
	var p preamble
	copy(p.session[:], b[len(preambleMagic)+1:])
	p.from = string(b[len(preambleMagic)+1+sessionLen:])
	if err := identity.ValidNodeID(p.from); err != nil {
		return preamble{}, fmt.Errorf("%w: %w", errBadPreamble, err)
	}
	return p, nil
}

// Answers to a preamble.
const (
	answerOK             byte = 'O'
	answerNotAllowed     byte = 'P' // the inbound policy does not let the dialer in
	answerBusy           byte = 'B' // a limit: too many connections or handshakes
	answerUnknownSession byte = 'S' // no attempt waits for this session (any more)
	answerVersion        byte = 'V' // another protocol version
)

// RefusedError is a path the peer refused before TLS, with its reason.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "the peer refused the connection: " + e.Reason }

var answerReasons = map[byte]string{
	answerNotAllowed:     "not allowed by its inbound policy",
	answerBusy:           "busy",
	answerUnknownSession: "no attempt is waiting for this connection",
	answerVersion:        "it speaks another protocol version",
}

func writeAnswer(w io.Writer, a byte) error {
	_, err := w.Write([]byte{a})
	return err
}

// readAnswer reads the peer's answer to our preamble: nil when accepted,
// else a *RefusedError.
func readAnswer(r io.Reader) error {
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return fmt.Errorf("read the peer's answer: %w", err)
	}
	if b[0] == answerOK {
		return nil
	}
	reason, ok := answerReasons[b[0]]
	if !ok {
		return fmt.Errorf("%w: answer %#x", errBadPreamble, b[0])
	}
	return &RefusedError{Reason: reason}
}
