package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node/internal/handshake"
	"github.com/reachd/reachd/session"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/strategy"
)

// A peer link is the session link the node keeps with one peer: every
// connection to that peer is a stream on it, and it rides on one secured
// path at a time. When the path dies the node looks for a new one (a
// resume); while the path is costlier than another strategy could give,
// it keeps trying that strategy (an upgrade).

// The timing of resumes and upgrades.
const (
	// resumeDefer is how long the side that did not make a lost path
	// waits before it looks for a new one too: the side that made it
	// (and can reach the peer that way) goes first.
	resumeDefer = 2 * time.Second
	// resumeBackoff and maxResumeBackoff space the resume attempts.
	resumeBackoff    = 500 * time.Millisecond
	maxResumeBackoff = 4 * time.Second
	// resumeTimeout bounds one resume attempt (a race and the attach).
	resumeTimeout = 15 * time.Second
	// addressTimeout bounds asking the peer for its current address.
	addressTimeout = 2 * time.Second
	// reprobeEvery is the least time between two probes a lost path
	// triggers.
	reprobeEvery = 5 * time.Second
	// pathHistory bounds the ended paths a link remembers.
	pathHistory = 32
)

// upgradeAfter is when a link on a path costlier than another strategy
// could give tries that strategy again, counted from the path's start;
// after the last, every upgradeEvery.
var (
	upgradeAfter = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second}
	upgradeEvery = 60 * time.Second
)

// Signaling messages of peer links: a peer asks for our current address
// when it looks for a new path.
const (
	typeAddress      = "address"
	typeAddressReply = "address_reply"
)

type addressBody struct {
	Address string `json:"address"`
}

// pathMeta is what the node knows of a path it gave a link.
type pathMeta struct {
	Path
	dir Direction // Outbound: we initiated the race that made it
}

// peerLink is the node's session link with one peer.
type peerLink struct {
	n    *Node
	peer string
	link *session.Link

	mu         sync.Mutex
	addr       address.Address // the peer's address as last learnt; zero NodeID when unknown
	strategies []string        // the strategies its connects allow, in their order
	metas      map[io.ReadWriteCloser]*pathMeta
	cur        *pathMeta
	ended      []Path // ended paths, oldest first
	conns      map[*session.Stream]*Conn
	recovering bool
	upgrading  bool
	losses     int // paths lost so far: a connection's grace timer belongs to one loss
}

// linkFor returns the live link with peer, making one when create is set
// (nil otherwise).
func (n *Node) linkFor(peer string, create bool) (*peerLink, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if pl := n.links[peer]; pl != nil && pl.link.Err() == nil {
		return pl, nil
	}
	if !create {
		return nil, nil
	}
	if n.ctx.Err() != nil {
		return nil, ErrClosing
	}
	pl := &peerLink{n: n, peer: peer, metas: make(map[io.ReadWriteCloser]*pathMeta), conns: make(map[*session.Stream]*Conn)}
	link, err := session.New(session.Config{
		SendBuffer:   n.cfg.Limits.LinkBuffer,
		StreamWindow: n.cfg.Limits.StreamWindow,
		Grace:        n.cfg.Grace,
		// The node refuses streams past its own limits, saying which;
		// the link's bounds are a backstop.
		MaxStreams:     2*n.cfg.Limits.MaxInboundPerPeer + 16,
		AcceptBacklog:  2*n.cfg.Limits.MaxInboundPerPeer + 16,
		OnEvent:        pl.onEvent,
		OnStreamChange: pl.streamChanged,
		Logger:         n.log.With("peer", peer),
	}, n.ID() < peer)
	if err != nil {
		return nil, err
	}
	pl.link = link
	n.links[peer] = pl
	n.wg.Go(pl.acceptLoop)
	return pl, nil
}

// ErrClosing: the node is closing.
var ErrClosing = errors.New("the node is closing")

