package server

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// maxPlainDetail bounds how much of a plain-text error body is kept as a
// problem's detail.
const maxPlainDetail = 512

// problemErrors makes every error answer a problem, including those of
// handlers not written for this API: the dashboard's file server (404, 416)
// and the WebSocket library's handshake checks (400 without
// Sec-WebSocket-Key, 426), which answer with http.Error in plain text.
// Such an answer keeps its status and headers; its text becomes the
// problem's detail. Answers that are problems already pass untouched.
func problemErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pw := &problemWriter{ResponseWriter: w}
		next.ServeHTTP(pw, r)
		pw.finish(r)
	})
}

// problemWriter holds back an error status whose Content-Type is not a
// problem, and the body written with it, until the handler returns.
type problemWriter struct {
	http.ResponseWriter
	wrote  bool // the status went through
	status int  // an error status held back
	text   []byte
}

func (w *problemWriter) WriteHeader(code int) {
	if w.status != 0 {
		return // an error is held back: any later status is superfluous
	}
	if !w.wrote && code >= 400 && !isProblemType(w.Header().Get("Content-Type")) {
		w.status = code
		return
	}
	// 1xx informational answers come before the status; 101 is final.
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *problemWriter) Write(p []byte) (int, error) {
	if w.status != 0 {
		if room := maxPlainDetail - len(w.text); room > 0 {
			w.text = append(w.text, p[:min(room, len(p))]...)
		}
		return len(p), nil
	}
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

// Flush sends what was written, unless an error is held back.
func (w *problemWriter) Flush() {
	if w.status != 0 {
		return
	}
	w.wrote = true
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController and the WebSocket library reach the
// connection (Hijack, deadlines).
func (w *problemWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish sends the held-back error as a problem.
func (w *problemWriter) finish(r *http.Request) {
	if w.status == 0 {
		return
	}
	p := problemf(w.status, "%s", plainDetail(w.status, w.text, r))
	if w.status == http.StatusBadRequest {
		p.Type = problemType("bad-request")
	}
	h := w.Header()
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	writeProblem(w.ResponseWriter, p)
}

// plainDetail is the text of a plain error answer, or, when it only
// repeats the status ("404 page not found"), what was asked for.
func plainDetail(status int, text []byte, r *http.Request) string {
	t := string(bytes.TrimSpace(text))
	generic := strings.ToLower(http.StatusText(status))
	switch strings.ToLower(strings.TrimSpace(strings.TrimPrefix(t, strconv.Itoa(status)))) {
	case "", generic, "page not found":
		return fmt.Sprintf("%s %s: %s", r.Method, r.URL.Path, generic)
	}
	return t
}

func isProblemType(ct string) bool {
	return strings.HasPrefix(ct, "application/problem+json")
}
