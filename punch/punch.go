// Package punch holds the mechanics of reachd's TCP connection strategies:
// choosing and dialing a peer's direct addresses ([Candidates],
// [DialDirect]), predicting NAT port mappings ([Predict],
// [PredictEndpoint]), and NTP-synchronised TCP simultaneous open ([Punch],
// [MeetingTime]), plus which side is the TLS client afterwards ([Role]).
//
// It does not signal, authenticate or run STUN: the node orchestrates the
// strategies, exchanges mappings and meeting times over signaling, and
// passes in what punch needs through small interfaces declared here
// ([Dialer], [Mapper]). Connections come back raw; TLS is the caller's.
//
// How a punch meets: both nodes predict their own external endpoint for a
// chosen local port, swap them with a meeting time, and at that time (on
// the shared, NTP-corrected clock) each calls Punch with its local port and
// the other's predicted endpoint. Punch dials again and again from that one
// port, so every outbound SYN refreshes the NAT mapping, and a SYN from the
// peer that arrives while our connect is pending completes a TCP
// simultaneous open. Each dial stays pending long enough for the peer's
// answer to cross the path (sized from Config.RTT), and a dial abandoned
// is aborted, so that it never holds the 4-tuple the next dial needs. The
// dials follow a grid anchored at the meeting time, so both sides' SYNs
// keep leaving together; that counts where a NAT answers an early SYN with a reset (see nextSlot).
// A dial that such a NAT refused is followed at once, not at the next
// slot, so that the two sides' SYNs soon cross on the way (see
// refusedRedial). A SYN that arrives
// between two dials would be refused by our kernel, so by default Punch
// also listens on the same port (SO_REUSEPORT) and accepts the peer from
// there; a pending connect still wins any SYN for it, because the kernel
// matches a connecting socket's exact 4-tuple before any listener.
package punch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Defaults for Config.
const (
	DefaultWindow         = 3 * time.Second
	DefaultInterval       = 20 * time.Millisecond
	DefaultAttemptTimeout = 500 * time.Millisecond
)

// Sizing from the round trip (Config.RTT).
const (
	// AttemptRTTs is how many round trips a dial attempt lasts at least:
	// the peer's answer to our SYN (its SYN-ACK, or its own SYN crossing
	// ours) comes about one round trip after our SYN left, later by the
	// clock error between the peers and the path's jitter.
	AttemptRTTs = 1.5
	// WindowAttempts is how many full attempts the window holds at least.
	WindowAttempts = 4
)

// Config is one side of a hole punch.
type Config struct {
	// LocalAddr is the ip:port every dial binds (and the listener, unless
	// NoListen). Required, with a non-zero port; the IP may be unspecified
	// (0.0.0.0 or ::). It must be the port whose mapping was predicted.
	LocalAddr netip.AddrPort
	// Remote is the peer's predicted external endpoint. Required, same
	// family as LocalAddr.
	Remote netip.AddrPort
	// At is when to start dialing, on the shared clock (see Now). Zero
	// means now. If At is already past, Punch starts at once and still
	// stops at At+Window.
	At time.Time
	// Now is the shared, NTP-corrected clock At refers to. Default
	// time.Now. It is read once, at the start of Punch.
	Now func() time.Time
	// Window is how long after At Punch keeps trying. Default DefaultWindow.
	Window time.Duration
	// Interval spaces the dials: they start at At, At+Interval,
	// At+2*Interval, ... (every fourth a random part of an Interval
	// later), skipping slots that pass while a dial is still pending.
	// Default DefaultInterval.
	Interval time.Duration
	// AttemptTimeout bounds one dial: a connect still pending after it is
	// given up (aborted, so its 4-tuple is free at once) and a fresh one
	// made; a connect that has heard the peer's SYN by then (on Linux)
	// gets one more AttemptTimeout. Default DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// RTT is the measured round trip to the peer; the signaling echo's
	// will do (it is rarely shorter than the direct path's). Zero means
	// unknown. When set, AttemptTimeout (given or default) is raised to at
	// least AttemptRTTs round trips, and then Window to at least
	// WindowAttempts attempts, so an attempt lives until the peer's answer
	// can come, and several fit in the window. Default zero.
	RTT time.Duration
	// NoListen turns off the listener on LocalAddr, so that only our own
	// connects can complete (pure simultaneous open). Default false.
	NoListen bool
	// Logger gets debug logs of each attempt. Default discards.
	Logger *slog.Logger
	// FirstDial, when not nil, is called as the first dial starts.
	FirstDial func()
}

