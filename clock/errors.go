package clock

import (
	"errors"
	"strings"
)

var (
	// ErrNoServers means the Config lists no NTP server.
	ErrNoServers = errors.New("clock: no ntp servers configured")
	// ErrNoAnswer means no server gave a valid answer; the error is a
	// *[NoAnswerError] listing each server's failure.
	ErrNoAnswer = errors.New("clock: no ntp server answered")
)

// ServerError is one server's failure: the query failed or its answer was
// not valid for synchronisation (ntp.Response.Validate).
type ServerError struct {
	Server string
	Err    error
}

func (e *ServerError) Error() string { return e.Server + ": " + e.Err.Error() }

func (e *ServerError) Unwrap() error { return e.Err }

// NoAnswerError is returned by Sync when no server gave a valid answer.
// errors.Is(err, ErrNoAnswer) holds, and errors.Is/As reach each failure.
type NoAnswerError struct {
	Failures []*ServerError // one per server, in Config order
}

func (e *NoAnswerError) Error() string {
	var b strings.Builder
	b.WriteString(ErrNoAnswer.Error())
	for i, f := range e.Failures {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Error())
	}
	return b.String()
}

func (e *NoAnswerError) Is(target error) bool { return target == ErrNoAnswer }

func (e *NoAnswerError) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		errs[i] = f
	}
	return errs
}
