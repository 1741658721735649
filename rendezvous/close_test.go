package rendezvous_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/reachd/reachd/rendezvous"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/signaling"
)

// Close returns promptly with clients of every kind still connected, among
// them silent ones that never send a byte, and no goroutine outlives the
// server and its clients.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	// Registered first, so it runs last: after the cleanups of the MQTT and
	// TURN clients the helpers register.
	t.Cleanup(func() { waitGoroutines(t, before) })
	s, err := rendezvous.New(rendezvous.Config{
		MQTTListen:   "127.0.0.1:0",
		MQTTWSListen: "127.0.0.1:0",
		STUNListen:   []string{"127.0.0.1:0", "127.0.0.1:0"},
		TURNListen:   "127.0.0.1:0",
		TURNUsers:    map[string]string{rendezvoustest.TURNUser: rendezvoustest.TURNPassword},
	})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()

	var clientConns []net.Conn
	dial := func(network, addr string) {
		c, err := net.DialTimeout(network, addr, waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		clientConns = append(clientConns, c)
	}
	// Silent connections: mochi would wait for CONNECT forever, pion for a
	// request.
	dial("tcp", s.MQTTAddr())
	dial("tcp", s.TURNAddr().String())
	dial("tcp", s.STUNAddrs()[1].String())
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	silentWS, _, err := websocket.Dial(ctx, "ws://"+s.MQTTWSAddr()+"/mqtt", &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	defer silentWS.CloseNow()

	// Live MQTT clients over both transports, subscribed.
	for _, url := range []string{rendezvoustest.MQTTURL(s), rendezvoustest.MQTTWSURL(s)} {
		c, nid := connectNode(t, url, url)
		subscribe(t, c, signaling.TopicPrefix+nid.NodeID(), 1)
	}

	// A TURN TCP allocation with a live relayed connection.
	client := newTURNClient(t, s.TURNAddr(), rendezvoustest.TURNUser, rendezvoustest.TURNPassword)
	alloc, err := client.AllocateTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer alloc.Close()
	if err := client.CreatePermission(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	dial("tcp", alloc.Addr().String())
	peer := clientConns[len(clientConns)-1]
	if err := alloc.SetDeadline(time.Now().Add(waitLimit)); err != nil {
		t.Fatal(err)
	}
	relayed, err := alloc.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer relayed.Close()
	exchange(t, relayed, peer)

	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		closed = true
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(2 * waitLimit):
		t.Fatal("Close did not return")
	}

	// Nothing of the server runs any more, though every client is still
	// open.
	waitFor(t, "server goroutines to end", func() (bool, string) {
		stacks := serverGoroutines()
		return len(stacks) == 0, strings.Join(stacks, "\n\n")
	})

	// The server closed the relayed connection: the peer sees the end.
	if err := peer.SetReadDeadline(time.Now().Add(waitLimit)); err != nil {
		t.Fatal(err)
	}
	if n, err := peer.Read(make([]byte, 1)); err == nil {
		t.Errorf("peer read %d bytes after Close, want the connection closed", n)
	}

	for _, c := range clientConns {
		c.Close()
	}
	silentWS.CloseNow()
	relayed.Close()
	alloc.Close()
}

// waitGoroutines waits, for a bounded time, until no more goroutines run
// than before, and fails with every goroutine's stack otherwise.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	waitFor(t, "goroutines to end", func() (bool, string) {
		n := runtime.NumGoroutine()
		return n <= before, fmt.Sprintf("%d goroutines, %d before:\n%s", n, before, allStacks())
	})
}

// waitFor polls cond until it holds, for a bounded time, and fails with the
// report of its last call otherwise.
func waitFor(t *testing.T, what string, cond func() (ok bool, report string)) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, report := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s", what, report)
		}
		<-tick.C
	}
}

// serverMarkers identify the frames of the server side: this package, mochi,
// pion's TURN server (not its client) and net/http's server.
var serverMarkers = []string{
	"github.com/reachd/reachd/rendezvous.",
	"github.com/mochi-mqtt/server/v2",
	"github.com/pion/turn/v5.(*Server)",
	"github.com/pion/turn/v5.NewServer",
	"github.com/pion/turn/v5/internal/server.",
	"github.com/pion/turn/v5/internal/allocation.",
	"net/http.(*conn).serve",
	"net/http.(*Server).Serve",
}

// serverGoroutines returns the stacks of the goroutines running server code.
func serverGoroutines() []string {
	var out []string
	for _, g := range strings.Split(allStacks(), "\n\n") {
		for _, m := range serverMarkers {
			if strings.Contains(g, m) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
