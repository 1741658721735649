package session_test

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/reachd/reachd/session"
)

// A link between two nodes carries streams; when its path dies, the node
// attaches a new one and the streams go on.
func Example() {
	ctx := context.Background()
	// Each node makes its side of the link once per peer (the node with
	// the smaller ID is the initiator).
	a, _ := session.New(session.Config{}, true)
	b, _ := session.New(session.Config{}, false)
	defer a.Close()
	defer b.Close()

	// The node secured a path (here a pipe); both sides attach its ends.
	attach := func() {
		pa, pb := net.Pipe()
		done := make(chan error)
		go func() { done <- b.Attach(ctx, pb) }()
		if err := a.Attach(ctx, pa); err != nil {
			fmt.Println(err)
		}
		<-done
	}
	attach()

	s, _ := a.Open(ctx, session.Header{Service: "greeting"})
	s.Write([]byte("hello, "))

	r, _ := b.Accept(ctx)
	buf := make([]byte, 7)
	io.ReadFull(r, buf)

	// The path changes under the stream (an upgrade here); nothing is lost.
	attach()
	s.Write([]byte("peer"))
	s.CloseWrite()
	rest, _ := io.ReadAll(r)
	fmt.Printf("%s %q: %s%s\n", r.Header().Service, a.State(), buf, rest)
	// Output: greeting "connected": hello, peer
}
