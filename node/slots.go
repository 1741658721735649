package node

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reachd/reachd/node/internal/handshake"
)

// Handshake slots. Every inbound connection on the listen port holds one
// from its accept to the end of its handshake (preamble, TLS, commit):
//
//   - at most Limits.MaxHandshakesPerIP from one source IP (more are
//     refused), and Limits.MaxHandshakesPerPrefix from one /24 (IPv4) or
//     /64 (IPv6);
//   - maxHandshakes in all, plus reservedHandshakes kept for peers that
//     already have a link with us (or are on the allowlist): their
//     preamble names them (TLS proves it later); anyone else who took
//     such a slot is closed once its preamble says who it is;
//   - a connection that has not sent its whole preamble within
//     firstByteTimeout is closed, and when its prefix's or the node's
//     slots are full, a connection still in its preamble makes room for
//     the new one: the oldest of the source that holds the most, when it
//     holds more than the newcomer's (see oldestSilent). So silent
//     connections cannot hold the door: they only push each other out.
const (
	maxHandshakes      = 128
	reservedHandshakes = 32
	firstByteTimeout   = 2 * time.Second
)

// errReserved closes a connection that took a slot kept for known peers
// and named another.
var errReserved = errors.New("handshake slot kept for peers with a link")

// handshakeSlots hands out the slots; its methods are safe for concurrent
// use.
type handshakeSlots struct {
	perIP, perPrefix int
	known            func(peer string) bool // a peer that may use the reserve
	evicted          func(c net.Conn, reason string)

	mu       sync.Mutex
	byIP     map[netip.Addr]int
	byPrefix map[netip.Prefix]int
	live     []*slot // oldest first
	general  int     // slots taken outside the reserve
	reserved int
}

// slot is one connection's place.
type slot struct {
	s         *handshakeSlots
	c         net.Conn
	ip        netip.Addr
	prefix    netip.Prefix
	reserve   bool
	timer     *time.Timer
	preamble  bool // guarded by s.mu: the whole preamble arrived
	freed     bool // guarded by s.mu
	passed    atomic.Bool
	pre       []byte // the preamble so far (the reading goroutine's)
	preambles int    // bytes of preamble wanted
}

func newHandshakeSlots(perIP, perPrefix int, known func(string) bool, evicted func(net.Conn, string)) *handshakeSlots {
	return &handshakeSlots{perIP: perIP, perPrefix: perPrefix, known: known, evicted: evicted,
		byIP: make(map[netip.Addr]int), byPrefix: make(map[netip.Prefix]int)}
}

// sourceOf returns a connection's source IP and its /24 or /64.
func sourceOf(c net.Conn) (netip.Addr, netip.Prefix) {
	ip := netip.Addr{}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ip = a.AddrPort().Addr().Unmap()
	}
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, _ := ip.Prefix(bits)
	return ip, p
}

