package rendezvous

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/pion/stun/v4"
	"golang.org/x/time/rate"

	"github.com/reachd/reachd/internal/keyrate"
	"github.com/reachd/reachd/natprobe"
)

// Dial-back defaults, used when the STUNConfig field is zero.
const (
	defaultDialBackTimeout = 2 * time.Second
	defaultDialBackAnswer  = time.Second
	minDialBackTimeout     = 100 * time.Millisecond // the least a client may ask for
	defaultDialBackEvery   = 6 * time.Second        // per source IP: 10 a minute...
	defaultDialBackBurst   = 10                     // ...after a burst of 10
	defaultDialBackRate    = 20                     // per second, all sources together
	maxDialBackSources     = 10000                  // per-IP limiters kept at most
)

// dialBacker is the dial-back service of the STUN server (see
// natprobe.AttrDialBack for the wire format): on a Binding request over
// TCP with DIAL-BACK it connects to the asked port of the request's own
// source IP, writes DIAL-BACK-DATA, reads the first bytes that come back
// and reports what happened. It never dials another IP than the source,
// so it cannot be used to scan third parties; TCP (not UDP) proves the
// source. Requests are rate-limited per source IP and in all.
type dialBacker struct {
	from                netip.Addr // STUNConfig.DialBackFrom
	ipsMu               sync.Mutex
	ips                 []netip.Addr // this server's listen IPs, for the default source; ipsMu
	timeout, answerWait time.Duration
	sources             *keyrate.Limiter[netip.Addr]
	dial                func(ctx context.Context, from netip.Addr, network, addr string) (net.Conn, error)
	log                 *slog.Logger
}

func newDialBacker(cfg STUNConfig, log *slog.Logger) *dialBacker {
	d := &dialBacker{
		from:       cfg.DialBackFrom.Unmap(),
		log:        log,
		timeout:    cfg.DialBackTimeout,
		answerWait: defaultDialBackAnswer,
	}
	if d.timeout <= 0 {
		d.timeout = defaultDialBackTimeout
	}
	every, burst := cfg.DialBackEvery, cfg.DialBackBurst
	if every <= 0 {
		every = defaultDialBackEvery
	}
	if burst <= 0 {
		burst = defaultDialBackBurst
	}
	d.sources = keyrate.New[netip.Addr](keyrate.Config{
		PerKey: rate.Every(every), PerKeyBurst: burst,
		Global: defaultDialBackRate, GlobalBurst: 2 * defaultDialBackRate,
		MaxKeys: maxDialBackSources,
	})
	d.dial = func(ctx context.Context, from netip.Addr, network, addr string) (net.Conn, error) {
		var nd net.Dialer
		if from.IsValid() {
			nd.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))
		}
		return nd.DialContext(ctx, network, addr)
	}
	return d
}

// addIP records one of the server's listen IPs (unspecified ones aside),
// candidates for the default dial-back source.
func (d *dialBacker) addIP(ip netip.Addr) {
	ip = ip.Unmap()
	d.ipsMu.Lock()
	defer d.ipsMu.Unlock()
	if ip.IsValid() && !ip.IsUnspecified() && !slices.Contains(d.ips, ip) {
		d.ips = append(d.ips, ip)
	}
}

// source is the IP a dial-back to target goes from, for a request that
// came in on local (see STUNConfig.DialBackFrom); invalid: the kernel's
// choice.
func (d *dialBacker) source(local, target netip.Addr) netip.Addr {
	if d.from.IsValid() {
		if d.from.Is4() != target.Is4() {
			return netip.Addr{}
		}
		return d.from
	}
	d.ipsMu.Lock()
	defer d.ipsMu.Unlock()
	for _, ip := range d.ips {
		if ip != local.Unmap() && ip.Is4() == target.Is4() && ip.IsLoopback() == target.IsLoopback() {
			return ip
		}
	}
	return netip.Addr{}
}

