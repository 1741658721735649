package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Problem is an RFC 9457 problem: what the client is told. The cause, if
// any, is logged and never sent.
type Problem struct {
	Type   string `json:"type,omitempty"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Extra members, merged into the JSON object (e.g. "attempts").
	Extra map[string]any `json:"-"`
	cause error
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }
func (p *Problem) Unwrap() error { return p.cause }

// MarshalJSON writes the standard members and the extras.
func (p *Problem) MarshalJSON() ([]byte, error) {
	m := map[string]any{"title": p.Title, "status": p.Status}
	for k, v := range p.Extra {
		m[k] = v
	}
	if p.Type != "" {
		m["type"] = p.Type
	}
	if p.Detail != "" {
		m["detail"] = p.Detail
	}
	return json.Marshal(m)
}

func problemf(status int, format string, args ...any) *Problem {
	return &Problem{Title: http.StatusText(status), Status: status, Detail: fmt.Sprintf(format, args...)}
}

// typedProblem is problemf with the problem type named typ (see problemType).
func typedProblem(typ string, status int, format string, args ...any) *Problem {
	p := problemf(status, format, args...)
	p.Type = problemType(typ)
	return p
}

// handle adapts a handler that returns an error: a *Problem is sent as it
// is, anything else as a 500 whose cause is logged but not shown.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var p *Problem
		if !errors.As(err, &p) {
			s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			p = problemf(http.StatusInternalServerError, "internal error")
		} else if p.cause != nil {
			s.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "status", p.Status, "cause", p.cause)
		}
		writeProblem(w, p)
	}
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	b, _ := json.Marshal(p)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	w.Write(append(b, '\n'))
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}
