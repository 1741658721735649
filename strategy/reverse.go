package strategy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/punch"
	"github.com/reachd/reachd/signaling"
)

// reverse asks the peer over signaling to dial us, and takes its
// connection on our listener. The peer answers only to refuse; the
// connection is the success.
type reverse struct{}

// connectBackBody is the connect_back request; its head's address is the
// one to dial back.
type connectBackBody struct {
	requestHead
}

// msgConnectBack asks the peer to dial us back.
var msgConnectBack = signaling.NewType[connectBackBody]("connect_back")

// dialBackTimeout bounds dialing a peer back: shorter than the reverse
// strategy's timeout, so our refusal reaches the peer before it gives up.
const dialBackTimeout = 2 * time.Second

func (reverse) Name() string            { return Reverse }
func (reverse) Timeout() time.Duration  { return 3 * time.Second }
func (reverse) Request() signaling.Kind { return msgConnectBack }

func (reverse) Judge(self, peer address.Address, _ PlanConfig) Judgement {
	if len(punch.Candidates(peer, self, nil)) == 0 {
		return Judgement{Skip: "we have no interface the peer can reach"}
	}
	c := max(best(self.IPv4, reachable), best(self.IPv6, reachable))
	if shareLAN(self, peer) {
		c = Likely
	}
	return Judgement{Chance: max(c, Unlikely)}
}

func (reverse) Initiate(ctx context.Context, env Env, call Call) (Raw, error) {
	self, ok := env.Self()
	if !ok {
		return Raw{}, ErrNotReady
	}
	s := NewTicket()
	arrived, forget := env.Expect(s, call.Peer.NodeID)
	defer forget()
	refused := make(chan error, 1)
	call.mark(MarkSignalingSent)
	go func() {
		_, err := env.Request(ctx, signaling.PeerOf(call.Peer), msgConnectBack,
			connectBackBody{requestHead{Ticket: s.String(), Address: self.String()}})
		refused <- err
	}()
	select {
	case c := <-arrived:
		// The listener has read and matched the preamble.
		call.mark(MarkTCPEstablished)
		return Raw{Conn: c, Ticket: s}, nil
	case err := <-refused:
		call.mark(MarkSignalingAnswered)
		var remote *signaling.RemoteError
		if errors.As(err, &remote) {
			return Raw{}, &RefusedError{What: "could not dial back", Remote: remote}
		}
		if err == nil {
			err = fmt.Errorf("%w: %s answered a connect_back", ErrUnexpectedReply, call.Peer.NodeID)
			return Raw{}, err
		}
		// Signaling failed; the peer may still dial back.
		select {
		case c := <-arrived:
			call.mark(MarkTCPEstablished)
			return Raw{Conn: c, Ticket: s}, nil
		case <-ctx.Done():
			return Raw{}, fmt.Errorf("peer did not dial back: %w", err)
		}
	case <-ctx.Done():
		// The request ends with ctx too: say whether the peer answered it
		// (a peer that never did is offline or out of our brokers' reach).
		if err := <-refused; errors.Is(err, signaling.ErrNoReply) {
			return Raw{}, fmt.Errorf("peer did not dial back: %w", err)
		}
		return Raw{}, fmt.Errorf("peer did not dial back: %w", ctx.Err())
	}
}

func (reverse) Respond(ctx context.Context, env Env, m *signaling.Message) (Raw, error) {
	_, s, peer, err := decodeRequest(m, msgConnectBack)
	if err != nil {
		return Raw{}, err
	}
	self, ok := env.Self()
	if !ok {
		return Raw{}, ErrNotReady
	}
	targets := peerTargets(env, self, peer)
	if len(targets) == 0 {
		return Raw{}, fmt.Errorf("%w: no address of %s may be dialled back", ErrForbiddenTarget, peer.NodeID)
	}
	dctx, cancel := context.WithTimeout(ctx, dialBackTimeout)
	c, err := punch.DialDirect(dctx, targets, nil)
	cancel()
	if err != nil {
		return Raw{}, fmt.Errorf("dial back: %w", err)
	}
	return Raw{Conn: c, Ticket: s, SendPreamble: true, Client: true}, nil
}

// requestHead opens the requests of the strategies whose responder dials
// the requester (connect_back, punch): the attempt's ticket, and the
// requester's own address.
type requestHead struct {
	Ticket  string `json:"session"`
	Address string `json:"address"`
}

func (h *requestHead) head() *requestHead { return h }

// decodeRequest reads the request m of type t and checks its head: a
// well-formed ticket, and an address that is the sender's own.
func decodeRequest[B any, PB interface {
	*B
	head() *requestHead
}](m *signaling.Message, t signaling.Type[B]) (B, Ticket, address.Address, error) {
	body, err := t.Decode(m)
	if err != nil {
		return body, Ticket{}, address.Address{}, badRequest("%w", err)
	}
	h := PB(&body).head()
	s, err := ParseTicket(h.Ticket)
	if err != nil {
		return body, Ticket{}, address.Address{}, badRequest("%w", err)
	}
	peer, err := peerAddress(h.Address, m.From)
	if err != nil {
		return body, Ticket{}, address.Address{}, err
	}
	return body, s, peer, nil
}

// peerAddress parses the address a requester sends of itself, which must
// be its own.
func peerAddress(text, from string) (address.Address, error) {
	a, err := address.Parse(text)
	if err != nil {
		return a, badRequest("requester's address: %w", err)
	}
	if a.NodeID != from {
		return a, badRequest("requester's address names %s, not the sender %s", a.NodeID, from)
	}
	return a, nil
}
