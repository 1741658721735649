// Package acceptor keeps a listener's accept loop alive and quiet when
// accepting fails for a while, as it does when the process runs out of file
// descriptors (EMFILE): the kernel keeps the pending connection, so an accept
// loop that retries at once spins at full speed and logs each failure.
//
// A Listener wraps a net.Listener. Its Accept retries every failure except
// the listener being closed, pausing 5ms after the first and doubling the
// pause up to 1s (as net/http's Server.Serve does), and logs at most a few
// failures and then one per second, each with the count held back. The
// caller's accept loop and http.Server.Serve never see those failures. It
// does not limit or serve connections.
package acceptor

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reachd/reachd/internal/logthrottle"
)

// Defaults for the zero fields of Config.
const (
	DefaultMinDelay    = 5 * time.Millisecond
	DefaultMaxDelay    = time.Second
	DefaultLogInterval = time.Second
	DefaultLogBurst    = 1
)

// Config configures a Listener. Zero values mean the defaults.
type Config struct {
	// MinDelay is the pause after the first failure in a row; each further
	// failure doubles it. Default 5ms.
	MinDelay time.Duration
	// MaxDelay caps the pause. Default 1s.
	MaxDelay time.Duration
	// Logger receives the failures at warn level, throttled to LogBurst
	// lines and then one per LogInterval, each with "suppressed", the count
	// held back. Default: discard.
	Logger *slog.Logger
	// LogInterval and LogBurst throttle the failure log. Defaults 1s and 1.
	LogInterval time.Duration
	LogBurst    int
}

// Listener is a net.Listener whose Accept waits out failures instead of
// returning them. It is safe for concurrent use.
type Listener struct {
	net.Listener
	cfg  Config
	log  *slog.Logger
	lim  *logthrottle.Limiter
	errs atomic.Uint64

	closeOnce sync.Once
	done      chan struct{}
}

var _ net.Listener = (*Listener)(nil)

// New wraps ln. Close the Listener, not ln, so that a paused Accept returns
// at once.
func New(ln net.Listener, cfg Config) *Listener {
	if cfg.MinDelay <= 0 {
		cfg.MinDelay = DefaultMinDelay
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	cfg.MaxDelay = max(cfg.MaxDelay, cfg.MinDelay)
	if cfg.LogInterval <= 0 {
		cfg.LogInterval = DefaultLogInterval
	}
	if cfg.LogBurst <= 0 {
		cfg.LogBurst = DefaultLogBurst
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Listener{
		Listener: ln,
		cfg:      cfg,
		log:      log,
		lim:      logthrottle.New(cfg.LogInterval, cfg.LogBurst),
		done:     make(chan struct{}),
	}
}

// Accept returns the next connection. It returns an error only once the
// listener is closed (an error matching net.ErrClosed); every other failure
// is counted, logged (throttled) and retried after a pause.
func (l *Listener) Accept() (net.Conn, error) {
	var pause time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			return c, nil
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		if l.closed() {
			return nil, l.errClosed()
		}
		l.errs.Add(1)
		if pause == 0 {
			pause = l.cfg.MinDelay
		} else {
			pause = min(2*pause, l.cfg.MaxDelay)
		}
		if ok, n := l.lim.Allow(); ok {
			l.log.Warn("accept failed, retrying", "addr", l.Addr(), "pause", pause, "err", err, logthrottle.SuppressedKey, n)
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-l.done:
			t.Stop()
			return nil, l.errClosed()
		}
	}
}

// Close closes the underlying listener and ends a paused Accept.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// Failures returns how many accept failures were retried so far.
func (l *Listener) Failures() uint64 { return l.errs.Load() }

func (l *Listener) errClosed() error {
	return &net.OpError{Op: "accept", Net: l.Addr().Network(), Addr: l.Addr(), Err: net.ErrClosed}
}

func (l *Listener) closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}