// learn records the peer's address and the strategies a connect allows.
func (pl *peerLink) learn(addr address.Address, strategies []string) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.addr = addr
	if strategies != nil {
		pl.strategies = strategies
	}
}

// attach gives the link a secured path made by strategy name; dir says
// which side initiated it.
func (pl *peerLink) attach(ctx context.Context, sc handshake.Path, name string, dir Direction) error {
	meta := &pathMeta{Path: Path{Strategy: name, LocalAddr: sc.Raw.LocalAddr().String(), RemoteAddr: sc.Raw.RemoteAddr().String()}, dir: dir}
	pl.mu.Lock()
	pl.metas[sc.TLS] = meta
	pl.mu.Unlock()
	err := pl.link.Attach(ctx, sc.TLS)
	if err != nil {
		pl.mu.Lock()
		delete(pl.metas, sc.TLS)
		pl.mu.Unlock()
	}
	return err
}

// onEvent follows the link's path. It runs under the link's lock: it
// records the change and leaves the rest (reporting, resuming,
// upgrading) to a goroutine.
func (pl *peerLink) onEvent(ev session.Event) {
	pl.mu.Lock()
	var meta *pathMeta
	switch ev.Kind {
	case session.EventAttached, session.EventResumed, session.EventUpgraded:
		meta = pl.metas[ev.Path]
		if meta == nil { // not ours: cannot happen, but never lose track
			meta = &pathMeta{Path: Path{Strategy: "unknown"}}
		}
		delete(pl.metas, ev.Path)
		if pl.cur != nil {
			pl.endPath(ev.Time, "moved to a "+meta.Strategy+" path")
		}
		meta.Since = ev.Time
		pl.cur = meta
	case session.EventLost, session.EventFailed:
		if ev.Kind == session.EventLost {
			pl.losses++
		}
		if pl.cur != nil {
			meta = pl.cur
			pl.endPath(ev.Time, ev.Reason)
		}
	}
	pl.mu.Unlock()
	go pl.pathChanged(ev, meta)
}

// endPath moves the current path to the history; pl.mu is held.
func (pl *peerLink) endPath(at time.Time, reason string) {
	p := pl.cur.Path
	p.Until, p.Reason = at, reason
	pl.ended = append(pl.ended, p)
	if len(pl.ended) > pathHistory {
		pl.ended = slices.Delete(pl.ended, 0, len(pl.ended)-pathHistory)
	}
	pl.cur = nil
}

// pathChanged reports a change of the link's path and acts on it: a lost
// path starts a resume, a new path one the side that made it may upgrade.
func (pl *peerLink) pathChanged(ev session.Event, meta *pathMeta) {
	n := pl.n
	pe := &PathEvent{Peer: pl.peer, Kind: string(ev.Kind), Reason: ev.Reason, GapMS: ev.Gap.Milliseconds()}
	if meta != nil {
		pe.Path = meta.Path
	}
	n.log.Info("peer path "+string(ev.Kind), "peer", pl.peer, "strategy", pe.Path.Strategy,
		"remote", pe.Path.RemoteAddr, "reason", ev.Reason, "gap", ev.Gap.Round(time.Millisecond))
	n.emit(Event{Type: EventPath, PathChange: pe})
	for _, c := range pl.connList() {
		c.changed()
	}
	switch ev.Kind {
	case session.EventLost:
		pl.graceTimers()
		dir := Inbound
		if meta != nil {
			dir = meta.dir
		}
		pl.resume(dir)
	case session.EventAttached, session.EventResumed, session.EventUpgraded:
		if meta != nil && meta.dir == Outbound {
			pl.upgrade()
		}
	case session.EventFailed:
		n.dropLink(pl)
	}
}