func (c *Config) fill() error {
	switch {
	case !c.LocalAddr.IsValid() || c.LocalAddr.Port() == 0:
		return fmt.Errorf("punch: config: local address %q needs an IP and a non-zero port", c.LocalAddr)
	case !c.Remote.IsValid() || c.Remote.Port() == 0 || c.Remote.Addr().IsUnspecified():
		return fmt.Errorf("punch: config: remote address %q needs an IP and a non-zero port", c.Remote)
	case c.LocalAddr.Addr().Unmap().Is4() != c.Remote.Addr().Unmap().Is4():
		return fmt.Errorf("punch: config: local %s and remote %s are of different IP families", c.LocalAddr, c.Remote)
	case c.Window < 0 || c.Interval < 0 || c.AttemptTimeout < 0 || c.RTT < 0:
		return errors.New("punch: config: negative window, interval, attempt timeout or rtt")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.AttemptTimeout, c.Window = sized(c.RTT, c.AttemptTimeout, c.Window)
	return nil
}

// sized stretches an attempt timeout and a window to a round trip: the
// attempt to at least AttemptRTTs round trips, the window to at least
// WindowAttempts of the resulting attempts. A zero rtt changes nothing.
func sized(rtt, attempt, window time.Duration) (time.Duration, time.Duration) {
	attempt = max(attempt, time.Duration(AttemptRTTs*float64(rtt)))
	if rtt > 0 {
		window = max(window, WindowAttempts*attempt)
	}
	return attempt, window
}

// MeetingTime is when both sides of a punch should start, given the current
// shared time and the signaling round trip: now + rtt + a margin, and at
// least now + 100ms. The initiator sends its request with the meeting
// time at once (now), and the round trip brings the responder's reply, with
// the endpoint to dial, just before it. The margin absorbs the responder's
// preparation, jitter and clock error: 50ms, or a quarter of the round
// trip where that is more, because jitter grows with the path (queues on
// congested and mobile links) and the round trip may be an estimate. A
// side that is late still meets the other: both keep dialling through
// their window. A negative rtt counts as zero.
func MeetingTime(now time.Time, rtt time.Duration) time.Time {
	rtt = max(rtt, 0)
	margin := max(50*time.Millisecond, rtt/4)
	return now.Add(max(rtt+margin, 100*time.Millisecond))
}

// Punch makes one TCP connection between cfg.LocalAddr and cfg.Remote by
// dialing repeatedly from that local port during [cfg.At, cfg.At+Window),
// succeeding on a TCP simultaneous open, a plain connect, or (unless
// NoListen) the peer's connect arriving at our listener from the remote IP.
// It returns the one connection; every other socket it opened is closed
// before it returns. When the window ends first the error wraps
// [ErrWindowClosed] and the last dial error; when ctx ends first it wraps
// ctx's error.
func Punch(ctx context.Context, cfg Config) (net.Conn, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("component", "punch", "local", cfg.LocalAddr, "remote", cfg.Remote)

	// Turn the shared clock into local monotonic time once.
	var startIn time.Duration
	if !cfg.At.IsZero() {
		startIn = cfg.At.Sub(cfg.Now())
	}
	if startIn+cfg.Window <= 0 {
		return nil, fmt.Errorf("%w: %s -> %s: meeting time was %s ago", ErrWindowClosed, cfg.LocalAddr, cfg.Remote, -startIn)
	}
	// origin is At on our monotonic clock; it may be past, and it stays
	// the origin of the dial grid so both sides' dials keep in step.
	origin := time.Now().Add(startIn)
	log.Debug("punch starting", "in", startIn, "rtt", cfg.RTT, "attempt_timeout", cfg.AttemptTimeout, "window", cfg.Window)
	wctx, cancel := context.WithDeadline(ctx, origin.Add(cfg.Window))
	defer cancel()

	p := puncher{cfg: cfg, log: log, network: tcpNetwork(cfg.LocalAddr.Addr())}
	var accepted <-chan net.Conn
	if !cfg.NoListen {
		a, err := p.listen(ctx)
		if err != nil {
			return nil, err
		}
		defer a.close()
		accepted = a.conns
	}
	conn, err := p.run(wctx, origin, origin.Add(cfg.Window), accepted)
	if err == nil {
		return conn, nil
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("punch: %s -> %s: %w", cfg.LocalAddr, cfg.Remote, context.Cause(ctx))
	}
	return nil, err
}

type puncher struct {
	cfg     Config
	log     *slog.Logger
	network string
	dials   int
	redials int // dials made at once after a reset (refusedRedial)
	lastErr error
}

// run dials on the grid start+k*Interval, from the first slot not yet past,
// until a connection is made or ctx ends.
func (p *puncher) run(ctx context.Context, start, end time.Time, accepted <-chan net.Conn) (net.Conn, error) {
	timer := time.NewTimer(time.Until(start))
	defer timer.Stop()
	slots := timer.C // nil once no slot is left in the window
	for {
		select {
		case c := <-accepted:
			return p.won(c, "accepted")
		case <-slots:
		case <-ctx.Done():
			return nil, p.closed()
		}

		p.dials++
		if p.dials == 1 && p.cfg.FirstDial != nil {
			p.cfg.FirstDial()
		}
		dialAt := time.Now()
		r, c := p.attempt(ctx, accepted)
		if c != nil {
			return p.won(c, "accepted")
		}
		if r.err == nil {
			return p.won(r.conn, "dialed")
		}
		if (ctx.Err() == nil && time.Now().Before(end)) || p.lastErr == nil {
			// A dial cut short by the window's end (its dialer's deadline
			// may pass before ctx says so) says less than the failure
			// before it.
			p.lastErr = r.err
		}
		p.log.Debug("punch dial failed", "attempt", p.dials, "err", r.err)
		if errors.Is(r.err, syscall.EADDRINUSE) {
			// Another socket without SO_REUSEPORT owns the port: no dial
			// from it can ever succeed.
			return nil, fmt.Errorf("punch: %s -> %s: local port taken: %w", p.cfg.LocalAddr, p.cfg.Remote, r.err)
		}
		if ctx.Err() != nil {
			return nil, p.closed()
		}
		next := nextSlot(start, dialAt, time.Now(), p.cfg.Interval, randomDither)
		if errors.Is(r.err, syscall.ECONNREFUSED) && p.redials < maxRefusedRedials {
			// The peer's NAT resets SYNs it has no mapping for: see
			// refusedRedial.
			p.redials++
			next = time.Now().Add(refusedRedial(p.cfg.Interval, randomDither))
		}
		if next.Before(end) {
			timer.Reset(time.Until(next))
		} else {
			slots = nil
		}
	}
}

func (p *puncher) won(c net.Conn, how string) (net.Conn, error) {
	p.log.Debug("punch connected", "how", how, "attempts", p.dials,
		"local_addr", c.LocalAddr(), "remote_addr", c.RemoteAddr())
	return c, nil
}

func (p *puncher) closed() error {
	if p.lastErr == nil {
		return fmt.Errorf("%w: %s -> %s after %d dials", ErrWindowClosed, p.cfg.LocalAddr, p.cfg.Remote, p.dials)
	}
	return fmt.Errorf("%w: %s -> %s after %d dials, last: %w", ErrWindowClosed, p.cfg.LocalAddr, p.cfg.Remote, p.dials, p.lastErr)
}
