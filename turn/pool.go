package turn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/pion/stun/v4"
)

// A Pool is a node's view of its TURN servers: which one is nearest, which
// are failing. It measures each server's round trip with a STUN Binding
// request over TCP (every TURN server answers them: pion's and coturn),
// every PoolConfig.Interval, and learns from the allocations the relay
// strategy reports. Order puts the preferred server first: the nearest,
// kept until another is nearer by more than the hysteresis, so that a
// node's relays do not flap between servers of about the same distance.
// A server that failed a probe or an allocation, or refused one (full, or
// refusing us), cools down at the end of the order for PoolConfig.Cooldown,
// so allocations spread over the others and a dead server is not dialled
// first on every resume.
//
// The pool keeps no allocation and dials nothing but its probes; what it
// knows is per process.
type Pool struct {
	cfg  PoolConfig
	urls []string

	mu      sync.Mutex
	servers map[string]*poolServer
	pref    string // the preferred server, "" before the first measurement
}

type poolServer struct {
	rtt     time.Duration // smoothed; 0 before a measurement
	failed  time.Time     // when it last failed; zero if it did not
	lastErr error
}

// PoolConfig configures a Pool. Only URLs is required.
type PoolConfig struct {
	// URLs are the TURN servers, turn://user:pass@host:port, in configured
	// order (the order before any measurement).
	URLs []string
	// Probe measures one server's round trip. Default: a STUN Binding
	// request over a new TCP connection to the server, timed from the
	// request to its answer.
	Probe func(ctx context.Context, url string) (time.Duration, error)
	// Interval is the time between two rounds of probes. Default 5m: a
	// round is a TCP connection to every server, which 100,000 nodes make
	// 333 times a second per server at 5m; allocations report in between.
	Interval time.Duration
	// ProbeTimeout bounds one probe. Default 3s.
	ProbeTimeout time.Duration
	// Hysteresis is how much nearer than the preferred server another one
	// must be to replace it, as a fraction of the preferred one's round
	// trip; the gain must also be at least MinGain. Default 0.25.
	Hysteresis float64
	// MinGain is the least round-trip gain that replaces the preferred
	// server. Default 2ms.
	MinGain time.Duration
	// Cooldown is how long a server that failed stays at the end of the
	// order (unless a probe succeeds first). Default 30s.
	Cooldown time.Duration
	// Logger receives the pool's logs (component=turnpool). Default: discard.
	Logger *slog.Logger
}

// Defaults for the zero fields of PoolConfig.
const (
	DefaultPoolInterval   = 5 * time.Minute
	DefaultProbeTimeout   = 3 * time.Second
	DefaultPoolHysteresis = 0.25
	DefaultPoolMinGain    = 2 * time.Millisecond
	DefaultPoolCooldown   = 30 * time.Second
)

// NewPool validates cfg and returns a Pool. Call Run to measure.
func NewPool(cfg PoolConfig) (*Pool, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("turn: pool: no server")
	}
	for _, u := range cfg.URLs {
		if _, err := ParseURL(u); err != nil {
			return nil, fmt.Errorf("turn: pool: %w", err)
		}
	}
	if cfg.Probe == nil {
		cfg.Probe = ProbeBinding
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultPoolInterval
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = DefaultProbeTimeout
	}
	if cfg.Hysteresis <= 0 {
		cfg.Hysteresis = DefaultPoolHysteresis
	}
	if cfg.MinGain <= 0 {
		cfg.MinGain = DefaultPoolMinGain
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = DefaultPoolCooldown
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("component", "turnpool")
	p := &Pool{cfg: cfg, urls: slices.Clone(cfg.URLs), servers: make(map[string]*poolServer)}
	for _, u := range p.urls {
		p.servers[u] = &poolServer{}
	}
	return p, nil
}

// Run probes every server at once, then every Interval, until ctx ends.
func (p *Pool) Run(ctx context.Context) {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		p.probeAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probeAll probes the servers in parallel and waits for every probe.
func (p *Pool) probeAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, u := range p.urls {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, p.cfg.ProbeTimeout)
			defer cancel()
			rtt, err := p.cfg.Probe(pctx, u)
			if ctx.Err() != nil {
				return // shutting down: not the server's fault
			}
			p.observe(u, rtt, err)
		})
	}
	wg.Wait()
}

// Report tells the pool how an allocation on url went: err nil with the
// time it took, or the failure (a refusal, a timeout, a lost server).
func (p *Pool) Report(url string, took time.Duration, err error) {
	p.observe(url, took, err)
}

