package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/reachd/reachd/node"
)

// errInterrupted is returned by a client command stopped by a signal.
var errInterrupted = errors.New("interrupted")

// unreachableError is an API that could not be reached at all.
type unreachableError struct {
	base string
	err  error
}

func (e *unreachableError) Error() string {
	cause := e.err
	var ue *url.Error
	if errors.As(cause, &ue) {
		cause = ue.Err
	}
	return fmt.Sprintf("cannot reach the reachd API at %s (%v): is \"reachd run\" running? If it listens elsewhere, say where with --api or REACHD_API", e.base, cause)
}

func (e *unreachableError) Unwrap() error { return e.err }

// problem is an RFC 9457 problem as the API answers it.
type problem struct {
	Type     string         `json:"type"`
	Title    string         `json:"title"`
	Status   int            `json:"status"`
	Detail   string         `json:"detail"`
	Verdict  string         `json:"verdict"`
	Attempts []node.Attempt `json:"attempts"`
}

// apiError is an answer of the API other than success. A 400 is bad input
// (exit code 2).
type apiError struct {
	Status    int
	Problem   problem
	tokenSent bool
}

func (e *apiError) Error() string {
	detail := e.Problem.Detail
	if detail == "" {
		detail = e.Problem.Title
	}
	if detail == "" {
		detail = http.StatusText(e.Status)
	}
	switch e.Status {
	case http.StatusUnauthorized:
		if e.tokenSent {
			return "the API refused the token: check --api-token (or REACHD_API_TOKEN)"
		}
		return "the API wants a token: pass it with --api-token (or set REACHD_API_TOKEN)"
	case http.StatusForbidden:
		return fmt.Sprintf("the API refused the request: %s", detail)
	}
	return fmt.Sprintf("%s (HTTP %d)", detail, e.Status)
}

// badInput reports whether the API refused what the user gave.
func (e *apiError) badInput() bool { return e.Status == http.StatusBadRequest }

// connectError is a connection no strategy could make.
type connectError struct {
	peer     string
	verdict  string // the node's one line on the likely cause, said first
	attempts []node.Attempt
	detail   string // the node's words, said when there are no attempts
}

func (e *connectError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "no strategy connected to %s", e.peer)
	if e.verdict != "" && len(e.attempts) > 0 {
		fmt.Fprintf(&b, ": %s\nattempts:", e.verdict)
	} else if len(e.attempts) > 0 {
		b.WriteString(":")
	} else if e.detail != "" {
		b.WriteString(": " + e.detail)
	}
	for _, a := range e.attempts {
		b.WriteString("\n  ")
		b.WriteString(formatAttempt(a))
	}
	return b.String()
}
