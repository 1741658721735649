package natlab_test

import (
	"net"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// TestLinkFirstConnect: the first connection from behind a new linked
// router crosses without loss. Before AddRouter awaited the link, the
// first router of a lab lost its first SYN, so the connect took the
// kernel's 1 s retransmission, and a node started there probed its NAT as
// blocked.
func TestLinkFirstConnect(t *testing.T) {
	// A frame lost by chance on a loaded machine costs one run; a link
	// that loses its first frames loses them in every new lab.
	var took time.Duration
	for try := range 2 {
		took = firstConnect(t)
		// 100 ms of round trip; a lost SYN costs a 1 s retransmission.
		if took < time.Second {
			return
		}
		t.Logf("lab %d: first connect took %v", try+1, took)
	}
	t.Errorf("first connect took %v in two new labs: the new link loses its first frames", took)
}

// firstConnect times the first TCP connect from a host behind a new
// linked router (50 ms each way) to the WAN.
func firstConnect(t *testing.T) time.Duration {
	lab := natlab.New(t)
	h := lab.AddRouter(natlab.Public, natlab.Link{Delay: 50 * time.Millisecond}).AddHost()
	var ln net.Listener
	if err := lab.WAN().Do(func() (err error) {
		ln, err = net.Listen("tcp", "203.0.113.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var took time.Duration
	if err := h.Do(func() error {
		start := time.Now()
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		took = time.Since(start)
		if c != nil {
			c.Close()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return took
}
