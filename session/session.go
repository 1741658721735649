// Package session is reachd's session layer: a link per peer pair that
// carries any number of byte streams, and outlives the paths beneath it.
//
// A path is a secured transport between two node IDs (an
// io.ReadWriteCloser; in production a *tls.Conn over TCP or over a TURN
// relay). The node gives paths to a Link with Attach; the link sends its
// frames over the current one. All stream frames form one reliable byte
// stream, counted by offset: what the peer has not acknowledged stays in a
// bounded send buffer (writers wait when it is full; they never fail for
// it). When a path dies (an error, or no frame for Config.DeadAfter, which
// pings on a silent path make a sure sign) the link waits up to
// Config.Grace for a new path; on it both sides say what they received and
// resend the rest, so nothing is lost or duplicated. A new path given
// while one is live replaces it the same way (an upgrade). A peer that
// does not know the link (it restarted) makes the link fail at once.
//
// Streams are multiplexed by the package's own framing, not by
// hashicorp/yamux (v0.1.2) or xtaci/smux (v1.5.58), though both have
// per-stream windows and a half-close: over the resumable link either would
// add a second framing and a second flow-control layer; neither carries a
// reason with a reset (yamux's RST, smux has none) or a header with an
// open; yamux's ConnectionWriteTimeout (10 s) and both keepalives would
// have to be defeated to live through a grace period; and yamux allocates
// per write (a sendReady) and per stream buffer (a growing bytes.Buffer).
// Here each stream has its own window (a slow reader stops only its own
// sender, for as long as it likes), a clean end per direction (CloseWrite,
// io.EOF at the peer) apart from an abort with a reason (*AbortError at the
// peer), and an opening header (service name and kind; KindFrames streams
// keep message boundaries with WriteFrame/ReadFrame). There is no timer in
// the mux: only the link's pings judge a path.
//
// The package knows nothing of NATs, strategies or signaling: finding and
// securing paths, and deciding which is better, is the node's job. The
// node keeps one Link per peer (New; the side with the smaller node ID is
// the initiator), and both nodes call Attach with their end of every
// secured path they commit for that peer: the first one, a new one after EventLost (within
// Config.Grace), or a better one while the current path lives (an
// upgrade). A connection of the API is a Stream (Open on the side that
// asked, Accept on the other). Attach failing with ErrPeerRestarted means
// the peer lost the link: the node drops it and makes a new one on a new
// path.
//
// Defaults: 4 MiB send buffer per link, 256 KiB window per stream and
// direction, a ping every 2 s, a path dead after 10 s without a frame
// (noticed within 12 s), 30 s of grace without a path.
//
// The wire format is in frame.go: 9-byte headers (type, stream, length);
// reliable frames (open, data, window, fin, abort, close) count in the
// link's offsets, control frames (hello, resend, ack, ping, pong) belong
// to one path.
package session

import (
	"io"
	"log/slog"
	"time"
)

// Config tunes a Link. Every zero field takes the default it documents.
type Config struct {
	// SendBuffer bounds everything queued for the peer: the reliable
	// bytes not yet acknowledged (kept for resending) and those not yet
	// sent, control frames included. Writers (and Open) wait while the
	// part for data (all but an eighth, at least 16 KiB, kept for control
	// frames) is full; a peer that makes us queue past the whole (it does
	// not read, yet makes us answer) loses the link with ErrBacklog.
	// Default 4 MiB.
	SendBuffer int
	// StreamWindow is how many bytes each stream takes in ahead of its
	// reader; the peer's writer waits beyond. At least 256 KiB (the
	// protocol's initial window). Default 256 KiB.
	StreamWindow int
	// PingInterval is how often the link pings its path (RTT, and a
	// frame for the peer's dead-path timer). Default 2 s.
	PingInterval time.Duration
	// DeadAfter declares the path dead when no frame arrived for this
	// long; it is noticed within DeadAfter + PingInterval. Default 10 s.
	DeadAfter time.Duration
	// Grace is how long the link waits for a path (the first one, or
	// after one died) before it fails with ErrNoPath. Default 30 s.
	Grace time.Duration
	// HelloTimeout bounds the exchange that starts every path in Attach
	// (besides Attach's ctx). Default 10 s.
	HelloTimeout time.Duration
	// CloseTimeout bounds how long Close waits for the peer to
	// acknowledge what was sent. Default 2 s.
	CloseTimeout time.Duration
	// MaxStreams bounds the streams open at once that the peer opened;
	// an open beyond fails the link (ErrProtocol). Default 1024.
	MaxStreams int
	// AcceptBacklog bounds streams opened by the peer and not yet
	// accepted; beyond, its opens are aborted. Default 128.
	AcceptBacklog int
	// RecvBudget, when set, bounds what peers may make the links that
	// share it hold for their readers (see Budget). Default: none (each
	// stream takes StreamWindow).
	RecvBudget *Budget
	// MaxFrameSize bounds a frame of WriteFrame/ReadFrame. Default 64 KiB.
	MaxFrameSize int
	// OnEvent, when set, is called with each of the link's events in
	// order, from the link's goroutines; it must not block or call back
	// into the link. Default: none.
	OnEvent func(Event)
	// OnStreamChange, when set, is called whenever one of a stream's ends
	// changes (the peer's clean end, ours, Close, an abort from either
	// side, the link's failure), without locks held, from whichever
	// goroutine made the change. Stream.Stats tells the new state.
	// Default: none.
	OnStreamChange func(*Stream)
	// Logger logs path changes. Default: discard.
	Logger *slog.Logger
}

