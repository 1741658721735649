package handshake

import (
	"errors"
	"fmt"
	"io"

	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/strategy"
)

// The preamble is what a dialer sends on a raw connection before TLS:
// magic, version, the ticket of the signaling exchange the connection
// belongs to (so the accepting side can match a reverse, punched or
// relayed connection to the request that caused it; a direct connection
// carries the zero ticket) and the dialer's node ID (which TLS then
// proves). The side that reads a preamble answers with one byte before
// TLS: accepted, or why not. Both go out ahead of the TLS handshake
// without waiting for each other, so the answer costs no round trip, and
// a refused dialer learns why instead of seeing its handshake cut.
//
//	magic "RCHD" | version (1 byte) | ticket (16 bytes) | node ID (52 bytes)
//
// Version 2 added the node ID, the answer and the commit byte after TLS
// (see Commit); version 3 is the current one.
const (
	Magic     = "RCHD"
	Version   = 3
	ticketLen = len(strategy.Ticket{})
	// PreambleLen is the length of a preamble on the wire.
	PreambleLen = len(Magic) + 1 + ticketLen + identity.NodeIDLen
)

// Errors of the preamble.
var (
	// ErrBadPreamble: the bytes are not a reachd peer connection's.
	ErrBadPreamble = errors.New("not a reachd peer connection")
	// ErrVersion: a preamble of another protocol version; the dialer is
	// told (AnswerVersion) before the connection closes.
	ErrVersion = errors.New("peer speaks another protocol version")
)

// Preamble is what a dialer says of itself.
type Preamble struct {
	// Ticket names the signaling exchange the connection answers; zero
	// for a direct connection.
	Ticket strategy.Ticket
	// From is the dialer's node ID, as it claims (TLS proves it).
	From string
}

// Append appends p's wire form to b.
func (p Preamble) Append(b []byte) []byte {
	b = append(b, Magic...)
	b = append(b, Version)
	b = append(b, p.Ticket[:]...)
	return append(b, p.From...)
}

// WritePreamble writes p.
func WritePreamble(w io.Writer, p Preamble) error {
	_, err := w.Write(p.Append(make([]byte, 0, PreambleLen)))
	return err
}

// ReadPreamble reads a preamble. The version comes first, so that a
// dialer of another version is told (ErrVersion) even if its preamble has
// another length.
func ReadPreamble(r io.Reader) (Preamble, error) {
	var b [PreambleLen]byte
	head := len(Magic) + 1
	if _, err := io.ReadFull(r, b[:head]); err != nil {
		return Preamble{}, fmt.Errorf("read preamble: %w", err)
	}
	if string(b[:len(Magic)]) != Magic {
		return Preamble{}, fmt.Errorf("%w: bad magic %q", ErrBadPreamble, b[:len(Magic)])
	}
	if v := b[len(Magic)]; v != Version {
		return Preamble{}, fmt.Errorf("%w: version %d, this node speaks %d", ErrVersion, v, Version)
	}
	if _, err := io.ReadFull(r, b[head:]); err != nil {
		return Preamble{}, fmt.Errorf("read preamble: %w", err)
	}
	var p Preamble
	copy(p.Ticket[:], b[head:])
	p.From = string(b[head+ticketLen:])
	if err := identity.ValidNodeID(p.From); err != nil {
		return Preamble{}, fmt.Errorf("%w: %w", ErrBadPreamble, err)
	}
	return p, nil
}

// Answer is the one byte the reader of a preamble answers with.
type Answer byte

// Answers to a preamble.
const (
	AnswerOK            Answer = 'O'
	AnswerNotAllowed    Answer = 'P' // the inbound policy does not let the dialer in
	AnswerBusy          Answer = 'B' // a limit: too many connections or handshakes
	AnswerUnknownTicket Answer = 'S' // no attempt waits for this ticket (any more)
	AnswerVersion       Answer = 'V' // another protocol version
)

// RefusedError is a path the peer refused before TLS, with its reason.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "the peer refused the connection: " + e.Reason }

var answerReasons = map[Answer]string{
	AnswerNotAllowed:    "not allowed by its inbound policy",
	AnswerBusy:          "busy",
	AnswerUnknownTicket: "no attempt is waiting for this connection",
	AnswerVersion:       "it speaks another protocol version",
}

// WriteAnswer writes a.
func WriteAnswer(w io.Writer, a Answer) error {
	_, err := w.Write([]byte{byte(a)})
	return err
}

// ReadAnswer reads the peer's answer to our preamble: nil when accepted,
// else a *RefusedError, or ErrBadPreamble for a byte that is no answer.
func ReadAnswer(r io.Reader) error {
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return fmt.Errorf("read the peer's answer: %w", err)
	}
	return checkAnswer(Answer(b[0]))
}

func checkAnswer(a Answer) error {
	if a == AnswerOK {
		return nil
	}
	reason, ok := answerReasons[a]
	if !ok {
		return fmt.Errorf("%w: answer %#x", ErrBadPreamble, byte(a))
	}
	return &RefusedError{Reason: reason}
}
