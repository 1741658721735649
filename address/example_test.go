package address_test

import (
	"fmt"
	"net/netip"

	"github.com/reachd/reachd/address"
)

func ExampleParse() {
	a, err := address.Parse("0,1-[2,0,203.0.113.2,10.1.0.2,40000,5,2,0]-0-" +
		"2w7uup6m44l3aoelzqtut26bjcwzs2nsh5c64g3al7kyo6cxnlca-0123456789abcdef")
	if err != nil {
		fmt.Println(err)
		return
	}
	it := a.IPv4[0]
	fmt.Println(a.SignalOffsets, it.ExternalIP, it.ListenPort, it.NAT, it.Delta)

	_, err = address.Parse("0,1-[2,0,203.0.113.2,10.1.0.2,0,5,2,0]-0-" +
		"2w7uup6m44l3aoelzqtut26bjcwzs2nsh5c64g3al7kyo6cxnlca-0123456789abcdef")
	fmt.Println(err)
	// Output:
	// [0 1] 203.0.113.2 40000 port_restricted_cone equal
	// address: ipv4 interfaces item 1 listen port "0": out of range 1..65535
}

func ExampleAddress_String() {
	a := address.Address{
		SignalOffsets: []int{0},
		IPv6: []address.Interface{{
			NetIfIndex: 3,
			ExternalIP: netip.MustParseAddr("2001:db8::2"),
			InternalIP: netip.MustParseAddr("2001:db8::2"),
			ListenPort: 40000,
			NAT:        address.NATOpen,
			Delta:      address.DeltaNA,
		}},
		NodeID:    "2w7uup6m44l3aoelzqtut26bjcwzs2nsh5c64g3al7kyo6cxnlca",
		MachineID: "0123456789abcdef",
	}
	if err := a.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a)
	// Output:
	// 0-0-[3,0,2001:db8::2,2001:db8::2,40000,1,1,0]-2w7uup6m44l3aoelzqtut26bjcwzs2nsh5c64g3al7kyo6cxnlca-0123456789abcdef
}
