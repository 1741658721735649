package strategy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/reachd/reachd/punch"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/strategy"
)

// TestClass sorts failures by what they are, never by their wording: a
// peer's refusal that says "connection refused" is the peer's refusal,
// and a missing TURN server is unavailable, not "other".
func TestClass(t *testing.T) {
	remote := &signaling.RemoteError{Peer: "x", Reason: "dial back: connection refused"}
	tests := []struct {
		err  error
		want string
	}{
		{strategy.ErrNoTURN, strategy.ClassUnavailable},
		{fmt.Errorf("relay: %w", strategy.ErrNoTURN), strategy.ClassUnavailable},
		{strategy.ErrNotReady, strategy.ClassUnavailable},
		{punch.ErrNoCandidates, strategy.ClassUnavailable},
		{fmt.Errorf("%w: %w", signaling.ErrNoBroker, errors.New("x")), strategy.ClassUnavailable},
		{&strategy.RefusedError{Remote: remote}, strategy.ClassPeerRefused},
		{fmt.Errorf("%w: answered with \"echo_reply\"", strategy.ErrUnexpectedReply), strategy.ClassProtocol},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), strategy.ClassRefused},
		{fmt.Errorf("dial: %w", syscall.EHOSTUNREACH), strategy.ClassUnreachable},
		{fmt.Errorf("dial: %w", syscall.ENETUNREACH), strategy.ClassUnreachable},
		{fmt.Errorf("punch: %w: %w", signaling.ErrNoReply, context.DeadlineExceeded), strategy.ClassNoReply},
		{fmt.Errorf("wait: %w", context.DeadlineExceeded), strategy.ClassTimeout},
		{fmt.Errorf("read: %w", os.ErrDeadlineExceeded), strategy.ClassTimeout},
		{context.Canceled, strategy.ClassCancelled},
		{errors.New("the peer said: timed out, connection refused, unreachable"), strategy.ClassOther},
	}
	for _, tt := range tests {
		if got := strategy.Class(tt.err); got != tt.want {
			t.Errorf("Class(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}

// TestRefusedWrapsTheSignalingError: a peer's refusal is ErrPeerRefused
// and still the *signaling.RemoteError it came as, with its reason.
func TestRefusedWrapsTheSignalingError(t *testing.T) {
	remote := &signaling.RemoteError{Peer: "x", Reason: "busy"}
	var err error = fmt.Errorf("relay: %w", &strategy.RefusedError{What: "could not dial back", Remote: remote})
	var got *signaling.RemoteError
	if !errors.Is(err, strategy.ErrPeerRefused) || !errors.As(err, &got) || got.Reason != "busy" {
		t.Errorf("%v: Is ErrPeerRefused %v, As RemoteError %v", err, errors.Is(err, strategy.ErrPeerRefused), got)
	}
	if want := "relay: peer refused: could not dial back: busy"; err.Error() != want {
		t.Errorf("%q, want %q", err, want)
	}
}

// TestRefusalIsFixed: what a peer is told never carries the dial error.
func TestRefusalIsFixed(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("dial 127.0.0.1:22: %w", syscall.ECONNREFUSED),
		fmt.Errorf("dial 127.0.0.1:23: %w", context.DeadlineExceeded),
		errors.New("anything at all"),
	} {
		if got := strategy.Refusal(err); got != "could not connect" {
			t.Errorf("Refusal(%v) = %q, want the fixed %q", err, got, "could not connect")
		}
	}
}
