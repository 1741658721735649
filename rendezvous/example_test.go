package rendezvous_test

import (
	"fmt"
	"log"
	"net/netip"

	"github.com/reachd/reachd/rendezvous"
)

// A rendezvous server on loopback: MQTT, STUN on two ports (RFC 5780) and
// TURN with one user, each on a free port.
func Example() {
	s, err := rendezvous.New(rendezvous.Config{
		MQTTListen: "127.0.0.1:0",
		STUNListen: []string{"127.0.0.1:0", "127.0.0.1:0"},
		TURNListen: "127.0.0.1:0",
		TURNUsers:  map[string]string{"alice": "correct horse"},
		PublicIP:   netip.MustParseAddr("127.0.0.1"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	fmt.Println("stun addresses:", len(s.STUNAddrs()))
	fmt.Println("turn on loopback:", s.TURNAddr().Addr().IsLoopback())
	fmt.Println("websocket:", s.MQTTWSAddr() != "")
	// Output:
	// stun addresses: 2
	// turn on loopback: true
	// websocket: false
}
