package strategy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/reachd/reachd/punch"
	"github.com/reachd/reachd/signaling"
)

// Errors of the strategies. Callers match them with errors.Is.
var (
	// ErrNotReady: our own address is not known yet.
	ErrNotReady = errors.New("own address not known yet")
	// ErrNoTURN: the relay strategy has no TURN server to use.
	ErrNoTURN = errors.New("no TURN server configured (--turn)")
	// ErrUnpunchable: the two addresses leave no mapping to punch.
	ErrUnpunchable = errors.New("no pair of interfaces can be punched")
	// ErrPeerRefused: the peer answered a request with a refusal; the
	// *signaling.RemoteError is wrapped too.
	ErrPeerRefused = errors.New("peer refused")
	// ErrUnexpectedReply: the peer answered with another message type
	// than the request's reply.
	ErrUnexpectedReply = errors.New("unexpected reply")
	// ErrBadRequest is wrapped by a responder's error when the peer's
	// request does not decode or names something malformed.
	ErrBadRequest = errors.New("bad request")
	// ErrAnswered is wrapped by a responder's error when the strategy has
	// already answered the peer: nothing more is sent.
	ErrAnswered = errors.New("peer answered already")
	// ErrBirthdayBusy: another birthday punch of ours is running (a node
	// runs one at a time).
	ErrBirthdayBusy = errors.New("another birthday punch is running")
)

// RefusedError is a peer's refusal of a request: errors.Is finds
// ErrPeerRefused in it, and errors.As the *signaling.RemoteError.
type RefusedError struct {
	What   string // what the peer could not do, if said: "could not dial back"
	Remote *signaling.RemoteError
}

func (e *RefusedError) Error() string {
	if e.What == "" {
		return "peer refused: " + e.Remote.Reason
	}
	return "peer refused: " + e.What + ": " + e.Remote.Reason
}

func (e *RefusedError) Unwrap() []error { return []error{ErrPeerRefused, e.Remote} }

// Failure classes, as attempts and metrics report them.
const (
	ClassTimeout     = "timeout"
	ClassNoReply     = "no_reply"     // the peer did not answer a request over signaling in time
	ClassRefused     = "refused"      // the target's TCP stack refused
	ClassUnreachable = "unreachable"  // no route
	ClassUnavailable = "unavailable"  // nothing to try it with here
	ClassPeerRefused = "peer_refused" // the peer said no over signaling
	ClassProtocol    = "protocol"     // the peer spoke out of turn
	ClassWrongPeer   = "wrong_peer"   // another key than the node ID
	ClassCancelled   = "cancelled"
	ClassOther       = "other"
)

// Class sorts a strategy's failure into one of the classes above.
func Class(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrPeerRefused):
		return ClassPeerRefused
	case errors.Is(err, ErrNotReady), errors.Is(err, ErrNoTURN), errors.Is(err, ErrUnpunchable),
		errors.Is(err, punch.ErrNoCandidates), errors.Is(err, signaling.ErrNoBroker):
		return ClassUnavailable
	case errors.Is(err, ErrUnexpectedReply):
		return ClassProtocol
	case errors.Is(err, signaling.ErrNoReply):
		return ClassNoReply
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassRefused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return ClassUnreachable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return ClassTimeout
	case errors.Is(err, context.Canceled):
		return ClassCancelled
	}
	return ClassOther
}

// request sends a request of type req and reads the reply, which must be
// of type want. A refusal wraps ErrPeerRefused.
func request[Req, Rep any](ctx context.Context, env Env, peer signaling.Peer, req signaling.Type[Req], body Req, want signaling.Type[Rep]) (Rep, error) {
	var none Rep
	m, err := env.Request(ctx, peer, req, body)
	var remote *signaling.RemoteError
	switch {
	case errors.As(err, &remote):
		return none, &RefusedError{Remote: remote}
	case err != nil:
		return none, fmt.Errorf("%s request: %w", req, err)
	}
	rep, err := want.Decode(m)
	if err != nil {
		return none, fmt.Errorf("%w: %s: %w", ErrUnexpectedReply, req, err)
	}
	return rep, nil
}

// Refusal is the reason a responder sends back to a peer for err. It is
// one of a few fixed texts, never the dial error itself, so a refusal
// tells a stranger nothing about what lies behind the node (the detail is
// logged).
func Refusal(err error) string {
	switch {
	case errors.Is(err, ErrForbiddenTarget):
		return "not allowed"
	case errors.Is(err, ErrBadRequest):
		return "bad request"
	case errors.Is(err, ErrNotReady):
		return "not ready"
	case errors.Is(err, ErrNoTURN), errors.Is(err, ErrUnpunchable):
		return "unavailable"
	}
	return "could not connect"
}

// badRequest wraps a malformed request's error.
func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrBadRequest, fmt.Errorf(format, args...))
}
