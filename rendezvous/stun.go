package rendezvous

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/pion/stun/v4"

	"github.com/reachd/reachd/internal/acceptor"
	"github.com/reachd/reachd/natprobe"
)

// STUN server defaults, used when the STUNConfig field is zero.
const (
	defaultSTUNMaxTCPConns = 256
	defaultSTUNIdleTimeout = 30 * time.Second

	stunWriteTimeout = 5 * time.Second
	stunBindAttempts = 10   // port-0 bind retries on collisions
	stunMaxMessage   = 1280 // larger STUN messages are dropped (UDP) or end the connection (TCP)
	stunHeaderSize   = 20
	stunSoftware     = "reachd"

	// CHANGE-REQUEST flags (RFC 5780 section 7.2).
	stunChangeIP   = 0x04
	stunChangePort = 0x02
)

// STUNConfig configures a STUN server.
type STUNConfig struct {
	// Listen holds one or two "host:port" addresses; each is served over UDP
	// and TCP on the same port. Required.
	//
	// With two addresses A=(ip1,p1) (primary) and B=(ip2,p2) (other) the
	// server is an RFC 5780 server: it also listens on (ip1,p2) and (ip2,p1)
	// when ip1 != ip2, answers with OTHER-ADDRESS and RESPONSE-ORIGIN, and
	// honours CHANGE-REQUEST over UDP. When ip1 == ip2 it honours port
	// changes only and sends no OTHER-ADDRESS (RFC 5780 forbids it to a
	// server with one IP): clients learn of the second port from their own
	// configuration (natprobe pairs two configured ports of one IP). Both
	// hosts must be IP literals of the same family.
	//
	// Port 0 picks a free port. An empty host (":3478") listens on all
	// addresses and is allowed only with a single address.
	Listen []string
	// MaxTCPConns bounds concurrent TCP connections; more are closed at once.
	// Zero means 256.
	MaxTCPConns int
	// IdleTimeout closes a TCP connection that sends no complete message for
	// this long. Zero means 30s.
	IdleTimeout time.Duration
	// DialBackTimeout bounds the connect of a dial-back (see
	// natprobe.AttrDialBack); a client may ask for less (at least 100ms).
	// The answer then has 1s more. Zero means 2s.
	DialBackTimeout time.Duration
	// DialBackEvery and DialBackBurst rate-limit dial-backs per source IP:
	// a burst of DialBackBurst, then one every DialBackEvery. Zero means
	// 6s and 10. All sources together get 20 a second.
	DialBackEvery time.Duration
	DialBackBurst int
	// DialBackFrom is the source IP of dial-backs: an address of this host
	// that nodes never contact (no STUN, MQTT or TURN on it), so that a NAT
	// that lets in only hosts its node has sent to (a restricted cone)
	// cannot make a closed port look reachable. Zero: the IP of the other
	// listen address than the one the request came in on, when the server
	// has two IPs (nodes contact both in their probe, so this only keeps
	// the dial-back off the request's own connection); else the kernel's
	// choice, the request's own IP.
	DialBackFrom netip.Addr
	// Logger receives debug and error logs. Nil discards them.
	Logger *slog.Logger
}

// STUNServer answers STUN Binding requests over UDP and TCP (RFC 5389,
// with the RFC 5780 NAT behaviour discovery extensions when it has two
// addresses), and dial-back requests over TCP (natprobe.AttrDialBack).
// Requests of RFC 3489 clients (no magic cookie) are answered over UDP as
// RFC 5389 section 12.2 suggests (see answer).
// Create it with NewSTUNServer; it serves until Close.
type STUNServer struct {
	log         *slog.Logger
	idleTimeout time.Duration
	dialBack    *dialBacker
	ctx         context.Context // cancelled by Close
	cancel      context.CancelFunc

	primary, other netip.AddrPort // other is invalid with a single address
	twoIPs         bool           // other has a different IP: CHANGE-REQUEST may change the IP

	udp  map[netip.AddrPort]*net.UDPConn // by bound address: 1, 2 or 4 sockets
	tcp  []*acceptor.Listener
	sem  chan struct{} // TCP connection slots
	wg   sync.WaitGroup
	mu   sync.Mutex
	done bool
	tcpc map[net.Conn]struct{}
}

