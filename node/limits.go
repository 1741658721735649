package node

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits bound what peers, and strangers with a key, can make a node do.
// Every zero field takes its default.
type Limits struct {
	// PeerRequestRate is how many peer requests (dial back, punch, relay)
	// one node ID may make per second; default 5, with bursts of twice
	// as many.
	PeerRequestRate float64
	// RequestRate bounds peer requests from everyone together per second;
	// default 50, with bursts of twice as many.
	RequestRate float64
	// MaxInbound bounds the inbound connections open at once; default
	// 1024.
	MaxInbound int
	// MaxInboundPerPeer bounds the inbound connections from one node ID;
	// default 64.
	MaxInboundPerPeer int
	// MaxHandshakesPerIP bounds the inbound connections from one source
	// IP that are still in their preamble or TLS handshake; default 16.
	MaxHandshakesPerIP int
}

func (l *Limits) fill() {
	if l.PeerRequestRate <= 0 {
		l.PeerRequestRate = 5
	}
	if l.RequestRate <= 0 {
		l.RequestRate = 50
	}
	if l.MaxInbound <= 0 {
		l.MaxInbound = 1024
	}
	if l.MaxInboundPerPeer <= 0 {
		l.MaxInboundPerPeer = 64
	}
	if l.MaxHandshakesPerIP <= 0 {
		l.MaxHandshakesPerIP = 16
	}
}

// Reasons a node refuses a peer, as /metrics counts them.
const (
	RefusedRate             = "rate"              // too many requests from the peer, or from everyone
	RefusedBusy             = "busy"              // too many peer tasks at once
	RefusedTarget           = "target"            // the request named a target the node never dials
	RefusedPolicy           = "policy"            // the inbound policy does not allow the peer
	RefusedHandshakes       = "handshakes"        // too many inbound handshakes at once
	RefusedHandshakesPerIP  = "handshakes_per_ip" // too many from one source IP
	RefusedInbound          = "inbound"           // too many inbound connections
	RefusedInboundPerPeer   = "inbound_per_peer"  // too many from one peer
	RefusedBadRequest       = "bad_request"       // a request that does not decode
	maxTrackedPeers         = 10000               // per-peer rate limiters kept at most
	trackedPeerIdleEviction = 10 * time.Minute    // a limiter unused this long may go
)

// limiter applies the request rates and the per-IP handshake cap.
type limiter struct {
	lim    Limits
	global *rate.Limiter

	mu         sync.Mutex
	peers      map[string]*peerRate
	handshakes map[netip.Addr]int
}

type peerRate struct {
	*rate.Limiter
	used time.Time
}

func newLimiter(l Limits) *limiter {
	return &limiter{
		lim:        l,
		global:     rate.NewLimiter(rate.Limit(l.RequestRate), int(2*l.RequestRate)),
		peers:      make(map[string]*peerRate),
		handshakes: make(map[netip.Addr]int),
	}
}

// request reports whether a peer request from id may go ahead now.
func (l *limiter) request(id string) bool {
	now := time.Now()
	l.mu.Lock()
	p, ok := l.peers[id]
	if !ok {
		if len(l.peers) >= maxTrackedPeers {
			l.evict(now)
		}
		p = &peerRate{Limiter: rate.NewLimiter(rate.Limit(l.lim.PeerRequestRate), int(2*l.lim.PeerRequestRate))}
		l.peers[id] = p
	}
	p.used = now
	ok = p.AllowN(now, 1)
	l.mu.Unlock()
	return ok && l.global.AllowN(now, 1)
}

// evict forgets idle limiters, or when none is idle, an arbitrary half:
// a flood of fresh keys cannot grow the map without bound (the global
// rate still holds them back).
func (l *limiter) evict(now time.Time) {
	for id, p := range l.peers {
		if now.Sub(p.used) > trackedPeerIdleEviction {
			delete(l.peers, id)
		}
	}
	for id := range l.peers {
		if len(l.peers) < maxTrackedPeers/2 {
			break
		}
		delete(l.peers, id)
	}
}

// handshake takes a handshake slot for the source of c; release gives it
// back. ok is false when the source has too many.
func (l *limiter) handshake(c net.Conn) (release func(), ok bool) {
	ip := netip.Addr{}
	if a, isTCP := c.RemoteAddr().(*net.TCPAddr); isTCP {
		ip = a.AddrPort().Addr().Unmap()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.handshakes[ip] >= l.lim.MaxHandshakesPerIP {
		return nil, false
	}
	l.handshakes[ip]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.handshakes[ip]--; l.handshakes[ip] <= 0 {
			delete(l.handshakes, ip)
		}
	}, true
}