// admit gives c a slot: it returns the connection to hand to the
// handshake (it watches the preamble) and the func that gives the slot
// back, or the reason (Refused*) it is refused. It may close older
// connections still in their preamble to make room.
func (s *handshakeSlots) admit(c net.Conn) (net.Conn, func(), string) {
	ip, prefix := sourceOf(c)
	var victims []*slot
	defer func() {
		for _, v := range victims {
			s.evicted(v.c, RefusedSilent)
			v.c.Close()
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byIP[ip] >= s.perIP {
		return nil, nil, RefusedHandshakesPerIP
	}
	if s.byPrefix[prefix] >= s.perPrefix {
		v := s.oldestSilent(ip, prefix, func(o *slot) bool { return o.prefix == prefix })
		if v == nil {
			return nil, nil, RefusedHandshakesPerPrefix
		}
		victims = append(victims, v)
		s.freeLocked(v)
	}
	reserve := false
	if s.general >= maxHandshakes {
		if v := s.oldestSilent(ip, prefix, func(o *slot) bool { return !o.reserve }); v != nil {
			victims = append(victims, v)
			s.freeLocked(v)
		} else if s.reserved < reservedHandshakes {
			reserve = true
		} else if v := s.oldestSilent(ip, prefix, func(*slot) bool { return true }); v != nil {
			victims = append(victims, v)
			s.freeLocked(v)
			reserve = true
		} else {
			return nil, nil, RefusedHandshakes
		}
	}
	sl := &slot{s: s, c: c, ip: ip, prefix: prefix, reserve: reserve, preambles: handshake.PreambleLen}
	s.byIP[ip]++
	s.byPrefix[prefix]++
	if reserve {
		s.reserved++
	} else {
		s.general++
	}
	s.live = append(s.live, sl)
	sl.timer = time.AfterFunc(firstByteTimeout, sl.silentTooLong)
	return &watchedConn{Conn: c, sl: sl}, sl.release, ""
}

// oldestSilent picks the connection to close to make room for one from
// ip (in prefix) among those still in their preamble that match accepts:
// of the prefix that holds the most slots, then of its source IP that
// holds the most, the oldest; and only from a prefix (or, within the
// newcomer's prefix, an IP) that would still hold more than the
// newcomer's after the swap. So a flood pushes out its own connections,
// never those of a source that holds as few (a genuine dialer's
// connection may not have been read yet when the next ones come). nil
// when there is none. s.mu is held.
func (s *handshakeSlots) oldestSilent(ip netip.Addr, prefix netip.Prefix, match func(*slot) bool) *slot {
	var best *slot
	for _, o := range s.live { // oldest first: ties go to the oldest
		if o.preamble || !match(o) {
			continue
		}
		if best == nil || s.byPrefix[o.prefix] > s.byPrefix[best.prefix] ||
			o.prefix == best.prefix && s.byIP[o.ip] > s.byIP[best.ip] {
			best = o
		}
	}
	switch {
	case best == nil:
		return nil
	case best.prefix != prefix:
		if s.byPrefix[best.prefix] <= s.byPrefix[prefix]+1 {
			return nil
		}
	case best.ip != ip:
		if s.byIP[best.ip] <= s.byIP[ip]+1 {
			return nil
		}
	}
	return best
}

// freeLocked gives sl's slot back; s.mu is held.
func (s *handshakeSlots) freeLocked(sl *slot) {
	if sl.freed {
		return
	}
	sl.freed = true
	sl.timer.Stop()
	if s.byIP[sl.ip]--; s.byIP[sl.ip] <= 0 {
		delete(s.byIP, sl.ip)
	}
	if s.byPrefix[sl.prefix]--; s.byPrefix[sl.prefix] <= 0 {
		delete(s.byPrefix, sl.prefix)
	}
	if sl.reserve {
		s.reserved--
	} else {
		s.general--
	}
	for i, o := range s.live {
		if o == sl {
			s.live = append(s.live[:i], s.live[i+1:]...)
			break
		}
	}
}

func (sl *slot) release() {
	sl.s.mu.Lock()
	defer sl.s.mu.Unlock()
	sl.s.freeLocked(sl)
}

// silentTooLong closes the connection when its preamble has not come
// within firstByteTimeout.
func (sl *slot) silentTooLong() {
	sl.s.mu.Lock()
	silent := !sl.preamble && !sl.freed
	if silent {
		sl.s.freeLocked(sl)
	}
	sl.s.mu.Unlock()
	if silent {
		sl.s.evicted(sl.c, RefusedSilent)
		sl.c.Close()
	}
}

// sawPreamble records the bytes read from the connection until its whole
// preamble has come; it returns errReserved when a reserved slot's
// holder names a peer that may not use it.
func (sl *slot) sawPreamble(p []byte) error {
	need := sl.preambles - len(sl.pre)
	sl.pre = append(sl.pre, p[:min(len(p), need)]...)
	if len(sl.pre) < sl.preambles {
		return nil
	}
	sl.passed.Store(true)
	sl.s.mu.Lock()
	sl.preamble = true
	sl.timer.Stop()
	sl.s.mu.Unlock()
	if !sl.reserve {
		return nil
	}
	pre, err := handshake.ReadPreamble(bytes.NewReader(sl.pre))
	if err != nil || !sl.s.known(pre.From) {
		return errReserved
	}
	return nil
}

// watchedConn is an inbound connection whose preamble its slot watches;
// past it, reads go straight through.
type watchedConn struct {
	net.Conn
	sl *slot
}

func (w *watchedConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if n > 0 && !w.sl.passed.Load() {
		if perr := w.sl.sawPreamble(p[:n]); perr != nil {
			w.Conn.Close()
			w.sl.s.evicted(w.Conn, RefusedHandshakes)
			return 0, perr
		}
	}
	return n, err
}
