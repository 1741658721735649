package session_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/reachd/reachd/session"
	"github.com/reachd/reachd/session/sessiontest"
)

// TestLinkClose: Close delivers what was written before it; the peer's
// finished streams read to their end, its open ones abort with
// ErrPeerClosed, and the link reports ErrPeerClosed.
func TestLinkClose(t *testing.T) {
	checkGoroutines(t)
	a, b := sessiontest.Pair(t, session.Config{})
	sessiontest.Connect(t, a, b, sessiontest.TCP)
	ctx := ctxT(t)
	done, _ := a.Open(ctx, session.Header{Service: "done"})
	open, _ := a.Open(ctx, session.Header{Service: "open"})
	payload := make([]byte, 1<<20)
	for i := range payload {
		payload[i] = byte(i)
	}
	go func() {
		done.Write(payload)
		done.CloseWrite()
		open.Write([]byte("unfinished"))
		a.Close()
	}()
	r1, err := b.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := b.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r1)
	if err != nil || len(got) != len(payload) {
		t.Fatalf("finished stream: %d bytes, %v; want all %d and EOF", len(got), err, len(payload))
	}
	<-b.Done()
	got, err = io.ReadAll(r2)
	if string(got) != "unfinished" || !errors.Is(err, session.ErrPeerClosed) {
		t.Fatalf("open stream: %q, %v; want its data, then ErrPeerClosed", got, err)
	}
	var ae *session.AbortError
	if !errors.As(err, &ae) {
		t.Fatalf("open stream's end %T is not an AbortError", err)
	}
	if !errors.Is(b.Err(), session.ErrPeerClosed) || !errors.Is(a.Err(), session.ErrClosed) {
		t.Fatalf("links: %v / %v", a.Err(), b.Err())
	}
}

// TestRefusedStreams: opens beyond the peer's backlog are aborted with a
// reason, and the link goes on.
func TestRefusedStreams(t *testing.T) {
	checkGoroutines(t)
	a, b := sessiontest.Pair(t, session.Config{AcceptBacklog: 2})
	sessiontest.Connect(t, a, b, sessiontest.Pipe)
	ctx := ctxT(t)
	var streams []*session.Stream
	for range 3 {
		s, err := a.Open(ctx, session.Header{})
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, s)
	}
	_, err := streams[2].Read(make([]byte, 1))
	var ae *session.AbortError
	if !errors.As(err, &ae) || !ae.Remote || ae.Reason != "accept backlog full (2)" {
		t.Fatalf("third open: %v, want a refusal", err)
	}
	for range 2 {
		if _, err := b.Accept(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if a.Err() != nil || b.Err() != nil {
		t.Fatalf("links failed: %v / %v", a.Err(), b.Err())
	}
}

// rawHello is a peer's hello written by hand.
func rawHello(version byte, mine byte) []byte {
	b := []byte{0x81, 0, 0, 0, 0, 0, 0, 0, 45, version}
	n := make([]byte, 16)
	n[0] = mine
	b = append(b, n...)
	b = append(b, make([]byte, 16+8+4)...)
	return b
}

// TestBadPeer: a peer that breaks the protocol fails the link with
// ErrProtocol; one with another version is refused, the link unharmed.
func TestBadPeer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		send    []byte
		attach  error // from Attach
		linkErr error // the link's error after
	}{
		{"version", rawHello(9, 1), session.ErrVersion, nil},
		{"garbage", append(rawHello(2, 1), 0xee, 0, 0, 0, 0, 0, 0, 0, 0), nil, session.ErrProtocol},
		{"data before resend", append(rawHello(2, 1), 0x02, 0, 0, 0, 2, 0, 0, 0, 1, 'x'), nil, session.ErrProtocol},
		{"resend from the future", append(rawHello(2, 1), binary.BigEndian.AppendUint64([]byte{0x82, 0, 0, 0, 0, 0, 0, 0, 8}, 1000)...), nil, session.ErrProtocol},
		{"ack beyond", append(rawHello(2, 1), binary.BigEndian.AppendUint64([]byte{0x83, 0, 0, 0, 0, 0, 0, 0, 8}, 1<<40)...), nil, session.ErrProtocol},
		{"no hello", []byte{0x84, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0}, session.ErrProtocol, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			l, err := session.New(session.Config{}, true)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			x, y := net.Pipe()
			defer y.Close()
			go io.Copy(io.Discard, y)
			go y.Write(tc.send)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = l.Attach(ctx, x)
			if tc.attach != nil {
				if !errors.Is(err, tc.attach) {
					t.Fatalf("attach: %v, want %v", err, tc.attach)
				}
				if l.Err() != nil {
					t.Fatalf("link failed: %v", l.Err())
				}
				return
			}
			if err != nil {
				t.Fatalf("attach: %v", err)
			}
			select {
			case <-l.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the link took the bad frame")
			}
			if !errors.Is(l.Err(), tc.linkErr) {
				t.Fatalf("link: %v, want %v", l.Err(), tc.linkErr)
			}
		})
	}
}

// TestCloseDuringAttach: closing a link ends an Attach waiting for the
// peer's hello at once.
func TestCloseDuringAttach(t *testing.T) {
	checkGoroutines(t)
	l, err := session.New(session.Config{}, true)
	if err != nil {
		t.Fatal(err)
	}
	x, y := net.Pipe()
	defer y.Close()
	go io.Copy(io.Discard, y) // a peer that never says hello
	errc := make(chan error, 1)
	go func() { errc <- l.Attach(context.Background(), x) }()
	time.Sleep(50 * time.Millisecond)
	l.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("attach succeeded")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("attach still waits after Close")
	}
}