func (p *Pool) observe(url string, rtt time.Duration, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.servers[url]
	if !ok {
		return
	}
	now := time.Now()
	if err != nil {
		if s.failed.IsZero() || now.Sub(s.failed) > p.cfg.Cooldown {
			p.cfg.Logger.Info("turn server failing", "server", redact(url), "err", err)
		}
		s.failed, s.lastErr = now, err
		if p.pref == url {
			p.pref = ""
		}
		p.choose(now)
		return
	}
	rtt = max(rtt, time.Microsecond)
	if s.rtt == 0 || !s.failed.IsZero() {
		s.rtt = rtt
	} else {
		s.rtt = (3*s.rtt + rtt) / 4 // smoothed as TCP's SRTT
	}
	s.failed, s.lastErr = time.Time{}, nil
	p.choose(now)
}

// choose updates the preferred server: the nearest healthy one when there
// is none, else a nearer one only beyond the hysteresis.
func (p *Pool) choose(now time.Time) {
	best := ""
	for _, u := range p.urls {
		s := p.servers[u]
		if s.rtt == 0 || p.cooling(s, now) {
			continue
		}
		if best == "" || s.rtt < p.servers[best].rtt {
			best = u
		}
	}
	if best == "" || best == p.pref {
		return
	}
	if p.pref != "" && !p.cooling(p.servers[p.pref], now) {
		cur, nb := p.servers[p.pref].rtt, p.servers[best].rtt
		gain := cur - nb
		if gain < p.cfg.MinGain || float64(gain) < p.cfg.Hysteresis*float64(cur) {
			return
		}
	}
	p.cfg.Logger.Info("turn server preferred", "server", redact(best), "rtt", p.servers[best].rtt)
	p.pref = best
}

func (p *Pool) cooling(s *poolServer, now time.Time) bool {
	return !s.failed.IsZero() && now.Sub(s.failed) < p.cfg.Cooldown
}

// Order returns the servers to try for an allocation: the preferred one,
// then the other measured ones by round trip, then those not measured yet
// in configured order, then those cooling down, the longest cooling first.
func (p *Pool) Order() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	out := slices.Clone(p.urls)
	rank := func(u string) int {
		s := p.servers[u]
		switch {
		case p.cooling(s, now):
			return 3
		case u == p.pref:
			return 0
		case s.rtt > 0:
			return 1
		default:
			return 2
		}
	}
	slices.SortStableFunc(out, func(a, b string) int {
		ra, rb := rank(a), rank(b)
		if ra != rb {
			return ra - rb
		}
		sa, sb := p.servers[a], p.servers[b]
		switch ra {
		case 1:
			return int(sa.rtt - sb.rtt)
		case 3:
			return sa.failed.Compare(sb.failed)
		}
		return 0
	})
	return out
}

// PoolServer is one server's state in a Pool.
type PoolServer struct {
	URL       string        // redacted: no password
	RTT       time.Duration // smoothed round trip; 0 before a measurement
	Preferred bool
	Cooling   bool   // failed within the cooldown
	LastError string // of its last failure, while cooling
}

// Servers returns every server's state, in Order.
func (p *Pool) Servers() []PoolServer {
	order := p.Order()
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	out := make([]PoolServer, 0, len(order))
	for _, u := range order {
		s := p.servers[u]
		ps := PoolServer{URL: redact(u), RTT: s.rtt, Preferred: u == p.pref, Cooling: p.cooling(s, now)}
		if ps.Cooling && s.lastErr != nil {
			ps.LastError = s.lastErr.Error()
		}
		out = append(out, ps)
	}
	return out
}

// ProbeBinding measures a TURN server's round trip: it opens a TCP
// connection to the server and times a STUN Binding request's answer.
func ProbeBinding(ctx context.Context, url string) (time.Duration, error) {
	srv, err := ParseURL(url)
	if err != nil {
		return 0, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", srv.Addr())
	if err != nil {
		return 0, fmt.Errorf("turn: probe %s: %w", srv.Addr(), err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	start := time.Now()
	if _, err := c.Write(req.Raw); err != nil {
		return 0, fmt.Errorf("turn: probe %s: %w", srv.Addr(), err)
	}
	// A STUN message over TCP: a 20-byte header whose length field counts
	// the attributes after it.
	buf := make([]byte, 1500)
	n := 0
	want := func() int {
		if n < 20 {
			return 20
		}
		return 20 + (int(buf[2])<<8 | int(buf[3]))
	}
	for n < want() {
		if n == len(buf) {
			return 0, fmt.Errorf("turn: probe %s: answer too long", srv.Addr())
		}
		k, err := c.Read(buf[n:])
		if err != nil {
			return 0, fmt.Errorf("turn: probe %s: %w", srv.Addr(), err)
		}
		n += k
	}
	rtt := time.Since(start)
	var res stun.Message
	res.Raw = buf[:n]
	if err := res.Decode(); err != nil {
		return 0, fmt.Errorf("turn: probe %s: %w", srv.Addr(), err)
	}
	if res.TransactionID != req.TransactionID || res.Type != stun.BindingSuccess {
		return 0, fmt.Errorf("turn: probe %s: unexpected answer %v", srv.Addr(), res.Type)
	}
	return rtt, nil
}