// graceTimers aborts, after the path just lost, each connection whose
// grace is shorter than the link's once its grace has passed without a
// new path.
func (pl *peerLink) graceTimers() {
	pl.mu.Lock()
	loss := pl.losses
	pl.mu.Unlock()
	linkGrace := pl.link.Grace()
	for _, c := range pl.connList() {
		grace := c.Grace()
		if grace <= 0 || grace >= linkGrace {
			continue
		}
		time.AfterFunc(grace, func() {
			pl.mu.Lock()
			waiting := pl.losses == loss && pl.cur == nil
			pl.mu.Unlock()
			if waiting {
				c.Abort(fmt.Sprintf("no path to the peer within the connection's grace period (%v)", grace))
			}
		})
	}
}

// dropLink forgets a failed link.
func (n *Node) dropLink(pl *peerLink) {
	n.mu.Lock()
	if n.links[pl.peer] == pl {
		delete(n.links, pl.peer)
	}
	n.mu.Unlock()
}

// streamChanged follows a stream's ends into its connection's state.
func (pl *peerLink) streamChanged(s *session.Stream) {
	pl.mu.Lock()
	c := pl.conns[s]
	pl.mu.Unlock()
	if c != nil {
		c.update()
	}
}

// acceptLoop lists the streams the peer opens as inbound connections,
// within the inbound policy and limits.
func (pl *peerLink) acceptLoop() {
	n := pl.n
	defer n.dropLink(pl)
	for {
		s, err := pl.link.Accept(n.ctx)
		if err != nil {
			return
		}
		n.inboundMu.Lock()
		if reason := n.admit(pl.peer); reason != "" {
			n.inboundMu.Unlock()
			n.counters.refuse(reason)
			n.log.Info("inbound connection refused", "peer", pl.peer, "reason", reason)
			s.Abort("refused: " + reason)
			continue
		}
		pl.add(newConn(s, pl, Inbound, nil, pl.link.Grace()))
		n.inboundMu.Unlock()
	}
}

// open opens a connection to the peer on the link.
func (pl *peerLink) open(ctx context.Context, attempts []Attempt, grace time.Duration) (*Conn, error) {
	if grace <= 0 {
		grace = pl.n.cfg.Grace
	}
	pl.link.ExtendGrace(grace)
	s, err := pl.link.Open(ctx, session.Header{})
	if err != nil {
		return nil, fmt.Errorf("open a stream to %s: %w", pl.peer, err)
	}
	return pl.add(newConn(s, pl, Outbound, attempts, grace)), nil
}

// add lists a connection on the link and the node.
func (pl *peerLink) add(c *Conn) *Conn {
	pl.mu.Lock()
	pl.conns[c.s] = c
	pl.mu.Unlock()
	pl.n.register(c)
	c.update() // what happened to the stream before it was listed
	return c
}

// remove forgets a closed connection.
func (pl *peerLink) remove(c *Conn) {
	pl.mu.Lock()
	delete(pl.conns, c.s)
	pl.mu.Unlock()
}

func (pl *peerLink) connList() []*Conn {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return slices.Collect(maps.Values(pl.conns))
}

// paths returns the link's current path (nil while it has none) with the
// RTT its pings measure, and every path since t, the current one last;
// never empty.
func (pl *peerLink) paths(since time.Time) (*Path, []Path) {
	rtt := pl.link.RTT()
	pl.mu.Lock()
	defer pl.mu.Unlock()
	var out []Path
	for _, p := range pl.ended {
		if p.Until.After(since) {
			out = append(out, p)
		}
	}
	var cur *Path
	if pl.cur != nil {
		p := pl.cur.Path
		if rtt > 0 {
			p.RTTMS = float64(rtt.Microseconds()) / 1000
		}
		cur = &p
		out = append(out, p)
	}
	if len(out) == 0 && len(pl.ended) > 0 {
		out = append(out, pl.ended[len(pl.ended)-1])
	}
	if len(out) == 0 {
		out = []Path{{}}
	}
	return cur, out
}

// current is the strategy of the link's path, "" while it has none.
func (pl *peerLink) current() (name string, dir Direction) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.cur == nil {
		return "", ""
	}
	return pl.cur.Strategy, pl.cur.dir
}

