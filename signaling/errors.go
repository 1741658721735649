package signaling

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by the Client.
var (
	// ErrClosed is returned by calls made after Close.
	ErrClosed = errors.New("signaling: client closed")
	// ErrNotStarted is returned by Send and Request before Start.
	ErrNotStarted = errors.New("signaling: client not started")
	// ErrNoBroker means no configured broker is connected and subscribed.
	ErrNoBroker = errors.New("signaling: no connected broker")
	// ErrTooLarge means a sealed message would exceed MaxMessageSize.
	ErrTooLarge = errors.New("signaling: message too large")
	// ErrPublish means every broker the message was handed to refused or lost it.
	ErrPublish = errors.New("signaling: publish failed")
	// ErrNoReply: a request's time ran out before the peer answered it
	// (the context's error is wrapped too; the message that wraps it
	// says "signaling:" already).
	ErrNoReply = errors.New("no reply")
	// ErrWrongType: a message is not of the type its reader expected.
	ErrWrongType = errors.New("signaling: unexpected message type")
)

// DropReason says why a received message was discarded. Each reason has its
// own counter (Client.Drops).
type DropReason string

// The reasons a received message is dropped.
const (
	DropOversized     DropReason = "oversized"     // payload larger than MaxMessageSize
	DropMalformed     DropReason = "malformed"     // not a valid v1 envelope (JSON, field syntax, ttl range)
	DropVersion       DropReason = "version"       // envelope version other than 1
	DropUnsigned      DropReason = "unsigned"      // sig missing or empty
	DropBadSignature  DropReason = "bad_signature" // sig does not verify against the key of from
	DropNotForUs      DropReason = "not_for_us"    // to is not this node
	DropExpired       DropReason = "expired"       // ts+ttl_ms lies before now
	DropFuture        DropReason = "future"        // ts lies more than MaxSkew after now
	DropReplay        DropReason = "replay"        // (from, id) was already accepted; includes the second copy of every message sent via two brokers
	DropTooOld        DropReason = "too_old"       // older than the replay cache can prove unseen
	DropReplayFull    DropReason = "replay_full"   // the replay cache, or the sender's share of it, is full of unexpired messages
	DropUndecryptable DropReason = "undecryptable" // box does not open with our key and the sender's
	DropQueueFull     DropReason = "queue_full"    // the receive queue was full
	DropUnhandled     DropReason = "unhandled"     // no handler for the type and no request waiting for it
)

// DropReasons lists every DropReason, in the order the checks run.
var DropReasons = []DropReason{
	DropOversized, DropMalformed, DropVersion, DropUnsigned, DropBadSignature,
	DropNotForUs, DropExpired, DropFuture, DropReplay, DropTooOld, DropReplayFull,
	DropUndecryptable, DropQueueFull, DropUnhandled,
}

// DropError is the error Open (and the receive path) reports for a message
// it rejects.
type DropError struct {
	Reason DropReason
	Err    error // detail; may be nil
}

func (e *DropError) Error() string {
	if e.Err == nil {
		return "signaling: drop " + string(e.Reason)
	}
	return fmt.Sprintf("signaling: drop %s: %v", e.Reason, e.Err)
}

func (e *DropError) Unwrap() error { return e.Err }

func drop(r DropReason, format string, args ...any) *DropError {
	return &DropError{Reason: r, Err: fmt.Errorf(format, args...)}
}

// RemoteError is returned by Request when the peer answered with a message
// of type "error".
type RemoteError struct {
	Peer   string // node ID of the peer that refused
	Reason string // the reason it gave
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("signaling: peer %s refused: %s", e.Peer, e.Reason)
}
