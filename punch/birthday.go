package punch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// Birthday punching: a hole punch between a NAT that maps every connection
// to a random port (hard) and one whose mapping can be predicted (easy).
// The hard side cannot say which port its NAT will use, so it opens many:
// N SYNs to the easy side's predicted endpoint, each from a socket of its
// own, so N mappings; the easy side then probes M random ports of the
// hard side's external IP from its predicted port. A probe that hits one
// of the N mappings reaches the hard side's pending socket and completes a
// TCP simultaneous open (the easy NAT lets the answer in, as the probe
// opened it). With the ports drawn from 64,512, the chance that some probe
// hits is about 1-exp(-N*M/64512): 64% at 256 x 256, 98% at 512 x 512,
// and practically certain at the default 1,024 x 1,024.
//
// The schedule, on the shared clock, from the meeting time At:
//
//	[At, At+Spread)                      the hard side sends its N SYNs, paced
//	At+Spread+margin, for Spread         the easy side sends its M probes, paced,
//	                                     each pending until the punch ends
//	At+2*Spread+margin+answerWait/2      the hard side's second pass, for Spread,
//	                                     only when the easy NAT reset its SYNs
//	until At+BirthdayDuration            the answers to the last SYNs
//
// The hard side goes first so that a probe finds its mapping made: a hard
// NAT that resets unsolicited SYNs kills the probes that come too early.
// An easy NAT that resets kills each mapping whose SYN reaches it before
// a probe opened it; so the hard side, once its first SYN is reset, keeps
// the rest of its budget for a second pass after the probes: a SYN whose
// random port a probe went to reaches that probe's pending socket.
// Where both NATs reset, neither order works.
//
// Several probes may hit. The easy side picks the first connection it
// gets and writes one byte, pickByte, on it; it aborts the others. The
// hard side keeps the connection on which it reads that byte. The caller's
// preamble follows on the picked connection. Every other socket is
// closed with a reset (SO_LINGER 0), so nothing lingers in either kernel.

// Defaults for BirthdayConfig.
const (
	DefaultBirthdaySYNs    = 1024
	DefaultBirthdaySockets = 1280
	DefaultBirthdaySpread  = time.Second
)

// pickByte is what the easy side writes on the connection it keeps.
const pickByte = 'B'

// minBirthdayPort and maxBirthdayPort bound the ports the easy side
// probes: Linux's masquerade draws random ports from this range (64,512).
const (
	minBirthdayPort = 1024
	maxBirthdayPort = 65535
)

// fdReserve is how many descriptors Birthday leaves to the rest of the
// process when the file limit is near.
const fdReserve = 128

// BirthdaySide says which end of a birthday punch we are.
type BirthdaySide int

const (
	// BirthdayHard is the side behind the NAT that maps to random ports:
	// it opens many mappings towards the easy side's endpoint.
	BirthdayHard BirthdaySide = iota + 1
	// BirthdayEasy is the side whose mapping was predicted: it probes
	// random ports of the hard side's external IP.
	BirthdayEasy
)

func (s BirthdaySide) String() string {
	switch s {
	case BirthdayHard:
		return "hard"
	case BirthdayEasy:
		return "easy"
	}
	return "unknown"
}

// BirthdayConfig is one side of a birthday punch.
type BirthdayConfig struct {
	// Side is which end we are. Required.
	Side BirthdaySide
	// LocalAddr is where our sockets bind. The easy side: the port whose
	// mapping it predicted (required, non-zero), shared by every probe and
	// a listener. The hard side: the interface's IP with port zero, so
	// each socket gets a port of its own.
	LocalAddr netip.AddrPort
	// Remote is the peer: the hard side dials the easy side's predicted
	// endpoint; the easy side probes ports of Remote's IP (Remote's port
	// is ignored). Required, same family as LocalAddr.
	Remote netip.AddrPort
	// At is the meeting time on the shared clock (see Now). Zero means now.
	At time.Time
	// Now is the shared, NTP-corrected clock. Default time.Now.
	Now func() time.Time
	// SYNs is the budget of SYNs we send: the hard side's N, the easy
	// side's M. Default DefaultBirthdaySYNs.
	SYNs int
	// Sockets bounds the sockets we hold open at once. The hard side
	// holds all SYNs' sockets until the probes have had their chance, so
	// it sends at most Sockets SYNs. Both are lowered to what the file
	// limit (RLIMIT_NOFILE) leaves free. Default DefaultBirthdaySockets.
	Sockets int
	// Spread is how long each side takes to send its SYNs, paced evenly.
	// Both sides must use the same. Default DefaultBirthdaySpread.
	Spread time.Duration
	// RTT is the measured round trip to the peer; it sizes how long a
	// probe waits for its answer and the margin between the two phases.
	// Zero means unknown.
	RTT time.Duration
	// Logger gets debug logs. Default discards.
	Logger *slog.Logger
	// Ports, when not nil, draws n distinct ports for the easy side to
	// probe. Default: uniformly random in [1024, 65535].
	Ports func(n int) []uint16
	// FirstDial, when not nil, is called as the first SYN is sent.
	FirstDial func()
}

