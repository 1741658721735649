package tap_test

import (
	"context"
	"log"
	"net"
	"net/netip"

	"github.com/reachd/reachd/tap"
)

// A TAP device backed by a connection to a peer that runs the same code:
// Ethernet frames cross the connection, one length-prefixed frame at a time.
func Example() {
	dev, err := tap.New(tap.Config{
		Addrs: []netip.Prefix{netip.MustParsePrefix("10.99.0.1/24")},
		MAC:   tap.StableMAC("my node id/lab"), // same MAC after a restart
	})
	if err != nil {
		log.Fatal(err) // errors.Is(err, tap.ErrPermission), tap.ErrAddrTaken, ...
	}
	defer dev.Close()
	log.Printf("%s up, MAC %s, MTU %d", dev.Name(), dev.MAC(), dev.MTU())

	conn, err := net.Dial("tcp", "peer.example:7000")
	if err != nil {
		log.Fatal(err)
	}
	// Pump returns when the peer ends the connection, the device is closed,
	// or the context is done; it closes the connection, not the device.
	if err := tap.Pump(context.Background(), dev, tap.NewFramer(conn)); err != nil {
		log.Print(err)
	}
	log.Printf("%+v", dev.Stats())
}
