package node

import (
	"errors"
	"fmt"
	"io"

	"github.com/reachd/reachd/strategy"
)

// The preamble is what a dialer sends on a raw connection before TLS:
// magic, version and the signaling session the connection belongs to, so
// the accepting side can match a reverse, punched or relayed connection to
// the request that caused it. A direct connection, made without signaling,
// carries the zero session.
//
// Version 2 adds the commit byte after TLS (see commit).
const (
	preambleMagic   = "RCHD"
	preambleVersion = 2
	preambleLen     = len(preambleMagic) + 1 + len(strategy.Session{})
)

var errBadPreamble = errors.New("not a reachd peer connection")

func writePreamble(w io.Writer, s strategy.Session) error {
	var b [preambleLen]byte
	copy(b[:], preambleMagic)
	b[len(preambleMagic)] = preambleVersion
	copy(b[len(preambleMagic)+1:], s[:])
	_, err := w.Write(b[:])
	return err
}

func readPreamble(r io.Reader) (strategy.Session, error) {
	var b [preambleLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return strategy.Session{}, fmt.Errorf("read preamble: %w", err)
	}
	if string(b[:len(preambleMagic)]) != preambleMagic {
		return strategy.Session{}, fmt.Errorf("%w: bad magic %q", errBadPreamble, b[:len(preambleMagic)])
	}
	if v := b[len(preambleMagic)]; v != preambleVersion {
		return strategy.Session{}, fmt.Errorf("%w: protocol version %d, this node speaks %d", errBadPreamble, v, preambleVersion)
	}
	var s strategy.Session
	copy(s[:], b[len(preambleMagic)+1:])
	return s, nil
}
