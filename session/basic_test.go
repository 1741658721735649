package session_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/reachd/reachd/session"
	"github.com/reachd/reachd/session/sessiontest"
)

func TestEcho(t *testing.T) {
	for _, tc := range []struct {
		name string
		mk   sessiontest.PathMaker
	}{
		{"pipe", sessiontest.Pipe},
		{"tcp", sessiontest.TCP},
		{"tls", sessiontest.TLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			a, b := sessiontest.Pair(t, session.Config{})
			sessiontest.Connect(t, a, b, tc.mk)
			ctx := ctxT(t)
			s, err := a.Open(ctx, session.Header{Service: "echo"})
			if err != nil {
				t.Fatal(err)
			}
			r, err := b.Accept(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Header(); got.Service != "echo" || got.Kind != session.KindBytes {
				t.Fatalf("header %+v", got)
			}
			go func() {
				io.Copy(r, r)
				r.CloseWrite()
			}()
			msg := bytes.Repeat([]byte("hello "), 100000)
			go func() {
				s.Write(msg)
				s.CloseWrite()
			}()
			got, err := io.ReadAll(s)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("echo: got %d bytes, want %d", len(got), len(msg))
			}
			if st := s.Stats(); st.Written != int64(len(msg)) || st.Read != int64(len(msg)) || !st.ReadEnded || !st.WriteEnded || st.Err != nil {
				t.Errorf("stream stats %+v", st)
			}
			if a.Stats().Streams != 0 || b.Stats().Streams != 0 {
				t.Errorf("streams left: %d %d", a.Stats().Streams, b.Stats().Streams)
			}
			if a.State() != session.StateConnected {
				t.Errorf("state %s", a.State())
			}
		})
	}
}

func TestHalfCloseAndAbortDiffer(t *testing.T) {
	checkGoroutines(t)
	a, b := sessiontest.Pair(t, session.Config{})
	sessiontest.Connect(t, a, b, sessiontest.Pipe)
	ctx := ctxT(t)

	// Half-close: the peer reads EOF and can still send back.
	s, _ := a.Open(ctx, session.Header{})
	s.Write([]byte("done"))
	s.CloseWrite()
	r, err := b.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "done" {
		t.Fatalf("after half-close: %q, %v; want done, nil", got, err)
	}
	if _, err := r.Write([]byte("reply")); err != nil {
		t.Fatalf("write after the peer's half-close: %v", err)
	}
	r.CloseWrite()
	back, err := io.ReadAll(s)
	if err != nil || string(back) != "reply" {
		t.Fatalf("reply: %q, %v", back, err)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, session.ErrWriteClosed) {
		t.Fatalf("write after CloseWrite: %v, want ErrWriteClosed", err)
	}

	// Abort: the peer's read and write fail with the reason.
	s2, _ := a.Open(ctx, session.Header{})
	s2.Write([]byte("partial"))
	r2, err := b.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := io.ReadFull(r2, buf); err != nil {
		t.Fatal(err)
	}
	s2.Abort("disk full")
	_, err = r2.Read(buf)
	var ae *session.AbortError
	if !errors.As(err, &ae) || ae.Reason != "disk full" || !ae.Remote {
		t.Fatalf("read after the peer's abort: %v, want a remote AbortError with the reason", err)
	}
	if _, err := r2.Write([]byte("x")); !errors.As(err, &ae) || ae.Reason != "disk full" {
		t.Fatalf("write after the peer's abort: %v", err)
	}
	if _, err := s2.Read(buf); !errors.As(err, &ae) || ae.Remote {
		t.Fatalf("read after our own abort: %v, want a local AbortError", err)
	}
}

func TestFrames(t *testing.T) {
	checkGoroutines(t)
	a, b := sessiontest.Pair(t, session.Config{})
	sessiontest.Connect(t, a, b, sessiontest.Pipe)
	ctx := ctxT(t)
	s, _ := a.Open(ctx, session.Header{Service: "tap", Kind: session.KindFrames})
	sizes := []int{0, 1, 60, 1514, 9000, 16380, 16384, 40000, 65536}
	go func() {
		for i, n := range sizes {
			s.WriteFrame(bytes.Repeat([]byte{byte(i)}, n))
		}
		s.WriteFrame(make([]byte, 65537)) // too large: refused here
		s.CloseWrite()
	}()
	r, err := b.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Header().Kind != session.KindFrames || r.Header().Service != "tap" {
		t.Fatalf("header %+v", r.Header())
	}
	buf := make([]byte, 1<<17)
	for i, want := range sizes {
		n, err := r.ReadFrame(buf)
		if err != nil || n != want || !bytes.Equal(buf[:n], bytes.Repeat([]byte{byte(i)}, want)) {
			t.Fatalf("frame %d: %d bytes, %v; want %d", i, n, err, want)
		}
	}
	if _, err := r.ReadFrame(buf); err != io.EOF {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
}
