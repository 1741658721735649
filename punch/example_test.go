package punch_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/reachd/reachd/punch"
)

// Two sides of a punch on loopback. In reachd each side runs in its own
// node, Remote is the peer's predicted external endpoint, and At travels
// in the punch/punch_reply signaling messages.
func ExamplePunch() {
	portA, portB := freePort(), freePort()
	at := punch.MeetingTime(time.Now(), 5*time.Millisecond)

	var wg sync.WaitGroup
	conns := make([]net.Conn, 2)
	for i, ends := range [][2]netip.AddrPort{{portA, portB}, {portB, portA}} {
		wg.Go(func() {
			c, err := punch.Punch(context.Background(), punch.Config{LocalAddr: ends[0], Remote: ends[1], At: at})
			if err != nil {
				fmt.Println(err)
				return
			}
			conns[i] = c
		})
	}
	wg.Wait()
	if conns[0] == nil || conns[1] == nil {
		return
	}
	defer conns[0].Close()
	defer conns[1].Close()

	io.WriteString(conns[0], "ping")
	buf := make([]byte, 4)
	io.ReadFull(conns[1], buf)
	fmt.Printf("B got %q; it came from A's port: %t\n", buf, conns[1].RemoteAddr().String() == portA.String())
	// Output: B got "ping"; it came from A's port: true
}

func ExampleRole() {
	me := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"
	peer := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	fmt.Println(punch.Role(me, peer), punch.Role(peer, me))
	// Output: server client
}

func freePort() netip.AddrPort {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return netip.MustParseAddrPort(ln.Addr().String())
}