// serve answers a dial-back request received over TCP from src on the
// server's address local: either
// the setter of the result to add to the Binding success response, or an
// error code (with its reason) to answer instead.
func (d *dialBacker) serve(ctx context.Context, req *stun.Message, src netip.AddrPort, local netip.Addr) (stun.Setter, *stun.ErrorCodeAttribute) {
	var r natprobe.DialBackRequest
	if err := r.GetFrom(req); err != nil {
		return nil, &stun.ErrorCodeAttribute{Code: stun.CodeBadRequest, Reason: []byte(err.Error())}
	}
	srcIP := src.Addr().Unmap()
	ip := r.Target.Addr()
	switch {
	case ip.IsUnspecified():
		ip = srcIP
	case ip.WithZone("") != srcIP.WithZone(""):
		return nil, &stun.ErrorCodeAttribute{Code: stun.CodeForbidden, Reason: []byte("dial-back only to the request's source ip")}
	}
	if !d.sources.Allow(srcIP) {
		return nil, &stun.ErrorCodeAttribute{Code: natprobe.CodeRateLimited, Reason: []byte("dial-back rate limited")}
	}
	timeout := d.timeout
	if r.Timeout > 0 {
		timeout = min(max(r.Timeout, minDialBackTimeout), d.timeout)
	}
	target := netip.AddrPortFrom(srcIP, r.Target.Port())
	from := d.source(local, target.Addr())
	res := d.dialBack(ctx, from, target, r.Data, timeout)
	d.log.Debug("dial-back", "target", target, "from", from, "timeout", timeout, "outcome", res.Outcome, "connect", res.Connect)
	return res, nil
}

// answer is the whole answer to req, a Binding request with DIAL-BACK
// from src on the server's address local, where the TURN server serves
// Binding requests (see turnConn.serveDialBacks): a Binding success with
// the mapped address and the dial-back's result, or an error response.
func (d *dialBacker) answer(ctx context.Context, req *stun.Message, src netip.AddrPort, local netip.Addr) ([]byte, error) {
	setters := []stun.Setter{stun.NewTransactionIDSetter(req.TransactionID)}
	res, fail := d.serve(ctx, req, src, local)
	if fail != nil {
		setters = append(setters, stun.BindingError, fail)
	} else {
		ip := net.IP(src.Addr().Unmap().AsSlice())
		port := int(src.Port())
		setters = append(setters, stun.BindingSuccess, &stun.XORMappedAddress{IP: ip, Port: port},
			&stun.MappedAddress{IP: ip, Port: port}, res)
	}
	setters = append(setters, stun.Fingerprint)
	var m stun.Message
	if err := m.Build(setters...); err != nil {
		return nil, err
	}
	return m.Raw, nil
}

// dialBack connects to target within timeout, writes data and reads the
// answer.
func (d *dialBacker) dialBack(ctx context.Context, from netip.Addr, target netip.AddrPort, data []byte, timeout time.Duration) natprobe.DialBackResult {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	c, err := d.dial(dctx, from, "tcp", target.String())
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return natprobe.DialBackResult{Outcome: natprobe.DialBackRefused}
		case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, syscall.ETIMEDOUT), dctx.Err() != nil && ctx.Err() == nil:
			return natprobe.DialBackResult{Outcome: natprobe.DialBackTimeout}
		}
		d.log.Debug("dial-back failed", "target", target, "err", err)
		return natprobe.DialBackResult{Outcome: natprobe.DialBackFailed}
	}
	defer c.Close()
	res := natprobe.DialBackResult{Outcome: natprobe.DialBackSilent, Connect: time.Since(start)}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c.SetDeadline(time.Now().Add(d.answerWait))
	if len(data) > 0 {
		if _, err := c.Write(data); err != nil {
			return res
		}
	}
	buf := make([]byte, natprobe.DialBackAnswerMax)
	if n, _ := c.Read(buf); n > 0 {
		res.Outcome, res.Answer = natprobe.DialBackAnswered, buf[:n]
	}
	return res
}
