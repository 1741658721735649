package handshake

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The commit byte: the first byte the initiator of a connect sends on a
// secured path says whether it keeps the path (it won the race) or drops
// it. The responder lists a path only once it is kept, so a lost race
// never shows on either side.
const (
	commitKeep byte = 'K'
	commitDrop byte = 'D'
)

// ErrDropped: the initiator kept another path.
var ErrDropped = errors.New("the peer kept another path")

// Commit sends our decision on a path we initiated; a dropped path, and
// one whose commit could not be sent, is closed.
func (p Path) Commit(keep bool) error {
	b := commitDrop
	if keep {
		b = commitKeep
	}
	p.Raw.SetWriteDeadline(time.Now().Add(Timeout))
	_, err := p.TLS.Write([]byte{b})
	p.Raw.SetWriteDeadline(time.Time{})
	if !keep || err != nil {
		p.Close()
	}
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// AwaitCommit reads the initiator's decision on a path we answered: nil
// when it keeps the path, ErrDropped when it drops it.
func (p Path) AwaitCommit(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { p.Raw.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var b [1]byte
	if _, err := p.TLS.Read(b[:]); err != nil {
		return fmt.Errorf("await commit: %w", err)
	}
	return decide(b[0], func() error {
		if !stop() || p.Raw.SetReadDeadline(time.Time{}) != nil {
			return ctx.Err()
		}
		return nil
	})
}

// decide reads a commit byte; keep runs for a kept path.
func decide(b byte, keep func() error) error {
	switch b {
	case commitKeep:
		return keep()
	case commitDrop:
		return ErrDropped
	}
	return fmt.Errorf("await commit: %w: got byte %#x", ErrBadPreamble, b)
}
