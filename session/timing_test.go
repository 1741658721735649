package session_test

import (
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reachd/reachd/session"
	"github.com/reachd/reachd/session/sessiontest"
)

// TestSlowReader: a reader that reads nothing for a minute while its
// writer pushes far more than every buffer holds: no error, the writer
// just waits; another stream on the link goes on meanwhile; then
// everything arrives.
func TestSlowReader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := sessiontest.Pair(t, session.Config{})
		sessiontest.Connect(t, a, b, sessiontest.Pipe)
		ctx := t.Context()
		const n = 16 << 20 // 4 MiB send buffer + 256 KiB window, four times over
		slow, _ := a.Open(ctx, session.Header{Service: "slow"})
		var want [32]byte
		var werr error
		wrote := make(chan struct{})
		go func() {
			want, werr = sendAll(slow, 7, n, 64<<10)
			close(wrote)
		}()
		rs, err := b.Accept(ctx)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		synctest.Wait()
		select {
		case <-wrote:
			t.Fatal("the writer finished with nobody reading")
		default:
		}
		// Another stream is not held up by the stalled one.
		other, _ := a.Open(ctx, session.Header{Service: "other"})
		other.Write([]byte("ping"))
		other.CloseWrite()
		ro, err := b.Accept(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(ro); err != nil || string(got) != "ping" {
			t.Fatalf("other stream: %q, %v", got, err)
		}

		time.Sleep(60 * time.Second)
		if a.State() != session.StateConnected || b.State() != session.StateConnected {
			t.Fatalf("after a minute of back-pressure: %s / %s", a.State(), b.State())
		}
		if st := a.Stats(); st.Paths != 1 {
			t.Fatalf("paths %d: the stall cost a path", st.Paths)
		}
		got, count, err := recvAll(rs, nil)
		<-wrote
		if werr != nil || err != nil {
			t.Fatalf("write %v, read %v", werr, err)
		}
		if count != n || got != want {
			t.Fatalf("%d bytes, intact %v", count, got == want)
		}
		if time.Since(start) < 60*time.Second {
			t.Fatal("clock")
		}
	})
}

// TestDeadPath: a path that silently stops delivering is declared dead
// within DeadAfter + PingInterval on both sides, and the link resumes on a
// new path with nothing lost.
func TestDeadPath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		lost := map[string]time.Time{}
		cfgFor := func(name string) session.Config {
			return session.Config{OnEvent: func(ev session.Event) {
				if ev.Kind == session.EventLost {
					mu.Lock()
					lost[name] = time.Now()
					mu.Unlock()
				}
			}}
		}
		a, err := session.New(cfgFor("a"), true)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := session.New(cfgFor("b"), false)
		defer a.Close()
		defer b.Close()
		x, y := sessiontest.Pipe(t)
		hole := sessiontest.NewBlackhole(x)
		sessiontest.Attach(t, a, b, hole, y)
		ctx := t.Context()
		s, _ := a.Open(ctx, session.Header{})
		r, err := b.Accept(ctx)
		if err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, 1<<20)
		for i := range msg {
			msg[i] = byte(i * 7)
		}
		time.Sleep(5 * time.Second)
		cut := time.Now()
		hole.Cut()
		go func() {
			s.Write(msg)
			s.CloseWrite()
		}()
		time.Sleep(13 * time.Second)
		mu.Lock()
		for _, side := range []string{"a", "b"} {
			at, ok := lost[side]
			if !ok {
				t.Fatalf("%s: the dead path was not noticed in 13 s", side)
			}
			// The last frame came up to a ping interval before the cut.
			if d := at.Sub(cut); d < 8*time.Second || d > 12*time.Second {
				t.Errorf("%s: the dead path was noticed after %v, want 8 to 12 s", side, d)
			}
		}
		mu.Unlock()
		if a.State() != session.StateWaiting {
			t.Fatalf("state %s, want waiting", a.State())
		}
		sessiontest.Connect(t, a, b, sessiontest.Pipe)
		got, err := io.ReadAll(r)
		if err != nil || sha256.Sum256(got) != sha256.Sum256(msg) {
			t.Fatalf("after the resume: %d bytes, %v", len(got), err)
		}
	})
}