const (
	defaultSendBuffer    = 4 << 20
	defaultPingInterval  = 2 * time.Second
	defaultDeadAfter     = 10 * time.Second
	defaultGrace         = 30 * time.Second
	defaultHelloTimeout  = 10 * time.Second
	defaultCloseTimeout  = 2 * time.Second
	defaultMaxStreams    = 1024
	defaultAcceptBacklog = 128
	defaultMaxFrame      = 64 << 10
)

func (c Config) withDefaults() (Config, error) {
	if c.SendBuffer < 0 || c.StreamWindow < 0 || c.PingInterval < 0 || c.DeadAfter < 0 ||
		c.Grace < 0 || c.HelloTimeout < 0 || c.CloseTimeout < 0 || c.MaxStreams < 0 ||
		c.AcceptBacklog < 0 || c.MaxFrameSize < 0 {
		return c, errorf("session: config: negative value")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.SendBuffer, defaultSendBuffer)
	def(&c.StreamWindow, initialWindow)
	def(&c.MaxStreams, defaultMaxStreams)
	def(&c.AcceptBacklog, defaultAcceptBacklog)
	def(&c.MaxFrameSize, defaultMaxFrame)
	defD(&c.PingInterval, defaultPingInterval)
	defD(&c.DeadAfter, defaultDeadAfter)
	defD(&c.Grace, defaultGrace)
	defD(&c.HelloTimeout, defaultHelloTimeout)
	defD(&c.CloseTimeout, defaultCloseTimeout)
	if c.StreamWindow < initialWindow {
		return c, errorf("session: config: StreamWindow %d below the initial window %d", c.StreamWindow, initialWindow)
	}
	if c.StreamWindow > 1<<30 {
		return c, errorf("session: config: StreamWindow %d above 1 GiB", c.StreamWindow)
	}
	if c.SendBuffer < MaxPayload+headerLen {
		return c, errorf("session: config: SendBuffer %d below one frame", c.SendBuffer)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// State is a link's life cycle.
type State string

const (
	// StateWaiting: no path; the grace period runs (also before the
	// first path).
	StateWaiting State = "waiting"
	// StateConnected: the link has a path.
	StateConnected State = "connected"
	// StateFailed: the link ended (Err says why); it is final.
	StateFailed State = "failed"
)

// EventKind says what happened to a link's path.
type EventKind string

const (
	EventAttached EventKind = "attached" // the first path
	EventLost     EventKind = "lost"     // the path died; waiting for another
	EventResumed  EventKind = "resumed"  // a new path after one was lost
	EventUpgraded EventKind = "upgraded" // a new path replaced a live one
	EventFailed   EventKind = "failed"   // the link ended
)

// Event is a change of a link's path.
type Event struct {
	Kind EventKind
	Time time.Time
	// Path is the path concerned: the new one for attached, resumed and
	// upgraded, the dead one for lost.
	Path io.ReadWriteCloser
	// Reason says why a path was lost or the link failed.
	Reason string
	// Err is the link's error for EventFailed.
	Err error
	// Gap is the time without a path before a resume.
	Gap time.Duration
}

// Stats is a snapshot of a link.
type Stats struct {
	State State
	// RTT is the last round trip measured by a ping; 0 before the first.
	RTT time.Duration
	// Sent and Received count reliable bytes (frames included), each once
	// however often resent.
	Sent, Received int64
	// Unacked is what the send buffer holds for the peer.
	Unacked int64
	// Streams is how many streams are open.
	Streams int
	// Paths counts the paths attached so far.
	Paths int
	// Active is when the link last sent or received reliable bytes
	// (stream data and stream control; not pings); zero before any.
	Active time.Time
}