// resume looks for a new path after the current one died, until the link
// has one or fails. The side that made the lost path starts at once, the
// other after resumeDefer.
func (pl *peerLink) resume(lostDir Direction) {
	if !pl.begin(&pl.recovering) {
		return
	}
	defer pl.end(&pl.recovering)
	ctx, cancel := pl.lifeContext()
	defer cancel()
	if lostDir != Outbound && !sleep(ctx, resumeDefer) {
		return
	}
	backoff := resumeBackoff
	for try := 0; pl.link.State() == session.StateWaiting; try++ {
		if try > 0 {
			// The path may have died because our own address changed.
			pl.n.reprobe()
		}
		err := pl.findPath(ctx, nil, false)
		if err == nil {
			return
		}
		pl.n.log.Info("resume attempt failed", "peer", pl.peer, "err", err)
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, maxResumeBackoff)
	}
}

// upgrade tries, at the upgradeAfter times and then every upgradeEvery,
// the strategies that would give a cheaper path than the current one, as
// long as we made the current path and such a strategy may work.
func (pl *peerLink) upgrade() {
	if !pl.begin(&pl.upgrading) {
		return
	}
	defer pl.end(&pl.upgrading)
	ctx, cancel := pl.lifeContext()
	defer cancel()
	start := time.Now()
	for i := 0; ; i++ {
		if !sleep(ctx, time.Until(start.Add(upgradeAt(i)))) {
			return
		}
		name, dir := pl.current()
		if name == "" {
			continue // waiting for a resume
		}
		if dir != Outbound {
			return // the side that made the path upgrades it
		}
		better := pl.cheaperThan(name)
		if len(better) == 0 {
			return
		}
		if err := pl.findPath(ctx, better, true); errors.Is(err, errNoLikelyStep) {
			continue // the addresses may change
		} else if err != nil {
			pl.n.log.Info("upgrade attempt failed", "peer", pl.peer, "from", name, "err", err)
		}
	}
}

// upgradeAt is when the i-th upgrade attempt is due, counted from the
// path's start, not from the end of the attempt before: a punch takes its
// window of seconds, which would push every later attempt back.
func upgradeAt(i int) time.Duration {
	if i < len(upgradeAfter) {
		return upgradeAfter[i]
	}
	return upgradeAfter[len(upgradeAfter)-1] + time.Duration(i-len(upgradeAfter)+1)*upgradeEvery
}

// begin sets *running, under pl.mu, unless it is set already: one
// resume, or one upgrade loop, at a time. end clears it.
func (pl *peerLink) begin(running *bool) bool {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if *running {
		return false
	}
	*running = true
	return true
}

func (pl *peerLink) end(running *bool) {
	pl.mu.Lock()
	*running = false
	pl.mu.Unlock()
}

// allowed is the strategies the link's connects allow, in their order.
func (pl *peerLink) allowed() []string {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.strategies == nil {
		return DefaultStrategies
	}
	return pl.strategies
}

// cheaperThan lists the strategies the link's connects allow that rank
// before name in the default order (direct, reverse, punch, relay).
func (pl *peerLink) cheaperThan(name string) []string {
	allowed := pl.allowed()
	var out []string
	for _, s := range DefaultStrategies {
		if s == name {
			break
		}
		if slices.Contains(allowed, s) {
			out = append(out, s)
		}
	}
	return out
}

// errNoLikelyStep: an upgrade found no cheaper strategy the plan rates
// likely to work.
var errNoLikelyStep = errors.New("no cheaper strategy is likely to work")

