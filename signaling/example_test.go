package signaling_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/rendezvous"
	"github.com/reachd/reachd/signaling"
)

// The message types of the example: each package declares those it
// handles, once, with their bodies.
type relayBody struct {
	Addr string `json:"addr"`
}

var (
	relayRequest = signaling.NewType[struct{}]("relay")
	relayReply   = signaling.NewType[relayBody]("relay_reply")
)

// Two nodes on one broker: b answers a request type of its own, a asks.
func Example() {
	srv, err := rendezvous.New(rendezvous.Config{MQTTListen: "127.0.0.1:0", TURNListen: "127.0.0.1:0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	brokers := []string{"mqtt://" + srv.MQTTAddr()}

	node := func() *signaling.Client {
		dir, _ := os.MkdirTemp("", "reachd-example")
		defer os.RemoveAll(dir)
		id, err := identity.LoadOrCreate(dir)
		if err != nil {
			panic(err)
		}
		c, err := signaling.New(signaling.Config{Identity: id, Brokers: brokers})
		if err != nil {
			panic(err)
		}
		return c
	}
	a, b := node(), node()
	defer a.Close()
	defer b.Close()

	b.Handle(relayRequest, func(ctx context.Context, m *signaling.Message) {
		_ = b.Reply(ctx, m, relayReply, relayBody{Addr: "192.0.2.1:3478"})
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range []*signaling.Client{a, b} {
		if err := c.Start(ctx); err != nil {
			panic(err)
		}
	}
	// In reachd the Peer comes from the peer's address: signaling.PeerOf(addr).
	peer := signaling.Peer{NodeID: b.ID(), SignalOffsets: b.ConnectedOffsets()}

	reply, err := a.Request(ctx, peer, relayRequest, struct{}{})
	if err != nil {
		fmt.Println(err)
		return
	}
	body, err := relayReply.Decode(reply) // checks the type, then reads the body
	fmt.Println(reply.Type, body.Addr, err)

	_, via, err := a.Echo(ctx, peer)
	fmt.Println("echo via", via == brokers[0], err)
	// Output:
	// relay_reply 192.0.2.1:3478 <nil>
	// echo via true <nil>
}
