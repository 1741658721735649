package turn_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/reachd/reachd/turn"
)

// The initiator's side of a relayed connection. The peer dials the relayed
// address with net.Dial("tcp", ...); nothing else.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	a, err := turn.Allocate(ctx, turn.Config{URL: "turn://user:pass@turn.example.com:3478"})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close() // the allocation outlives it until conn is closed

	fmt.Println("send the peer our relayed address:", a.RelayedAddr())
	peer := netip.MustParseAddr("198.51.100.7") // the peer's address, from signaling
	if err := a.Permit(ctx, peer); err != nil {
		log.Fatal(err)
	}

	conn, err := a.Accept(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "hello %s\n", conn.RemoteAddr())
}
