package session_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/reachd/reachd/session"
	"github.com/reachd/reachd/session/sessiontest"
)

// TestAttachEarly: AttachEarly returns before the peer has said a word, a
// stream opened and written at once reaches the peer once it attaches its
// end, and the link then runs as after Attach (both ways, and an upgrade
// by the peer ranks the paths alike).
func TestAttachEarly(t *testing.T) {
	checkGoroutines(t)
	for _, tt := range []struct {
		name string
		live bool // the link has a path already: the early one replaces it
	}{{"new link", false}, {"live link", true}} {
		t.Run(tt.name, func(t *testing.T) {
			a, b := sessiontest.Pair(t, session.Config{})
			ctx := ctxT(t)
			if tt.live {
				sessiontest.Connect(t, a, b, sessiontest.TCP)
				s, _ := a.Open(ctx, session.Header{})
				s.Write([]byte("on the old path"))
				bs, err := b.Accept(ctx)
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				bs.Close()
			}
			pa, pb := sessiontest.TCP(t)
			// b does not attach yet: the early attach must not wait
			// for its hello.
			if err := a.AttachEarly(ctx, pa); err != nil {
				t.Fatal(err)
			}
			s, err := a.Open(ctx, session.Header{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Write([]byte("early")); err != nil {
				t.Fatal(err)
			}
			if err := b.Attach(ctx, pb); err != nil {
				t.Fatal(err)
			}
			bs, err := b.Accept(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 5)
			if _, err := io.ReadFull(bs, got); err != nil || string(got) != "early" {
				t.Fatalf("read %q, %v; want \"early\"", got, err)
			}
			bs.Write([]byte("back"))
			back := make([]byte, 4)
			if _, err := io.ReadFull(s, back); err != nil || string(back) != "back" {
				t.Fatalf("read %q, %v; want \"back\"", back, err)
			}
			// The peer's upgrade replaces the early path on both sides.
			sessiontest.Connect(t, b, a, sessiontest.TCP)
			bs.Write([]byte("after"))
			after := make([]byte, 5)
			if _, err := io.ReadFull(s, after); err != nil || string(after) != "after" {
				t.Fatalf("read %q, %v; want \"after\"", after, err)
			}
			if a.Err() != nil || b.Err() != nil {
				t.Fatalf("links failed: %v / %v", a.Err(), b.Err())
			}
		})
	}
}

// TestAttachEarlyPeerRestarted: on a link whose peer restarted, the path
// attached early fails the link as soon as the new peer's hello arrives.
func TestAttachEarlyPeerRestarted(t *testing.T) {
	checkGoroutines(t)
	a, b := sessiontest.Pair(t, session.Config{})
	pa, _ := sessiontest.Connect(t, a, b, sessiontest.TCP)
	pa.Close()
	b.Close()
	b2, err := session.New(session.Config{}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	x, y := sessiontest.TCP(t)
	ctx := ctxT(t)
	if err := a.AttachEarly(ctx, x); err != nil {
		t.Fatal(err)
	}
	if err := b2.Attach(ctx, y); !errors.Is(err, session.ErrUnknownLink) {
		t.Errorf("new side's attach: %v, want ErrUnknownLink", err)
	}
	select {
	case <-a.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the old link did not fail")
	}
	if !errors.Is(a.Err(), session.ErrPeerRestarted) {
		t.Errorf("link error %v, want ErrPeerRestarted", a.Err())
	}
}
