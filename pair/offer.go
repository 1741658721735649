package pair

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/reachd/reachd/signaling"
)

// OfferInfo is an open offer.
type OfferInfo struct {
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires_at"`
}

const stateWaiting, stateChecking = "waiting", "checking"

// Offer opens an offer: a fresh code, valid for TTL and one exchange. The
// peer that joins with it is saved under name ("" lets Config.Paired
// choose).
func (m *Manager) Offer(ctx context.Context, name string) (OfferInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return OfferInfo{}, ErrClosed
	}
	if len(m.offers) >= m.cfg.MaxOffers && !m.evictLocked() {
		return OfferInfo{}, ErrTooManyOffers
	}
	// A number this node uses already (an offer, or a join's topic) is
	// drawn again.
	var o *offer
	for o == nil {
		code, err := NewCode(m.cfg.Rand)
		if err != nil {
			return OfferInfo{}, err
		}
		if _, taken := m.offers[code.Number]; taken {
			continue
		}
		now := m.cfg.Now()
		x := &offer{code: code, name: name, expires: now.Add(m.cfg.TTL), created: now, state: stateWaiting,
			started: make(chan struct{}), gone: make(chan struct{})}
		g, err := m.cfg.Signal.JoinGroup(Topic(code.Number), groupKey(code.Number), m.onHello(x))
		if errors.Is(err, signaling.ErrGroupJoined) {
			continue
		}
		if err != nil {
			return OfferInfo{}, err
		}
		x.group, o = g, x
	}
	m.offers[o.code.Number] = o
	m.wg.Go(func() { m.watch(o) })
	m.log.Info("pairing offer open", "offer", o.code.Number, "expires", o.expires)
	return OfferInfo{Code: o.code.String(), ExpiresAt: o.expires}, nil
}

// evictLocked drops the oldest ended offer to make room; false when every
// offer is still open.
func (m *Manager) evictLocked() bool {
	var old *offer
	for _, o := range m.offers {
		if (o.state == StateCompleted || o.state == StateFailed) && (old == nil || o.created.Before(old.created)) {
			old = o
		}
	}
	if old == nil {
		return false
	}
	m.dropLocked(old)
	return true
}

// dropLocked forgets o and leaves its topic.
func (m *Manager) dropLocked(o *offer) {
	if m.offers[o.code.Number] != o {
		return
	}
	delete(m.offers, o.code.Number)
	o.group.Leave()
	close(o.gone)
}

// watch ends o at its expiry, and fails it when its joiner goes silent.
func (m *Manager) watch(o *offer) {
	expiry := time.NewTimer(o.expires.Sub(m.cfg.Now()))
	defer expiry.Stop()
	var step <-chan time.Time
	started := o.started
	for {
		select {
		case <-m.ctx.Done():
			m.mu.Lock()
			m.dropLocked(o)
			m.mu.Unlock()
			return
		case <-o.gone:
			return
		case <-started:
			started = nil
			t := time.NewTimer(m.cfg.StepTimeout)
			defer t.Stop()
			step = t.C
		case <-step:
			m.end(o, StateFailed, "", "the joining node did not confirm the code in time", StateStarted)
		case <-expiry.C:
			// An exchange that is checking the joiner's confirm ends as
			// that check says.
			m.end(o, StateExpired, "", "", stateWaiting)
			m.end(o, StateFailed, "", "the offer expired during the exchange", StateStarted)
			m.mu.Lock()
			m.dropLocked(o)
			m.mu.Unlock()
			return
		}
	}
}

// end records the outcome of o's exchange, when o is in the state from:
// true when this call did.
func (m *Manager) end(o *offer, state, name, reason string, from string) bool {
	m.mu.Lock()
	if o.state != from {
		m.mu.Unlock()
		return false
	}
	o.state = state
	peer := ""
	if o.run != nil {
		peer = o.run.joiner
	}
	m.mu.Unlock()
	m.emit(Event{Offer: o.code.Number, Role: RoleOffer, State: state, Peer: peer, Name: name, Reason: reason})
	m.log.Info("pairing offer ended", "offer", o.code.Number, "state", state, "peer", peer, "reason", reason)
	return true
}

// onHello handles the hellos on o's topic: the first one uses the offer.
func (m *Manager) onHello(o *offer) signaling.Handler {
	return func(_ context.Context, msg *signaling.Message) {
		h, err := msgHello.Decode(msg)
		if err != nil {
			return
		}
		m.mu.Lock()
		switch {
		case o.state == stateWaiting:
		case o.run != nil && o.run.joiner == msg.From && bytes.Equal(o.sid, h.SID):
			m.mu.Unlock()
			return // the joiner's hello again (it resends until answered)
		default:
			refuse := o.refusals < maxRefusals
			o.refusals++
			m.mu.Unlock()
			if refuse {
				m.send("pair_reply refused", func(ctx context.Context) error {
					return m.cfg.Signal.Reply(ctx, msg, msgReply, reply{SID: h.SID, Refused: ErrCodeUsed.Error()})
				})
			}
			return
		}
		run, rp, err := answerHello(o.code, m.cfg.Self, msg.From, h, m.cfg.Rand)
		if err != nil {
			m.mu.Unlock()
			m.log.Debug("pair hello dropped", "offer", o.code.Number, "from", msg.From, "err", err)
			return // a malformed hello is no guess: the offer stays open
		}
		o.state, o.run, o.sid = StateStarted, run, h.SID
		close(o.started)
		m.mu.Unlock()
		m.emit(Event{Offer: o.code.Number, Role: RoleOffer, State: StateStarted, Peer: msg.From})
		rp.SID = h.SID
		m.send("pair_reply", func(ctx context.Context) error { return m.cfg.Signal.Reply(ctx, msg, msgReply, rp) })
	}
}

// onConfirm handles a joiner's confirm: the code is proven (or not), the
// joiner's card saved, ours sent.
func (m *Manager) onConfirm(_ context.Context, msg *signaling.Message) {
	cf, err := msgConfirm.Decode(msg)
	if err != nil {
		return
	}
	m.mu.Lock()
	var o *offer
	for _, x := range m.offers {
		if x.state == StateStarted && x.run.joiner == msg.From {
			o = x
			break
		}
	}
	if o == nil {
		m.mu.Unlock()
		return // no exchange waits for it: stray or replayed
	}
	o.state = stateChecking
	m.mu.Unlock()

	refuse := func(err error) {
		m.end(o, StateFailed, "", err.Error(), stateChecking)
		m.send("pair refusal", func(ctx context.Context) error {
			return m.cfg.Signal.Reply(ctx, msg, signaling.Error, signaling.ErrorBody{Reason: err.Error()})
		})
	}
	peer, d, err := o.run.check(m.cfg.Self, msg.From, cf, m.cfg.Card())
	if err != nil {
		if !errors.Is(err, ErrWrongCode) {
			m.log.Debug("pair confirm", "offer", o.code.Number, "from", msg.From, "err", err)
		}
		refuse(err)
		return
	}
	name, err := m.cfg.Paired(Result{Role: RoleOffer, Number: o.code.Number, PeerID: msg.From, Card: peer, Name: o.name})
	if err != nil {
		m.log.Warn("pairing: cannot save the peer", "offer", o.code.Number, "peer", msg.From, "err", err)
		refuse(errors.New("the offering node could not save the peer"))
		return
	}
	if m.end(o, StateCompleted, name, "", stateChecking) {
		m.send("pair_done", func(ctx context.Context) error { return m.cfg.Signal.Reply(ctx, msg, msgDone, d) })
	}
}
