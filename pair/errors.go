package pair

import "errors"

// Errors of a pairing.
var (
	// ErrCodeSyntax: a code that is not a number and three words of the list.
	ErrCodeSyntax = errors.New("a pairing code is a number and three words, as 4821-amber-falcon-river")
	// ErrWrongCode: the other side does not hold the same code.
	ErrWrongCode = errors.New("wrong pairing code")
	// ErrCodeUsed: the offer of this code was used or has ended.
	ErrCodeUsed = errors.New("this pairing code was used or has ended")
	// ErrNoOffer: no node answered the code.
	ErrNoOffer = errors.New("no node offers this pairing code (a wrong or expired code, or the offering node shares no broker with this one)")
	// ErrBadMessage: a message that breaks the protocol.
	ErrBadMessage = errors.New("pair: malformed message")
	// ErrTooManyOffers: Config.MaxOffers offers are open.
	ErrTooManyOffers = errors.New("too many pairing offers open")
	// ErrOwnOffer: a join of a code this node offers.
	ErrOwnOffer = errors.New("this node offers that code itself")
	// ErrJoinRunning: a join of a code whose number another join uses.
	ErrJoinRunning = errors.New("a pairing with this code number runs already on this node")
	// ErrClosed: the Manager is closed.
	ErrClosed = errors.New("pair: closed")
)
