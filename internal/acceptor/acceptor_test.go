package acceptor_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reachd/reachd/internal/acceptor"
)

// emfileListener fails every Accept with EMFILE, as a listener does while the
// process's file table is full, until its deadline; then it returns one end
// of a pipe.
type emfileListener struct {
	until  time.Time
	mu     sync.Mutex
	calls  []time.Time
	closed bool
}

func (l *emfileListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.calls = append(l.calls, now)
	if l.closed {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}
	}
	if now.Before(l.until) {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	a, b := net.Pipe()
	b.Close()
	return a, nil
}

func (l *emfileListener) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	return nil
}

func (l *emfileListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// The accept loop under a full file table: before, a loop retried at once and
// logged every failure (millions of lines in seconds). Now it pauses 5ms,
// doubling to 1s, logs once a second with a count, and serves again once
// descriptors are free.
func TestAcceptEMFILEBacksOffAndLogsOncePerSecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		log := slog.New(slog.NewTextHandler(&out, nil))
		const full = 10 * time.Second
		fake := &emfileListener{until: time.Now().Add(full)}
		ln := acceptor.New(fake, acceptor.Config{Logger: log})

		c, err := ln.Accept()
		if err != nil {
			t.Fatalf("Accept after the table freed up: %v", err)
		}
		c.Close()

		var pauses []time.Duration
		for i := 1; i < len(fake.calls); i++ {
			pauses = append(pauses, fake.calls[i].Sub(fake.calls[i-1]))
		}
		want := time.Duration(5 * time.Millisecond)
		for i, p := range pauses {
			if p != want {
				t.Fatalf("pause %d = %v, want %v (all: %v)", i, p, want, pauses)
			}
			want = min(2*want, time.Second)
		}
		if got := ln.Failures(); got != uint64(len(fake.calls)-1) || got < 10 {
			t.Errorf("Failures() = %d over %d calls", got, len(fake.calls))
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if max := int(full/time.Second) + 1; len(lines) > max {
			t.Errorf("%d log lines in %v, want at most %d:\n%s", len(lines), full, max, out.String())
		}
		if !strings.Contains(out.String(), "too many open files") || !strings.Contains(out.String(), "suppressed=") {
			t.Errorf("log lacks the error or the suppressed count:\n%s", out.String())
		}
	})
}

func TestCloseEndsPausedAccept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &emfileListener{until: time.Now().Add(time.Hour)}
		ln := acceptor.New(fake, acceptor.Config{MinDelay: time.Minute})
		errc := make(chan error, 1)
		go func() {
			_, err := ln.Accept()
			errc <- err
		}()
		synctest.Wait() // Accept is paused
		start := time.Now()
		ln.Close()
		err := <-errc
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("Accept returned %v after Close, want at once", d)
		}
	})
}

func TestMaxDelayCapsPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &emfileListener{until: time.Now().Add(50 * time.Millisecond)}
		ln := acceptor.New(fake, acceptor.Config{MinDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond})
		if _, err := ln.Accept(); err != nil {
			t.Fatal(err)
		}
		if n := ln.Failures(); n < 20 {
			t.Errorf("Failures() = %d with a 2ms cap over 50ms", n)
		}
	})
}
