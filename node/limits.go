package node

import (
	"time"

	"golang.org/x/time/rate"

	"github.com/reachd/reachd/internal/keyrate"
	"github.com/reachd/reachd/session"
)

// Limits bound what peers, and strangers with a key, can make a node do.
// Every zero field takes its default.
type Limits struct {
	// PeerRequestRate is how many peer requests (dial back, punch, relay)
	// one node ID may make per second; default 10, with bursts of four
	// times as many (a connect asks for up to three).
	PeerRequestRate float64
	// RequestRate bounds peer requests from everyone together per second;
	// default 100, with bursts of four times as many.
	RequestRate float64
	// MaxInbound bounds the inbound connections open at once; default
	// 4096.
	MaxInbound int
	// MaxInboundPerPeer bounds the inbound connections from one node ID
	// (streams on its link); default 1024.
	MaxInboundPerPeer int
	// LinkBuffer bounds everything queued for one peer: the bytes sent
	// and not yet acknowledged, kept to resend on a new path, and control
	// frames (opens, window updates, ends, aborts); writers wait beyond,
	// and a peer that makes the node queue past it (it does not read, yet
	// makes the node answer) loses its link. It bounds a link's goodput to
	// LinkBuffer per round trip. Default 8 MiB; at least 64 KiB.
	LinkBuffer int
	// StreamWindow is how many bytes one connection takes in from the
	// peer ahead of its reader; the peer's writer waits beyond. It bounds
	// a connection's goodput to StreamWindow per round trip, and what a
	// peer can make the node buffer to StreamWindow per connection (and
	// RecvBudget for all).
	// Default 2 MiB; 256 KiB to 1 GiB.
	StreamWindow int
	// RecvBudget bounds the bytes all peers together may make the node
	// hold for its connections' readers: what was received and not read,
	// and what the connections' windows let peers send. Windows shrink as
	// it fills; once full, streams peers open are refused (each reserves
	// 256 KiB while it lives, so the budget also bounds the connections
	// open at once to RecvBudget / 256 KiB). Default 256 MiB; at least
	// 1 MiB.
	RecvBudget int64
	// MaxHandshakesPerIP bounds the inbound connections from one source
	// IP that are still in their preamble or TLS handshake; default 16.
	MaxHandshakesPerIP int
	// MaxHandshakesPerPrefix bounds them from one /24 (IPv4) or /64
	// (IPv6); beyond, the prefix's oldest connection still in its
	// preamble makes room, or the new one is refused. Default 32.
	MaxHandshakesPerPrefix int
	// MaxLinks bounds the peer links (one per peer that has a path to
	// the node, whoever made it); a new one past it replaces the link idle
	// the longest, or is refused as busy. Default 1024.
	MaxLinks int
	// LinkIdle closes a peer link that has carried no connection for this
	// long (its peer connects afresh later). Default 2 minutes.
	LinkIdle time.Duration
}

func (l *Limits) fill() {
	if l.PeerRequestRate <= 0 {
		l.PeerRequestRate = 10
	}
	if l.RequestRate <= 0 {
		l.RequestRate = 100
	}
	if l.MaxInbound <= 0 {
		l.MaxInbound = 4096
	}
	if l.MaxInboundPerPeer <= 0 {
		l.MaxInboundPerPeer = 1024
	}
	if l.LinkBuffer <= 0 {
		l.LinkBuffer = 8 << 20
	}
	l.LinkBuffer = max(l.LinkBuffer, 64<<10)
	if l.StreamWindow <= 0 {
		l.StreamWindow = 2 << 20
	}
	l.StreamWindow = min(max(l.StreamWindow, 256<<10), 1<<30)
	if l.RecvBudget <= 0 {
		l.RecvBudget = 256 << 20
	}
	l.RecvBudget = max(l.RecvBudget, 1<<20)
	if l.MaxHandshakesPerIP <= 0 {
		l.MaxHandshakesPerIP = 16
	}
	if l.MaxHandshakesPerPrefix <= 0 {
		l.MaxHandshakesPerPrefix = 32
	}
	if l.MaxLinks <= 0 {
		l.MaxLinks = 1024
	}
	if l.LinkIdle <= 0 {
		l.LinkIdle = 2 * time.Minute
	}
}

// Reasons a node refuses a peer, as /metrics counts them.
const (
	RefusedRate                = "rate"                  // too many requests from the peer, or from everyone
	RefusedBusy                = "busy"                  // too many peer tasks at once
	RefusedTarget              = "target"                // the request named a target the node never dials
	RefusedPolicy              = "policy"                // the inbound policy does not allow the peer
	RefusedHandshakes          = "handshakes"            // too many inbound handshakes at once
	RefusedHandshakesPerIP     = "handshakes_per_ip"     // too many from one source IP
	RefusedHandshakesPerPrefix = "handshakes_per_prefix" // too many from one /24 or /64
	RefusedSilent              = "silent"                // its preamble did not come in time, or a newer connection needed its slot
	RefusedInbound             = "inbound"               // too many inbound connections
	RefusedInboundPerPeer      = "inbound_per_peer"      // too many from one peer
	RefusedBadRequest          = "bad_request"           // a request that does not decode
	RefusedLinks               = "links"                 // too many peer links, none idle
)

// maxTrackedPeers bounds the per-peer rate limiters kept.
const maxTrackedPeers = 10000

// limiter applies the request rates, and holds the receive budget and
// the refusal log.
type limiter struct {
	lim      Limits
	requests *keyrate.Limiter[string]
	// recv is the receive budget every peer link shares
	// (session.Config.RecvBudget).
	recv *session.Budget
	// refusals throttles the log lines of refusals, per peer.
	refusals *refusalLog
}

func newLimiter(l Limits) *limiter {
	return &limiter{
		lim: l,
		requests: keyrate.New[string](keyrate.Config{
			PerKey: rate.Limit(l.PeerRequestRate), PerKeyBurst: burst(l.PeerRequestRate),
			Global: rate.Limit(l.RequestRate), GlobalBurst: burst(l.RequestRate),
			MaxKeys: maxTrackedPeers,
		}),
		recv:     session.NewBudget(l.RecvBudget),
		refusals: newRefusalLog(),
	}
}

// burst is the bucket size for a rate: four seconds' worth, at least one.
func burst(r float64) int { return max(1, int(4*r)) }

// request reports whether a peer request from id may go ahead now.
func (l *limiter) request(id string) bool { return l.requests.Allow(id) }
