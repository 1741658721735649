package natprobe_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/reachd/reachd/natprobe"
	"github.com/reachd/reachd/rendezvous"
)

// Probing the loopback interface against an RFC 5780 STUN server on two
// loopback addresses: there is no NAT, so both protocols are open and keep
// their ports.
func ExampleProber_Probe() {
	stun, err := rendezvous.NewSTUNServer(rendezvous.STUNConfig{Listen: []string{"127.0.0.1:0", "127.0.0.2:0"}})
	if err != nil {
		panic(err)
	}
	defer stun.Close()

	p, err := natprobe.New(natprobe.Config{
		STUNServers: []string{stun.Addrs()[0].String()},
		Interfaces: func() ([]natprobe.LocalAddr, error) {
			return []natprobe.LocalAddr{{Name: "lo", Index: 1, IP: netip.MustParseAddr("127.0.0.1")}}, nil
		},
	})
	if err != nil {
		panic(err)
	}
	rep := p.Probe(context.Background())
	for _, ifc := range rep.Interfaces {
		fmt.Println("udp:", ifc.UDP.NAT, ifc.UDP.Mapping, ifc.UDP.Filtering, ifc.UDP.Delta, ifc.UDP.ExternalIP)
		fmt.Println("tcp:", ifc.TCP.NAT, ifc.TCP.Mapping, ifc.TCP.Filtering, ifc.TCP.Delta, ifc.TCP.ExternalIP)
	}
	// Output:
	// udp: open endpoint_independent endpoint_independent equal 127.0.0.1
	// tcp: open endpoint_independent untested equal 127.0.0.1
}
