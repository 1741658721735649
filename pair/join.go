package pair

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reachd/reachd/signaling"
)

// Join completes the offer of code: it finds the offer on the topic of the
// code's number, runs the exchange and, once both proved the code, saves
// the offerer under name (Config.Paired). Errors: ErrCodeSyntax (not a
// code), ErrWrongCode, ErrCodeUsed, ErrNoOffer (nobody answered within
// StepTimeout), or what Paired returned.
func (m *Manager) Join(ctx context.Context, text, name string) (Result, error) {
	code, err := ParseCode(text)
	if err != nil {
		return Result{}, err
	}
	n := code.Number
	run, h, err := startJoin(code, m.cfg.Self, m.cfg.Rand)
	if err != nil {
		return Result{}, err
	}
	replies := make(chan replyIn, 1)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return Result{}, ErrClosed
	}
	if _, own := m.offers[n]; own {
		m.mu.Unlock()
		return Result{}, errf(n, ErrOwnOffer)
	}
	m.joins[sidKey(h.SID)] = replies
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.joins, sidKey(h.SID))
		m.mu.Unlock()
	}()

	res, err := m.join(ctx, code, run, h, replies, name)
	ev := Event{Offer: n, Role: RoleJoin, State: StateCompleted, Peer: res.PeerID, Name: res.Name}
	if err != nil {
		ev.State, ev.Reason = StateFailed, err.Error()
	}
	m.emit(ev)
	m.log.Info("pairing join ended", "offer", n, "state", ev.State, "peer", ev.Peer, "reason", ev.Reason)
	return res, err
}

func (m *Manager) join(ctx context.Context, code Code, run *joinRun, h hello, replies <-chan replyIn, name string) (Result, error) {
	n := code.Number
	// Joining the topic is what lets us publish on it; what others publish
	// there is not for us.
	g, err := m.cfg.Signal.JoinGroup(Topic(n), groupKey(n), func(context.Context, *signaling.Message) {})
	if errors.Is(err, signaling.ErrGroupJoined) {
		return Result{}, errf(n, ErrJoinRunning)
	}
	if err != nil {
		return Result{}, err
	}
	defer g.Leave()

	wait, cancel := context.WithTimeout(ctx, m.cfg.StepTimeout)
	defer cancel()
	resend := time.NewTicker(m.cfg.Resend)
	defer resend.Stop()
	var in replyIn
	for got := false; !got; {
		if err := g.Publish(wait, msgHello, h); err != nil && wait.Err() == nil {
			m.log.Debug("pair hello", "offer", n, "err", err)
		}
		select {
		case in = <-replies:
			got = true
		case <-resend.C:
		case <-wait.Done():
			if ctx.Err() != nil {
				return Result{}, ctx.Err()
			}
			return Result{}, errf(n, ErrNoOffer)
		case <-m.ctx.Done():
			return Result{}, ErrClosed
		}
	}
	offerer := in.m.From
	res := Result{Role: RoleJoin, Number: n, PeerID: offerer, Name: name}
	cf, err := run.answer(offerer, in.body, m.cfg.Card())
	if errors.Is(err, ErrWrongCode) {
		// Tell the offerer at once: its offer ends either way.
		m.send("pair_confirm wrong", func(ctx context.Context) error {
			return m.cfg.Signal.Send(ctx, signaling.Peer{NodeID: offerer, SignalOffsets: []int{in.m.BrokerOffset}}, msgConfirm, cf, "")
		})
	}
	if err != nil {
		return res, errf(n, err)
	}
	step, cancel2 := context.WithTimeout(ctx, m.cfg.StepTimeout)
	defer cancel2()
	ans, err := m.cfg.Signal.Request(step, signaling.Peer{NodeID: offerer, SignalOffsets: []int{in.m.BrokerOffset}}, msgConfirm, cf)
	var re *signaling.RemoteError
	switch {
	case errors.As(err, &re):
		if re.Reason == ErrWrongCode.Error() {
			return res, errf(n, ErrWrongCode)
		}
		return res, errf(n, fmt.Errorf("the offering node refused: %s", re.Reason))
	case err != nil:
		return res, errf(n, fmt.Errorf("no answer from the offering node: %w", err))
	}
	d, err := msgDone.Decode(ans)
	if err != nil {
		return res, errf(n, fmt.Errorf("%w: %w", ErrBadMessage, err))
	}
	card, err := run.finish(ans.From, d)
	if err != nil {
		return res, errf(n, err)
	}
	res.Card = card
	saved, err := m.cfg.Paired(res)
	if err != nil {
		return res, err
	}
	res.Name = saved
	return res, nil
}

// onReply hands an offerer's reply to the join that waits for it (by sid);
// the first one wins.
func (m *Manager) onReply(_ context.Context, msg *signaling.Message) {
	rp, err := msgReply.Decode(msg)
	if err != nil {
		return
	}
	m.mu.Lock()
	ch := m.joins[sidKey(rp.SID)]
	m.mu.Unlock()
	if ch == nil {
		return // no join waits for it: late, stray or replayed
	}
	select {
	case ch <- replyIn{m: msg, body: rp}:
	default:
	}
}
