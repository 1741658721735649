package node

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// The preamble is what a dialer sends on a raw connection before TLS:
// magic, version and the signaling session the connection belongs to, so
// the accepting side can match a reverse, punched or relayed connection to
// the request that caused it. A direct connection, made without signaling,
// carries the zero session.
const (
	preambleMagic   = "RCHD"
	preambleVersion = 1
	preambleLen     = len(preambleMagic) + 1 + sessionLen
	sessionLen      = 16
)

// SessionID names one connection attempt across signaling and the wire.
type SessionID [sessionLen]byte

func newSessionID() SessionID {
	var s SessionID
	rand.Read(s[:])
	return s
}

// IsZero reports whether s is the zero (direct) session.
func (s SessionID) IsZero() bool { return s == SessionID{} }

func (s SessionID) String() string { return hex.EncodeToString(s[:]) }

func parseSessionID(text string) (SessionID, error) {
	var s SessionID
	b, err := hex.DecodeString(text)
	if err != nil || len(b) != sessionLen {
		return s, fmt.Errorf("session id %q: want %d hex bytes", text, sessionLen)
	}
	copy(s[:], b)
	return s, nil
}

var errBadPreamble = errors.New("not a reachd peer connection")

func writePreamble(w io.Writer, s SessionID) error {
	var b [preambleLen]byte
	copy(b[:], preambleMagic)
	b[len(preambleMagic)] = preambleVersion
	copy(b[len(preambleMagic)+1:], s[:])
	_, err := w.Write(b[:])
	return err
}

func readPreamble(r io.Reader) (SessionID, error) {
	var b [preambleLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return SessionID{}, fmt.Errorf("read preamble: %w", err)
	}
	if string(b[:len(preambleMagic)]) != preambleMagic {
		return SessionID{}, fmt.Errorf("%w: bad magic %q", errBadPreamble, b[:len(preambleMagic)])
	}
	if v := b[len(preambleMagic)]; v != preambleVersion {
		return SessionID{}, fmt.Errorf("%w: unsupported version %d", errBadPreamble, v)
	}
	var s SessionID
	copy(s[:], b[len(preambleMagic)+1:])
	return s, nil
}