// findPath races the strategies (nil: those the link's connects allow)
// towards the peer's current address and gives the link the path that
// wins. An upgrade races only those the plan rates likely.
func (pl *peerLink) findPath(ctx context.Context, strategies []string, upgrade bool) error {
	why := "resume"
	if upgrade {
		why = "upgrade"
	}
	n := pl.n
	ctx, cancel := context.WithTimeout(ctx, resumeTimeout)
	defer cancel()
	addr, err := pl.peerAddress(ctx)
	if err != nil {
		return err
	}
	self, ok := n.selfAddress()
	if !ok {
		return ErrNotReady
	}
	if strategies == nil {
		strategies = pl.allowed()
	}
	plan := strategy.Plan(self, addr, strategy.PlanConfig{Strategies: strategies, TURN: len(n.cfg.TURN) > 0})
	if upgrade {
		for i, st := range plan {
			if st.Skip == "" && st.Chance != strategy.Likely {
				plan[i].Skip = "not likely to work"
			}
		}
	}
	if !slices.ContainsFunc(plan, func(st strategy.Step) bool { return st.Skip == "" }) {
		if upgrade {
			return errNoLikelyStep
		}
		return fmt.Errorf("%s: no strategy can work (%s)", why, (&ConnectError{Peer: pl.peer, Attempts: skipped(plan)}).Error())
	}
	won, err := n.race(ctx, addr, plan)
	if err != nil {
		return err
	}
	if err := pl.attach(ctx, won.path, won.name, Outbound); err != nil {
		return fmt.Errorf("%s on a %s path: %w", why, won.name, err)
	}
	return nil
}

func skipped(plan []strategy.Step) []Attempt {
	var out []Attempt
	for _, st := range plan {
		out = append(out, Attempt{Name: st.Strategy.Name(), Outcome: OutcomeSkipped, Reason: st.Skip})
	}
	return out
}

// peerAddress asks the peer for its current address (it may have moved),
// falling back to the one last learnt.
func (pl *peerLink) peerAddress(ctx context.Context) (address.Address, error) {
	pl.mu.Lock()
	known := pl.addr
	pl.mu.Unlock()
	to := signaling.Peer{NodeID: pl.peer}
	if known.NodeID != "" {
		to = signaling.PeerOf(known)
	}
	actx, cancel := context.WithTimeout(ctx, addressTimeout)
	defer cancel()
	m, err := pl.n.sig.Request(actx, to, typeAddress, struct{}{})
	var body addressBody
	if err == nil && m.Type == typeAddressReply && m.Decode(&body) == nil {
		if a, perr := address.Parse(body.Address); perr == nil && a.NodeID == pl.peer {
			pl.mu.Lock()
			pl.addr = a
			pl.mu.Unlock()
			return a, nil
		}
	}
	if known.NodeID == "" {
		return known, fmt.Errorf("the peer's address is unknown and it did not tell it: %v", err)
	}
	return known, nil
}

// answerAddress tells a peer with which we have a link our current
// address.
func (n *Node) answerAddress(ctx context.Context, m *signaling.Message) {
	pl, _ := n.linkFor(m.From, false)
	addr := n.Address()
	if pl == nil || !n.allowed(m.From) || addr == "" {
		n.sig.Reply(ctx, m, signaling.TypeError, signaling.ErrorBody{Reason: "not allowed"})
		return
	}
	n.sig.Reply(ctx, m, typeAddressReply, addressBody{Address: addr})
}

// lifeContext ends when the link fails or the node closes.
func (pl *peerLink) lifeContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(pl.n.ctx)
	go func() {
		select {
		case <-pl.link.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// reprobe probes the NATs again, unless a probe finished within
// reprobeEvery: a path that died may mean our address changed.
func (n *Node) reprobe() {
	n.probeMu.Lock()
	defer n.probeMu.Unlock()
	n.mu.Lock()
	at := n.probedAt
	n.mu.Unlock()
	if time.Since(at) < reprobeEvery {
		return
	}
	n.probe()
}

// closeLinks closes every peer link, telling the peers, at once.
func (n *Node) closeLinks() {
	n.mu.Lock()
	links := slices.Collect(maps.Values(n.links))
	n.mu.Unlock()
	var wg sync.WaitGroup
	for _, pl := range links {
		wg.Go(func() { pl.link.Close() })
	}
	wg.Wait()
}
