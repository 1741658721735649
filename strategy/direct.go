package strategy

import (
	"context"
	"errors"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/punch"
	"github.com/reachd/reachd/signaling"
)

// direct dials the peer's listen port on each address that can work (the
// internal IP on a shared LAN, else the external IP). Its responder is the
// node's peer listener, which needs no signaling.
type direct struct{}

func (direct) Name() string            { return Direct }
func (direct) Timeout() time.Duration  { return 2 * time.Second }
func (direct) Request() signaling.Kind { return nil }

func (direct) Judge(self, peer address.Address, _ PlanConfig) Judgement {
	if len(punch.Candidates(self, peer, nil)) == 0 {
		return Judgement{Skip: "the peer has no interface reachable from here"}
	}
	c := max(best(peer.IPv4, reachable), best(peer.IPv6, reachable))
	if shareLAN(self, peer) {
		c = Likely
	}
	return Judgement{Chance: max(c, Unlikely)}
}

func (direct) Initiate(ctx context.Context, env Env, call Call) (Raw, error) {
	self, ok := env.Self()
	if !ok {
		return Raw{}, ErrNotReady
	}
	c, err := punch.DialDirect(ctx, punch.Candidates(self, call.Peer, env.OnLink), nil)
	if err != nil {
		return Raw{}, err
	}
	call.mark(MarkTCPEstablished)
	return Raw{Conn: c, SendPreamble: true, Client: true}, nil
}

func (direct) Respond(context.Context, Env, *signaling.Message) (Raw, error) {
	return Raw{}, errors.New("direct: nothing to answer")
}