func (c *BirthdayConfig) fill() error {
	switch {
	case c.Side != BirthdayHard && c.Side != BirthdayEasy:
		return fmt.Errorf("punch: birthday config: unknown side %d", c.Side)
	case !c.LocalAddr.IsValid() || (c.Side == BirthdayEasy && c.LocalAddr.Port() == 0):
		return fmt.Errorf("punch: birthday config: local address %q needs an IP (and, on the easy side, a port)", c.LocalAddr)
	case !c.Remote.IsValid() || c.Remote.Addr().IsUnspecified() || (c.Side == BirthdayHard && c.Remote.Port() == 0):
		return fmt.Errorf("punch: birthday config: remote address %q needs an IP (and, on the hard side, a port)", c.Remote)
	case c.LocalAddr.Addr().Unmap().Is4() != c.Remote.Addr().Unmap().Is4():
		return fmt.Errorf("punch: birthday config: local %s and remote %s are of different IP families", c.LocalAddr, c.Remote)
	case c.SYNs < 0 || c.Sockets < 0 || c.Spread < 0 || c.RTT < 0:
		return errors.New("punch: birthday config: negative budget, spread or rtt")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SYNs == 0 {
		c.SYNs = DefaultBirthdaySYNs
	}
	if c.Sockets == 0 {
		c.Sockets = DefaultBirthdaySockets
	}
	if c.Spread == 0 {
		c.Spread = DefaultBirthdaySpread
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Ports == nil {
		c.Ports = randomPorts
	}
	return nil
}

// answerWait is how long a phase's last SYN waits for its answer: two
// round trips, and at least 250ms.
func answerWait(rtt time.Duration) time.Duration { return max(250*time.Millisecond, 2*rtt) }

// phaseMargin separates the hard side's SYNs from the easy side's probes,
// for the clock error between the peers and the way across.
func phaseMargin(rtt time.Duration) time.Duration { return max(100*time.Millisecond, rtt) }

// BirthdayDuration is how long a birthday punch runs after its meeting
// time at most, given the spread and the round trip: both phases, the
// hard side's second pass (see birthday.hard), the last probe's life, and
// a round trip for the pick byte.
func BirthdayDuration(spread, rtt time.Duration) time.Duration {
	if spread == 0 {
		spread = DefaultBirthdaySpread
	}
	return 3*spread + phaseMargin(rtt) + answerWait(rtt) + 2*rtt + 100*time.Millisecond
}

// Birthday makes one TCP connection to the peer by a birthday punch (see
// the comment above BirthdayConfig): the hard side from one of many
// sockets, the easy side from LocalAddr. Every other socket is aborted
// before it returns. When no probe hits before the punch's time is up,
// the error wraps ErrWindowClosed; when ctx ends first, ctx's error.
func Birthday(ctx context.Context, cfg BirthdayConfig) (net.Conn, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	room, err := fdRoom()
	if err != nil {
		return nil, fmt.Errorf("punch: birthday: %w", err)
	}
	if room >= 0 {
		cfg.Sockets = min(cfg.Sockets, room-fdReserve)
	}
	if cfg.Side == BirthdayHard {
		cfg.SYNs = min(cfg.SYNs, cfg.Sockets)
	}
	if cfg.Sockets < 1 || cfg.SYNs < 1 {
		return nil, fmt.Errorf("punch: birthday: %w: %d descriptors free", errNoDescriptors, room)
	}
	log := cfg.Logger.With("component", "punch", "mode", "birthday", "side", cfg.Side, "local", cfg.LocalAddr, "remote", cfg.Remote)

	var startIn time.Duration
	if !cfg.At.IsZero() {
		startIn = cfg.At.Sub(cfg.Now())
	}
	total := BirthdayDuration(cfg.Spread, cfg.RTT)
	if startIn+total <= 0 {
		return nil, fmt.Errorf("%w: birthday %s -> %s: meeting time was %s ago", ErrWindowClosed, cfg.LocalAddr, cfg.Remote, -startIn)
	}
	origin := time.Now().Add(startIn)
	wctx, cancel := context.WithDeadline(ctx, origin.Add(total))
	defer cancel()
	log.Debug("birthday punch starting", "in", startIn, "syns", cfg.SYNs, "sockets", cfg.Sockets, "spread", cfg.Spread, "rtt", cfg.RTT)

	b := &birthday{cfg: cfg, log: log, network: tcpNetwork(cfg.LocalAddr.Addr())}
	var conn net.Conn
	if cfg.Side == BirthdayHard {
		conn, err = b.hard(wctx, origin, origin.Add(2*cfg.Spread+phaseMargin(cfg.RTT)+answerWait(cfg.RTT)/2))
	} else {
		conn, err = b.easy(wctx, origin.Add(cfg.Spread+phaseMargin(cfg.RTT)))
	}
	if err == nil {
		log.Debug("birthday punch connected", "syns", b.sent, "local_addr", conn.LocalAddr(), "remote_addr", conn.RemoteAddr())
		return conn, nil
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("punch: birthday %s -> %s: %w", cfg.LocalAddr, cfg.Remote, context.Cause(ctx))
	}
	return nil, err
}

type birthday struct {
	cfg     BirthdayConfig
	log     *slog.Logger
	network string
	sent    int
}

// dialer makes one birthday socket's connect: from LocalAddr, aborted
// (not closed) when given up.
func (b *birthday) dialer() *net.Dialer {
	if b.cfg.Side == BirthdayEasy {
		return &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(b.cfg.LocalAddr), Control: abortControl}
	}
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: b.cfg.LocalAddr.Addr().AsSlice()}, Control: lingerControl}
}

