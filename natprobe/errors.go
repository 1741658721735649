package natprobe

import (
	"errors"
	"fmt"
)

// ErrNoAnswer means a STUN server did not answer within the transaction
// timeout (including retransmissions over UDP).
var ErrNoAnswer = errors.New("natprobe: no stun answer")

// ErrBadAnswer means a STUN server answered with a message that lacks what
// a Binding success response must hold.
var ErrBadAnswer = errors.New("natprobe: bad stun answer")

// STUNError is a STUN error response (e.g. 420 when a server does not
// support CHANGE-REQUEST).
type STUNError struct {
	Code   int
	Reason string
}

func (e *STUNError) Error() string {
	return fmt.Sprintf("natprobe: stun error %d %s", e.Code, e.Reason)
}
