package turn

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/stun/v4"
)

var (
	// ErrInvalidURL is wrapped by every ParseURL error.
	ErrInvalidURL = errors.New("turn: invalid url")

	// ErrUnauthorized means the server refused the credentials. A
	// *ServerError matches it when its code is 401 Unauthorized or 441
	// Wrong Credentials, or 400 Bad Request to Allocate: pion's server
	// answers an unknown user or a wrong password with 400, and the
	// client's authenticated Allocate is otherwise well-formed.
	ErrUnauthorized = errors.New("turn: unauthorized")

	// ErrClosed is returned by calls on a closed Allocation.
	ErrClosed = errors.New("turn: allocation closed")

	// ErrControlLost means the control connection to the server failed; the
	// server deletes the allocation with it (pion and coturn do), which ends
	// the accepted connections too. Close the Allocation.
	ErrControlLost = errors.New("turn: control connection lost")
)

// ServerError is an error response from the TURN server: its ERROR-CODE.
type ServerError struct {
	Op     string // the request: "allocate" or "permit"
	Code   int    // the ERROR-CODE, e.g. 401, 403, 442, 486
	Reason string // the server's reason phrase, or the standard one when it sent none
}

func newServerError(op string, code stun.ErrorCode, reason string) *ServerError {
	// coturn pads some reason phrases with NUL bytes inside the attribute.
	reason = strings.TrimSpace(strings.TrimRight(reason, "\x00"))
	if reason == "" {
		// pion's server sends codes without a reason phrase; use the
		// standard one, from pion's table.
		m := new(stun.Message)
		var attr stun.ErrorCodeAttribute
		if code.AddTo(m) == nil && attr.GetFrom(m) == nil {
			reason = string(attr.Reason)
		}
	}
	return &ServerError{Op: op, Code: int(code), Reason: reason}
}

func (e *ServerError) Error() string {
	msg := fmt.Sprintf("server error %d %s", e.Code, e.Reason)
	if e.Is(ErrUnauthorized) {
		msg = "credentials refused: " + msg
	}
	return msg
}

// Is reports whether e matches target; see ErrUnauthorized.
func (e *ServerError) Is(target error) bool {
	if target != ErrUnauthorized {
		return false
	}
	return e.Code == 401 || e.Code == 441 || (e.Op == "allocate" && e.Code == 400)
}