// NewSTUNServer binds every address of cfg and serves in the background.
func NewSTUNServer(cfg STUNConfig) (*STUNServer, error) {
	if len(cfg.Listen) != 1 && len(cfg.Listen) != 2 {
		return nil, fmt.Errorf("rendezvous: stun: need 1 or 2 listen addresses, got %d", len(cfg.Listen))
	}
	addrs := make([]netip.AddrPort, len(cfg.Listen))
	for i, s := range cfg.Listen {
		ap, err := parseSTUNListen(s)
		if err != nil {
			return nil, fmt.Errorf("rendezvous: stun: listen address %q: %w", s, err)
		}
		addrs[i] = ap
	}
	if len(addrs) == 2 {
		a, b := addrs[0], addrs[1]
		switch {
		case a.Addr().IsUnspecified() || b.Addr().IsUnspecified():
			return nil, errors.New("rendezvous: stun: two listen addresses need explicit ips")
		case a.Addr().Is4() != b.Addr().Is4():
			return nil, errors.New("rendezvous: stun: two listen addresses need the same ip family")
		case a.Port() == b.Port() && a.Port() != 0:
			return nil, errors.New("rendezvous: stun: two listen addresses need different ports")
		}
	}
	s := &STUNServer{
		log:         cfg.Logger,
		idleTimeout: cfg.IdleTimeout,
		udp:         make(map[netip.AddrPort]*net.UDPConn),
		tcpc:        make(map[net.Conn]struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "stun")
	s.dialBack = newDialBacker(cfg, s.log)
	for _, a := range addrs {
		s.dialBack.addIP(a.Addr())
	}
	if s.idleTimeout <= 0 {
		s.idleTimeout = defaultSTUNIdleTimeout
	}
	maxConns := cfg.MaxTCPConns
	if maxConns <= 0 {
		maxConns = defaultSTUNMaxTCPConns
	}
	s.sem = make(chan struct{}, maxConns)

	var err error
	for range stunBindAttempts {
		if err = s.bind(addrs); err == nil || !errors.Is(err, syscall.EADDRINUSE) || !stunAnyPortZero(addrs) {
			break
		}
	}
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("rendezvous: stun: %w", err)
	}
	for local, c := range s.udp {
		s.wg.Go(func() { s.serveUDP(c, local) })
	}
	for _, l := range s.tcp {
		s.wg.Go(func() { s.acceptTCP(l) })
	}
	s.log.Info("stun listening", "primary", s.primary, "other", s.other)
	return s, nil
}

func parseSTUNListen(s string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port %q", port)
	}
	ip := netip.IPv6Unspecified()
	if host != "" {
		if ip, err = netip.ParseAddr(host); err != nil {
			return netip.AddrPort{}, fmt.Errorf("host must be an ip literal: %w", err)
		}
		ip = ip.Unmap()
	}
	return netip.AddrPortFrom(ip, uint16(p)), nil
}

func stunAnyPortZero(addrs []netip.AddrPort) bool {
	for _, a := range addrs {
		if a.Port() == 0 {
			return true
		}
	}
	return false
}

// bind binds UDP and TCP on every address the configuration implies, or
// nothing at all.
func (s *STUNServer) bind(addrs []netip.AddrPort) (err error) {
	defer func() {
		if err != nil {
			s.closeSockets()
			s.udp = make(map[netip.AddrPort]*net.UDPConn)
			s.tcp = nil
		}
	}()
	a, err := s.bindPair(addrs[0])
	if err != nil {
		return err
	}
	s.primary = a
	if len(addrs) == 1 {
		return nil
	}
	b, err := s.bindPair(addrs[1])
	if err != nil {
		return err
	}
	s.other = b
	if a.Addr() != b.Addr() {
		s.twoIPs = true
		for _, ap := range []netip.AddrPort{
			netip.AddrPortFrom(a.Addr(), b.Port()),
			netip.AddrPortFrom(b.Addr(), a.Port()),
		} {
			if _, err := s.bindPair(ap); err != nil {
				return err
			}
		}
	}
	return nil
}

// bindPair binds UDP on ap (choosing the port when it is 0) and TCP on the
// same port, and returns the bound address.
func (s *STUNServer) bindPair(ap netip.AddrPort) (netip.AddrPort, error) {
	network := "udp"
	switch {
	case ap.Addr().IsUnspecified():
	case ap.Addr().Is4():
		network = "udp4"
	default:
		network = "udp6"
	}
	uc, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("listen udp %s: %w", ap, err)
	}
	bound := netip.AddrPortFrom(ap.Addr(), uint16(uc.LocalAddr().(*net.UDPAddr).Port))
	s.udp[bound] = uc
	tl, err := net.ListenTCP("tcp"+network[3:], net.TCPAddrFromAddrPort(bound))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("listen tcp %s: %w", bound, err)
	}
	s.tcp = append(s.tcp, acceptor.New(tl, acceptor.Config{Logger: s.log}))
	return bound, nil
}