// TestGrace: a link without a path waits out the grace period (writers
// wait, nothing fails), resumes when a path comes in time, and fails with
// ErrNoPath, failing its streams with the reason, when none does.
func TestGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := sessiontest.Pair(t, session.Config{Grace: 20 * time.Second})
		pa, _ := sessiontest.Connect(t, a, b, sessiontest.Pipe)
		ctx := t.Context()
		s, _ := a.Open(ctx, session.Header{})
		s.Write([]byte("one"))
		r, err := b.Accept(ctx)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 3)
		io.ReadFull(r, buf)

		// Lost, and back after 19 s: nothing failed.
		pa.Close()
		written := make(chan error, 1)
		go func() {
			_, err := s.Write(make([]byte, 8<<20))
			written <- err
		}()
		time.Sleep(19 * time.Second)
		if a.State() != session.StateWaiting || a.Err() != nil {
			t.Fatalf("after 19 s: %s, %v", a.State(), a.Err())
		}
		pa, _ = sessiontest.Connect(t, a, b, sessiontest.Pipe)
		if _, err := io.ReadFull(r, make([]byte, 8<<20)); err != nil {
			t.Fatalf("after the resume: %v", err)
		}
		if err := <-written; err != nil {
			t.Fatalf("a write across the grace period failed: %v", err)
		}

		// Lost for good: the link fails after 20 s, not before.
		lostAt := time.Now()
		pa.Close()
		time.Sleep(19 * time.Second)
		if a.Err() != nil {
			t.Fatalf("failed before the grace period ended: %v", a.Err())
		}
		<-a.Done()
		if d := time.Since(lostAt); d != 20*time.Second {
			t.Errorf("failed after %v, want 20s", d)
		}
		if !errors.Is(a.Err(), session.ErrNoPath) || a.State() != session.StateFailed {
			t.Errorf("link: %s, %v; want failed with ErrNoPath", a.State(), a.Err())
		}

		// A grace extended while the link waits ends that long after the
		// loss; a shorter one asked for later changes nothing.
		c, d := sessiontest.Pair(t, session.Config{Grace: 5 * time.Second})
		pc, _ := sessiontest.Connect(t, c, d, sessiontest.Pipe)
		lostAt = time.Now()
		pc.Close()
		time.Sleep(time.Second)
		c.ExtendGrace(30 * time.Second)
		c.ExtendGrace(10 * time.Second)
		<-c.Done()
		if took := time.Since(lostAt); took != 30*time.Second || !errors.Is(c.Err(), session.ErrNoPath) {
			t.Errorf("extended grace: failed after %v with %v, want 30s and ErrNoPath", took, c.Err())
		}
		_, err = r.Read(buf)
		var ae *session.AbortError
		if !errors.As(err, &ae) || !errors.Is(err, session.ErrNoPath) {
			t.Errorf("stream read on the failed link: %v, want an AbortError for ErrNoPath", err)
		}
		if _, err := s.Write([]byte("x")); !errors.Is(err, session.ErrNoPath) {
			t.Errorf("stream write on the failed link: %v", err)
		}
		if _, err := a.Open(ctx, session.Header{}); !errors.Is(err, session.ErrNoPath) {
			t.Errorf("open on the failed link: %v", err)
		}
	})
}

// TestDeadlines: a read deadline ends a waiting Read with
// os.ErrDeadlineExceeded and the stream goes on; so does a write deadline
// on a Write held up by the peer's window.
func TestDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := sessiontest.Pair(t, session.Config{})
		sessiontest.Connect(t, a, b, sessiontest.Pipe)
		ctx := t.Context()
		s, _ := a.Open(ctx, session.Header{})
		s.Write([]byte("x"))
		r, err := b.Accept(ctx)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 10)
		r.Read(buf)
		start := time.Now()
		r.SetReadDeadline(start.Add(3 * time.Second))
		if _, err := r.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 3*time.Second {
			t.Fatalf("read: %v after %v, want a deadline error after 3s", err, time.Since(start))
		}
		// A deadline moved later before it passes holds until the new
		// time; one moved earlier passes at the earlier time; neither
		// allocates.
		start = time.Now()
		r.SetReadDeadline(start.Add(time.Second))
		time.Sleep(500 * time.Millisecond)
		r.SetReadDeadline(start.Add(4 * time.Second))
		if _, err := r.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 4*time.Second {
			t.Fatalf("read past a moved deadline: %v after %v, want a deadline error after 4s", err, time.Since(start))
		}
		start = time.Now()
		r.SetReadDeadline(start.Add(10 * time.Second))
		r.SetReadDeadline(start.Add(2 * time.Second))
		if _, err := r.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 2*time.Second {
			t.Fatalf("read past an earlier deadline: %v after %v, want a deadline error after 2s", err, time.Since(start))
		}
		if allocs := testing.AllocsPerRun(100, func() {
			r.SetReadDeadline(time.Now().Add(time.Second))
			r.SetReadDeadline(time.Time{})
		}); allocs != 0 {
			t.Errorf("setting a read deadline allocates %v times", allocs)
		}
		r.SetReadDeadline(time.Time{})
		s.Write([]byte("y"))
		if n, err := r.Read(buf); err != nil || string(buf[:n]) != "y" {
			t.Fatalf("read after the deadline: %q, %v", buf[:n], err)
		}

		// Nobody reads r: the writer fills the window and buffers, then
		// its deadline ends the Write with what it wrote.
		s.SetWriteDeadline(time.Now().Add(5 * time.Second))
		n, err := s.Write(make([]byte, 16<<20))
		if !errors.Is(err, os.ErrDeadlineExceeded) || n <= 0 || n >= 16<<20 {
			t.Fatalf("write: %d, %v; want part written and a deadline error", n, err)
		}
		s.SetWriteDeadline(time.Time{})
		go func() {
			s.Write([]byte("end"))
			s.CloseWrite()
		}()
		got, err := io.ReadAll(r)
		if err != nil || len(got) != n+3 || string(got[n:]) != "end" {
			t.Fatalf("after the write deadline: %d bytes, %v; want %d", len(got), err, n+3)
		}
	})
}
