package session

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed: the link or stream was closed on this side.
	ErrClosed = errors.New("session: closed")
	// ErrPeerClosed: the peer closed the link.
	ErrPeerClosed = errors.New("session: the peer closed the link")
	// ErrPeerRestarted: the peer no longer knows the link (its process
	// restarted); the link fails at once, without a grace period.
	ErrPeerRestarted = errors.New("session: the peer does not know the link (restarted)")
	// ErrUnknownLink: Attach was given a path on which the peer resumes a
	// link this one is not. The path is closed; the link is unharmed.
	ErrUnknownLink = errors.New("session: the peer resumes a link we do not know")
	// ErrStalePath: Attach was given a path that ranks below the current
	// one (the peer attached two paths in the other order and keeps the
	// current one). The path is closed; the link is unharmed.
	ErrStalePath = errors.New("session: the peer keeps the current path")
	// ErrNoPath: no path came within the grace period.
	ErrNoPath = errors.New("session: no path within the grace period")
	// ErrProtocol: the peer broke the protocol.
	ErrProtocol = errors.New("session: protocol violation")
	// ErrBacklog: the peer let more than Config.SendBuffer queue up for
	// it (it does not read what we send, yet makes us answer).
	ErrBacklog = errors.New("session: the peer does not take what we send")
	// ErrVersion: the peer speaks another protocol version.
	ErrVersion = errors.New("session: unsupported protocol version")
	// ErrPeerStopped: Write after the peer closed the stream (it reads no
	// more).
	ErrPeerStopped = errors.New("session: the peer closed the stream")
	// ErrWriteClosed: Write after CloseWrite.
	ErrWriteClosed = errors.New("session: write after close-write")
	// ErrFrameTooLarge: a frame larger than the stream's limit.
	ErrFrameTooLarge = errors.New("session: frame too large")
)

// AbortError ends a stream that did not end cleanly: the peer aborted it
// (Remote), we did, or its link failed (Err is then the link's error,
// e.g. ErrNoPath or ErrPeerRestarted). A clean end is io.EOF instead.
type AbortError struct {
	Reason string
	Remote bool
	Err    error
}

func (e *AbortError) Error() string {
	who := "locally"
	if e.Remote {
		who = "by the peer"
	}
	if e.Err != nil {
		return fmt.Sprintf("session: stream aborted: %s", e.Reason)
	}
	return fmt.Sprintf("session: stream aborted %s: %s", who, e.Reason)
}

func (e *AbortError) Unwrap() error { return e.Err }

// LinkError is why a link failed: one of the sentinels above, with
// detail.
type LinkError struct {
	Err    error
	Reason string
}

func (e *LinkError) Error() string {
	if e.Reason == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + ": " + e.Reason
}

func (e *LinkError) Unwrap() error { return e.Err }