// Addrs returns the advertised addresses: the primary first, then the other
// one when the server has two. Ports are the bound ones.
func (s *STUNServer) Addrs() []netip.AddrPort {
	if !s.other.IsValid() {
		return []netip.AddrPort{s.primary}
	}
	return []netip.AddrPort{s.primary, s.other}
}

// Close stops serving, closes every socket and connection and waits for all
// goroutines. It is safe to call more than once.
func (s *STUNServer) Close() error {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return nil
	}
	s.done = true
	s.cancel()
	for c := range s.tcpc {
		c.Close()
	}
	s.mu.Unlock()
	err := s.closeSockets()
	s.wg.Wait()
	return err
}

func (s *STUNServer) closeSockets() error {
	var errs []error
	for _, c := range s.udp {
		errs = append(errs, c.Close())
	}
	for _, l := range s.tcp {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}

func (s *STUNServer) serveUDP(c *net.UDPConn, local netip.AddrPort) {
	buf := make([]byte, stunMaxMessage+1)
	req := new(stun.Message)
	for {
		n, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("udp read", "local", local, "err", err)
			continue
		}
		if n > stunMaxMessage {
			continue
		}
		var cookie [4]byte
		classic := false
		if !stun.IsMessage(buf[:n]) {
			if cookie, classic = rfc3489Request(buf[:n]); !classic {
				continue
			}
		}
		if stun.Decode(buf[:n], req) != nil {
			continue
		}
		resp, from, ok := s.answer(req, src, local, true, classic)
		if !ok {
			continue
		}
		if classic {
			classicAnswer(resp, cookie)
		}
		out := s.udp[from]
		if _, err := out.WriteToUDPAddrPort(resp.Raw, src); err != nil {
			s.log.Debug("udp write", "from", from, "to", src, "err", err)
		}
	}
}

func (s *STUNServer) acceptTCP(l *acceptor.Listener) {
	for {
		c, err := l.Accept() // fails only once closed
		if err != nil {
			return
		}
		select {
		case s.sem <- struct{}{}:
		default:
			s.log.Debug("tcp connection limit reached", "remote", c.RemoteAddr())
			c.Close()
			continue
		}
		s.mu.Lock()
		if s.done {
			s.mu.Unlock()
			c.Close()
			<-s.sem
			return
		}
		s.tcpc[c] = struct{}{}
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.tcpc, c)
				s.mu.Unlock()
				c.Close()
				<-s.sem
			}()
			s.serveTCP(c)
		})
		s.mu.Unlock()
	}
}

// serveTCP answers a stream of STUN messages (RFC 5389 section 7.2.2) until
// the peer closes, goes idle or sends something that is not STUN.
func (s *STUNServer) serveTCP(c net.Conn) {
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	remote := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	buf := make([]byte, stunMaxMessage)
	req := new(stun.Message)
	for {
		if err := c.SetReadDeadline(time.Now().Add(s.idleTimeout)); err != nil {
			return
		}
		if _, err := io.ReadFull(c, buf[:stunHeaderSize]); err != nil {
			return
		}
		size := int(binary.BigEndian.Uint16(buf[2:4]))
		if !stun.IsMessage(buf[:stunHeaderSize]) || size%4 != 0 || stunHeaderSize+size > len(buf) {
			s.log.Debug("tcp: not a stun message", "remote", remote)
			return
		}
		msg := buf[:stunHeaderSize+size]
		if _, err := io.ReadFull(c, msg[stunHeaderSize:]); err != nil {
			return
		}
		if stun.Decode(msg, req) != nil {
			s.log.Debug("tcp: bad stun message", "remote", remote)
			return
		}
		var extra []stun.Setter
		if req.Type == stun.BindingRequest && req.Contains(natprobe.AttrDialBack) {
			res, fail := s.dialBack.serve(s.ctx, req, remote, local.Addr())
			if fail != nil {
				s.log.Debug("tcp: dial-back refused", "remote", remote, "code", fail.Code, "reason", string(fail.Reason))
				if err := s.writeTCP(c, s.errorResponse(req, fail.Code, nil, false, fail.Reason...)); err != nil {
					return
				}
				continue
			}
			extra = append(extra, res)
		}
		resp, _, ok := s.answer(req, remote, local, false, false, extra...)
		if !ok {
			continue
		}
		if err := s.writeTCP(c, resp); err != nil {
			return
		}
	}
}

func (s *STUNServer) writeTCP(c net.Conn, m *stun.Message) error {
	if err := c.SetWriteDeadline(time.Now().Add(stunWriteTimeout)); err != nil {
		return err
	}
	_, err := c.Write(m.Raw)
	return err
}
