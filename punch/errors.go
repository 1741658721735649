package punch

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

var (
	// ErrNoCandidates is returned by DialDirect when it is given no address.
	ErrNoCandidates = errors.New("punch: no candidate addresses")
	// ErrWindowClosed means Punch made no connection before its window ended.
	ErrWindowClosed = errors.New("punch: window closed")
	// ErrUnpredictable means the external port of a mapping cannot be
	// predicted from what is known (and no Mapper could observe it).
	ErrUnpredictable = errors.New("punch: external port not predictable")
	// ErrUnsupported means this operating system cannot share a port
	// between sockets (no SO_REUSEPORT).
	ErrUnsupported = errors.New("punch: unsupported on this system")

	// errNoDescriptors: the file limit leaves a birthday punch no socket.
	errNoDescriptors = errors.New("no file descriptors to spare")
)

// Attempt is one candidate DialDirect tried, with why it failed.
type Attempt struct {
	Addr netip.AddrPort
	Err  error
}

// DialError is returned by DialDirect when no candidate connected. It lists
// every candidate in the order given, each with its failure (a candidate
// that was never started fails with the context's error).
type DialError struct {
	Attempts []Attempt
}

func (e *DialError) Error() string {
	var b strings.Builder
	// No package prefix: the direct and reverse strategies dial this
	// way too, and users read it as their attempts' reasons. A single
	// address's failure says it all.
	if len(e.Attempts) > 1 {
		fmt.Fprintf(&b, "all %d addresses failed: ", len(e.Attempts))
	}
	for i, a := range e.Attempts {
		if i > 0 {
			b.WriteString("; ")
		}
		// Most dial errors name the address already.
		if msg := fmt.Sprint(a.Err); strings.Contains(msg, a.Addr.String()) {
			b.WriteString(msg)
		} else {
			fmt.Fprintf(&b, "%s: %s", a.Addr, msg)
		}
	}
	return b.String()
}

// Unwrap returns each candidate's error, so errors.Is and errors.As look
// through all of them (e.g. errors.Is(err, syscall.ECONNREFUSED)).
func (e *DialError) Unwrap() []error {
	errs := make([]error, 0, len(e.Attempts))
	for _, a := range e.Attempts {
		if a.Err != nil {
			errs = append(errs, a.Err)
		}
	}
	return errs
}