// paced calls send(k) for k in [0, n) at start+k*Spread/n, each when
// acquire lets it (a socket is free), until ctx ends or stop is closed.
func (b *birthday) paced(ctx context.Context, start time.Time, n int, stop <-chan struct{}, acquire func() bool, send func(k int)) {
	pace := b.cfg.Spread / time.Duration(n)
	timer := time.NewTimer(time.Until(start))
	defer timer.Stop()
	for k := range n {
		select {
		case <-timer.C:
		case <-ctx.Done():
			return
		case <-stop:
			return
		}
		if !acquire() {
			return
		}
		if b.sent == 0 && b.cfg.FirstDial != nil {
			b.cfg.FirstDial()
		}
		b.sent++
		send(k)
		timer.Reset(time.Until(start.Add(time.Duration(k+1) * pace)))
	}
}

// abort closes c with a reset.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// randomPorts draws n distinct ports uniformly from [minBirthdayPort,
// maxBirthdayPort] (all of them when n is larger).
func randomPorts(n int) []uint16 {
	const size = maxBirthdayPort - minBirthdayPort + 1
	n = min(n, size)
	// A partial Fisher-Yates shuffle over a sparse permutation.
	swapped := make(map[int]int, n)
	at := func(i int) int {
		if v, ok := swapped[i]; ok {
			return v
		}
		return i
	}
	ports := make([]uint16, n)
	for i := range n {
		j := i + rand.N(size-i)
		vi, vj := at(i), at(j)
		swapped[i], swapped[j] = vj, vi
		ports[i] = uint16(minBirthdayPort + vj)
	}
	return ports
}

// sockets counts the birthday sockets open at once against a budget.
type sockets struct {
	mu   sync.Mutex
	cond *sync.Cond
	n    int
	max  int
	done bool
}

func newSockets(max int) *sockets {
	s := &sockets{max: max}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// acquire waits for a free socket; false once stopped.
func (s *sockets) acquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.n >= s.max && !s.done {
		s.cond.Wait()
	}
	if s.done {
		return false
	}
	s.n++
	return true
}

func (s *sockets) release() {
	s.mu.Lock()
	s.n--
	s.mu.Unlock()
	s.cond.Broadcast()
}

func (s *sockets) stop() {
	s.mu.Lock()
	s.done = true
	s.mu.Unlock()
	s.cond.Broadcast()
}

// refused reports whether err is a reset answering our SYN.
func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
