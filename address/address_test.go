package address_test

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/reachd/reachd/address"
)

const (
	nodeA    = "2w7uup6m44l3aoelzqtut26bjcwzs2nsh5c64g3al7kyo6cxnlca"
	nodeB    = "5ta3lbzh6pyswmmuranj5s454czizz5sa4rq3dutb7q3zz26evwa"
	machine  = "0123456789abcdef"
	item4    = "[2,0,203.0.113.2,10.1.0.2,40000,5,2,0]"
	item6    = "[3,1,2001:db8::2,fe80::1,40000,1,1,0]"
	tailA    = "-" + nodeA + "-" + machine
	docAddrA = "0,1-" + item4 + "-0" + tailA
)

// equal compares addresses, treating nil and empty slices alike.
func equal(a, b address.Address) bool {
	return slices.Equal(a.SignalOffsets, b.SignalOffsets) &&
		slices.Equal(a.IPv4, b.IPv4) && slices.Equal(a.IPv6, b.IPv6) &&
		a.NodeID == b.NodeID && a.MachineID == b.MachineID
}

func TestParseValid(t *testing.T) {
	ip := netip.MustParseAddr
	tests := []struct {
		name string
		in   string
		want address.Address
	}{
		{
			name: "design example",
			in:   docAddrA,
			want: address.Address{
				SignalOffsets: []int{0, 1},
				IPv4: []address.Interface{{NetIfIndex: 2, Offset: 0, ExternalIP: ip("203.0.113.2"), InternalIP: ip("10.1.0.2"),
					ListenPort: 40000, NAT: address.NATPortRestrictedCone, Delta: address.DeltaEqual, DeltaValue: 0}},
				NodeID: nodeA, MachineID: machine,
			},
		},
		{
			name: "no interfaces",
			in:   "0-0-0" + tailA,
			want: address.Address{SignalOffsets: []int{0}, NodeID: nodeA, MachineID: machine},
		},
		{
			name: "offsets keep their order",
			in:   "7,0,255-0-0" + tailA,
			want: address.Address{SignalOffsets: []int{7, 0, 255}, NodeID: nodeA, MachineID: machine},
		},
		{
			name: "ipv6 only",
			in:   "0-0-" + item6 + tailA,
			want: address.Address{
				SignalOffsets: []int{0},
				IPv6: []address.Interface{{NetIfIndex: 3, Offset: 1, ExternalIP: ip("2001:db8::2"), InternalIP: ip("fe80::1"),
					ListenPort: 40000, NAT: address.NATOpen, Delta: address.DeltaNA}},
				NodeID: nodeA, MachineID: machine,
			},
		},
		{
			name: "three of each and extreme values",
			in: "0-[2147483647,255,255.255.255.255,0.0.0.0,65535,7,6,65535]|" + item4 + "|" + item4 +
				"-" + item6 + "|" + item6 + "|[0,0,::,::1,1,6,4,1]-" + nodeB + "-ffffffffffffffff",
			want: address.Address{
				SignalOffsets: []int{0},
				IPv4: []address.Interface{
					{NetIfIndex: 2147483647, Offset: 255, ExternalIP: ip("255.255.255.255"), InternalIP: ip("0.0.0.0"),
						ListenPort: 65535, NAT: address.NATBlocked, Delta: address.DeltaRandom, DeltaValue: 65535},
					{NetIfIndex: 2, ExternalIP: ip("203.0.113.2"), InternalIP: ip("10.1.0.2"), ListenPort: 40000, NAT: 5, Delta: 2},
					{NetIfIndex: 2, ExternalIP: ip("203.0.113.2"), InternalIP: ip("10.1.0.2"), ListenPort: 40000, NAT: 5, Delta: 2},
				},
				IPv6: []address.Interface{
					{NetIfIndex: 3, Offset: 1, ExternalIP: ip("2001:db8::2"), InternalIP: ip("fe80::1"), ListenPort: 40000, NAT: 1, Delta: 1},
					{NetIfIndex: 3, Offset: 1, ExternalIP: ip("2001:db8::2"), InternalIP: ip("fe80::1"), ListenPort: 40000, NAT: 1, Delta: 1},
					{ExternalIP: ip("::"), InternalIP: ip("::1"), ListenPort: 1, NAT: address.NATSymmetric, Delta: address.DeltaIndependent, DeltaValue: 1},
				},
				NodeID: nodeB, MachineID: "ffffffffffffffff",
			},
		},
		{
			name: "all-zero key",
			in:   "0-0-0-" + strings.Repeat("a", 52) + "-" + machine,
			want: address.Address{SignalOffsets: []int{0}, NodeID: strings.Repeat("a", 52), MachineID: machine},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := address.Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !equal(got, tt.want) {
				t.Fatalf("Parse(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.in {
				t.Errorf("String() = %q, want %q", s, tt.in)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate() = %v", err)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	v4 := func(fields string) string { return "0-[" + fields + "]-0" + tailA }
	v6 := func(fields string) string { return "0-0-[" + fields + "]" + tailA }
	tests := []struct {
		name      string
		in        string
		part      string
		field     string
		value     string
		reasonHas string
	}{
		// whole address
		{"empty input", "", "address", "", "", "has 1 parts"},
		{"four parts", "0-0-0-" + nodeA, "address", "", "0-0-0-" + nodeA, "has 4 parts"},
		{"six parts", docAddrA + "-x", "address", "", docAddrA + "-x", "has 6 parts"},
		{"trailing dash", docAddrA + "-", "address", "", docAddrA + "-", "has 6 parts"},
		{"negative delta value splits parts", v4("2,0,203.0.113.2,10.1.0.2,40000,5,4,-1"), "address", "", v4("2,0,203.0.113.2,10.1.0.2,40000,5,4,-1"), "has 6 parts"},

		// signal offsets
		{"empty offsets", "-0-0" + tailA, "signal offsets", "", "", "empty"},
		{"offset too big", "256-0-0" + tailA, "signal offsets", "offset 1", "256", "out of range 0..255"},
		{"offset huge", "99999999999999999999999-0-0" + tailA, "signal offsets", "offset 1", "99999999999999999999999", "out of range"},
		{"offset leading zero", "01-0-0" + tailA, "signal offsets", "offset 1", "01", "leading zero"},
		{"offset plus sign", "+1-0-0" + tailA, "signal offsets", "offset 1", "+1", "not a decimal"},
		{"duplicate offset", "0,1,0-0-0" + tailA, "signal offsets", "offset 3", "0", "duplicate"},
		{"trailing comma", "0,-0-0" + tailA, "signal offsets", "offset 2", "", "empty"},
		{"leading space", " 0-0-0" + tailA, "signal offsets", "offset 1", " 0", "not a decimal"},
		{"hex offset", "0x1-0-0" + tailA, "signal offsets", "offset 1", "0x1", "not a decimal"},

		// interface lists
		{"empty ipv4 list", "0--0" + tailA, "ipv4 interfaces", "", "", "empty, want 0"},
		{"empty ipv6 list", "0-0-" + tailA, "ipv6 interfaces", "", "", "empty, want 0"},
		{"00 for none", "0-00-0" + tailA, "ipv4 interfaces", "item 1", "00", "not enclosed"},
		{"four items", "0-" + item4 + "|" + item4 + "|" + item4 + "|" + item4 + "-0" + tailA, "ipv4 interfaces", "items", "", "has 4 items, at most 3"},
		{"trailing bar", "0-" + item4 + "|-0" + tailA, "ipv4 interfaces", "item 2", "", "not enclosed"},
		{"missing bracket", "0-2,0,203.0.113.2,10.1.0.2,40000,5,2,0-0" + tailA, "ipv4 interfaces", "item 1", "2,0,203.0.113.2,10.1.0.2,40000,5,2,0", "not enclosed"},
		{"seven fields", v4("2,0,203.0.113.2,10.1.0.2,40000,5,2"), "ipv4 interfaces", "item 1", "", "has 7 fields, want 8"},
		{"nine fields", v4("2,0,203.0.113.2,10.1.0.2,40000,5,2,0,0"), "ipv4 interfaces", "item 1", "", "has 9 fields, want 8"},
		{"trailing comma in item", v4("2,0,203.0.113.2,10.1.0.2,40000,5,2,0,"), "ipv4 interfaces", "item 1", "", "has 9 fields"},
		{"space in item", v4("2, 0,203.0.113.2,10.1.0.2,40000,5,2,0"), "ipv4 interfaces", "item 1 interface offset", " 0", "not a decimal"},
		{"second item bad port", "0-" + item4 + "|[2,0,203.0.113.2,10.1.0.2,0,5,2,0]-0" + tailA, "ipv4 interfaces", "item 2 listen port", "0", "out of range 1..65535"},
		{"port too big", v4("2,0,203.0.113.2,10.1.0.2,65536,5,2,0"), "ipv4 interfaces", "item 1 listen port", "65536", "out of range 1..65535"},
		{"netiface index too big", v4("2147483648,0,203.0.113.2,10.1.0.2,40000,5,2,0"), "ipv4 interfaces", "item 1 netiface index", "2147483648", "out of range 0..2147483647"},
		{"interface offset too big", v4("2,256,203.0.113.2,10.1.0.2,40000,5,2,0"), "ipv4 interfaces", "item 1 interface offset", "256", "out of range 0..255"},
		{"nat type 0", v4("2,0,203.0.113.2,10.1.0.2,40000,0,2,0"), "ipv4 interfaces", "item 1 nat type", "0", "out of range 1..7"},
		{"nat type 8", v4("2,0,203.0.113.2,10.1.0.2,40000,8,2,0"), "ipv4 interfaces", "item 1 nat type", "8", "out of range 1..7"},
		{"delta type 0", v4("2,0,203.0.113.2,10.1.0.2,40000,5,0,0"), "ipv4 interfaces", "item 1 delta type", "0", "out of range 1..6"},
		{"delta type 7", v4("2,0,203.0.113.2,10.1.0.2,40000,5,7,0"), "ipv4 interfaces", "item 1 delta type", "7", "out of range 1..6"},
		{"delta value too big", v4("2,0,203.0.113.2,10.1.0.2,40000,5,4,65536"), "ipv4 interfaces", "item 1 delta value", "65536", "out of range 0..65535"},
		{"delta value leading zero", v4("2,0,203.0.113.2,10.1.0.2,40000,5,4,01"), "ipv4 interfaces", "item 1 delta value", "01", "leading zero"},

		// IPs
		{"not an ip", v4("2,0,example.com,10.1.0.2,40000,5,2,0"), "ipv4 interfaces", "item 1 external ip", "example.com", "not an IP"},
		{"empty ip", v4("2,0,,10.1.0.2,40000,5,2,0"), "ipv4 interfaces", "item 1 external ip", "", "empty"},
		{"ipv4 octet leading zero", v4("2,0,203.0.113.02,10.1.0.2,40000,5,2,0"), "ipv4 interfaces", "item 1 external ip", "203.0.113.02", "not an IP"},
		{"ipv6 in ipv4 list", v4("2,0,2001:db8::1,10.1.0.2,40000,5,2,0"), "ipv4 interfaces", "item 1 external ip", "2001:db8::1", "is not IPv4"},
		{"4-in-6 in ipv4 list", v4("2,0,::ffff:1.2.3.4,10.1.0.2,40000,5,2,0"), "ipv4 interfaces", "item 1 external ip", "::ffff:1.2.3.4", "is not IPv4"},
		{"ipv4 in ipv6 list", v6("3,1,2001:db8::2,10.1.0.2,40000,1,1,0"), "ipv6 interfaces", "item 1 internal ip", "10.1.0.2", "is IPv4, want IPv6"},
		{"4-in-6 in ipv6 list", v6("3,1,::ffff:1.2.3.4,fe80::1,40000,1,1,0"), "ipv6 interfaces", "item 1 external ip", "::ffff:1.2.3.4", "IPv4-mapped"},
		{"zone", v6("3,1,2001:db8::2,fe80::1%eth0,40000,1,1,0"), "ipv6 interfaces", "item 1 internal ip", "fe80::1%eth0", "zone"},
		{"uppercase ipv6", v6("3,1,2001:DB8::2,fe80::1,40000,1,1,0"), "ipv6 interfaces", "item 1 external ip", "2001:DB8::2", `canonical form "2001:db8::2"`},
		{"uncompressed ipv6", v6("3,1,2001:db8:0:0:0:0:0:2,fe80::1,40000,1,1,0"), "ipv6 interfaces", "item 1 external ip", "2001:db8:0:0:0:0:0:2", "canonical form"},
		{"bracketed ipv6", v6("3,1,[2001:db8::2],fe80::1,40000,1,1,0"), "ipv6 interfaces", "item 1 external ip", "[2001:db8::2]", "not an IP"},

		// node id
		{"empty node id", "0-0-0--" + machine, "node id", "", "", "empty"},
		{"short node id", "0-0-0-" + nodeA[:51] + "-" + machine, "node id", "", nodeA[:51], "has 51 characters, want 52"},
		{"long node id", "0-0-0-" + nodeA + "a-" + machine, "node id", "", nodeA + "a", "has 53 characters"},
		{"uppercase node id", "0-0-0-" + strings.ToUpper(nodeA) + "-" + machine, "node id", "", strings.ToUpper(nodeA), "uppercase"},
		{"node id with 8", "0-0-0-8" + nodeA[1:] + "-" + machine, "node id", "", "8" + nodeA[1:], "not base32"},
		{"node id with padding", "0-0-0-" + nodeA[:51] + "=-" + machine, "node id", "", nodeA[:51] + "=", "not base32"},
		{"node id trailing bits", "0-0-0-" + nodeA[:51] + "b-" + machine, "node id", "", nodeA[:51] + "b", "not canonical"},

		// machine id
		{"empty machine id", "0-0-0-" + nodeA + "-", "machine id", "", "", "empty"},
		{"short machine id", "0-0-0-" + nodeA + "-0123", "machine id", "", "0123", "has 4 characters, want 16"},
		{"uppercase machine id", "0-0-0-" + nodeA + "-0123456789ABCDEF", "machine id", "", "0123456789ABCDEF", "uppercase"},
		{"non-hex machine id", "0-0-0-" + nodeA + "-0123456789abcdeg", "machine id", "", "0123456789abcdeg", "not hex"},
		{"trailing newline", docAddrA + "\n", "machine id", "", machine + "\n", "has 17 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := address.Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want error", tt.in, got)
			}
			var pe *address.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *ParseError", err, err)
			}
			if pe.Part != tt.part || pe.Field != tt.field {
				t.Errorf("part/field = %q/%q, want %q/%q (%v)", pe.Part, pe.Field, tt.part, tt.field, err)
			}
			if tt.value != "" && pe.Value != tt.value {
				t.Errorf("value = %q, want %q", pe.Value, tt.value)
			}
			if !strings.Contains(pe.Reason, tt.reasonHas) {
				t.Errorf("reason = %q, want it to contain %q", pe.Reason, tt.reasonHas)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "address: "+tt.part) || !strings.Contains(msg, tt.field) {
				t.Errorf("Error() = %q does not name part %q and field %q", msg, tt.part, tt.field)
			}
		})
	}
}

func TestParseErrorMessage(t *testing.T) {
	_, err := address.Parse("0-" + item4 + "|[2,0,203.0.113.2,10.1.0.2,70000,5,2,0]-0" + tailA)
	want := `address: ipv4 interfaces item 2 listen port "70000": out of range 1..65535`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	long := strings.Repeat("x", 500)
	_, err = address.Parse(long)
	if err == nil || len(err.Error()) > 200 {
		t.Fatalf("error for a 500-byte input is not shortened: %v", err)
	}
}

func TestValidate(t *testing.T) {
	ip := netip.MustParseAddr
	good4 := address.Interface{NetIfIndex: 2, ExternalIP: ip("203.0.113.2"), InternalIP: ip("10.1.0.2"),
		ListenPort: 40000, NAT: address.NATFullCone, Delta: address.DeltaEqual}
	good6 := address.Interface{NetIfIndex: 3, ExternalIP: ip("2001:db8::2"), InternalIP: ip("fe80::1"),
		ListenPort: 40000, NAT: address.NATOpen, Delta: address.DeltaNA}
	base := func() address.Address {
		return address.Address{SignalOffsets: []int{0}, IPv4: []address.Interface{good4},
			IPv6: []address.Interface{good6}, NodeID: nodeA, MachineID: machine}
	}
	with4 := func(f func(*address.Interface)) address.Address {
		a := base()
		it := good4
		f(&it)
		a.IPv4 = []address.Interface{good4, it}
		return a
	}
	with6 := func(f func(*address.Interface)) address.Address {
		a := base()
		it := good6
		f(&it)
		a.IPv6 = []address.Interface{it}
		return a
	}
	tests := []struct {
		name        string
		a           address.Address
		part, field string
		value       string
	}{
		{"valid", base(), "", "", ""},
		{"valid without interfaces", address.Address{SignalOffsets: []int{3}, NodeID: nodeA, MachineID: machine}, "", "", ""},
		{"no offsets", func() address.Address { a := base(); a.SignalOffsets = nil; return a }(), "signal offsets", "", ""},
		{"negative offset", func() address.Address { a := base(); a.SignalOffsets = []int{0, -1}; return a }(), "signal offsets", "offset 2", "-1"},
		{"offset 256", func() address.Address { a := base(); a.SignalOffsets = []int{256}; return a }(), "signal offsets", "offset 1", "256"},
		{"duplicate offset", func() address.Address { a := base(); a.SignalOffsets = []int{4, 4}; return a }(), "signal offsets", "offset 2", "4"},
		{"four interfaces", func() address.Address {
			a := base()
			a.IPv4 = []address.Interface{good4, good4, good4, good4}
			return a
		}(), "ipv4 interfaces", "items", "*"},
		{"port 0", with4(func(i *address.Interface) { i.ListenPort = 0 }), "ipv4 interfaces", "item 2 listen port", "0"},
		{"negative netiface index", with4(func(i *address.Interface) { i.NetIfIndex = -1 }), "ipv4 interfaces", "item 2 netiface index", "-1"},
		{"interface offset 300", with4(func(i *address.Interface) { i.Offset = 300 }), "ipv4 interfaces", "item 2 interface offset", "300"},
		{"unknown nat", with4(func(i *address.Interface) { i.NAT = address.NATUnknown }), "ipv4 interfaces", "item 2 nat type", "0"},
		{"unknown delta", with4(func(i *address.Interface) { i.Delta = address.DeltaUnknown }), "ipv4 interfaces", "item 2 delta type", "0"},
		{"negative delta value", with4(func(i *address.Interface) { i.DeltaValue = -2 }), "ipv4 interfaces", "item 2 delta value", "-2"},
		{"missing external ip", with4(func(i *address.Interface) { i.ExternalIP = netip.Addr{} }), "ipv4 interfaces", "item 2 external ip", ""},
		{"ipv6 in ipv4 list", with4(func(i *address.Interface) { i.InternalIP = ip("::1") }), "ipv4 interfaces", "item 2 internal ip", "::1"},
		{"4-in-6 in ipv4 list", with4(func(i *address.Interface) { i.ExternalIP = ip("::ffff:1.2.3.4") }), "ipv4 interfaces", "item 2 external ip", "::ffff:1.2.3.4"},
		{"4-in-6 in ipv6 list", with6(func(i *address.Interface) { i.ExternalIP = ip("::ffff:1.2.3.4") }), "ipv6 interfaces", "item 1 external ip", "::ffff:1.2.3.4"},
		{"zone", with6(func(i *address.Interface) { i.InternalIP = ip("fe80::1%eth0") }), "ipv6 interfaces", "item 1 internal ip", "fe80::1%eth0"},
		{"ipv4 in ipv6 list", with6(func(i *address.Interface) { i.InternalIP = ip("10.0.0.1") }), "ipv6 interfaces", "item 1 internal ip", "10.0.0.1"},
		{"first bad field wins", with6(func(i *address.Interface) { i.ExternalIP = netip.Addr{}; i.ListenPort = 0 }), "ipv6 interfaces", "item 1 external ip", ""},
		{"bad node id", func() address.Address { a := base(); a.NodeID = "abc"; return a }(), "node id", "", "abc"},
		{"bad machine id", func() address.Address { a := base(); a.MachineID = "xyz"; return a }(), "machine id", "", "xyz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.a.Validate()
			if tt.part == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				back, err := address.Parse(tt.a.String())
				if err != nil || !equal(back, tt.a) {
					t.Fatalf("Parse(String()) = %+v, %v; want %+v", back, err, tt.a)
				}
				return
			}
			var pe *address.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Validate() = %v, want a *ParseError", err)
			}
			if pe.Part != tt.part || pe.Field != tt.field || (tt.value != "*" && pe.Value != tt.value) {
				t.Errorf("got part/field/value %q/%q/%q, want %q/%q/%q (%v)", pe.Part, pe.Field, pe.Value, tt.part, tt.field, tt.value, err)
			}
			// Whatever Validate refuses, Parse refuses too, at the same place
			// (a negative number's '-' breaks the part count instead).
			wantPart := tt.part
			if strings.HasPrefix(tt.value, "-") {
				wantPart = "address"
			}
			if _, perr := address.Parse(tt.a.String()); perr == nil {
				t.Errorf("Parse(%q) accepted what Validate refused", tt.a.String())
			} else if errors.As(perr, &pe); pe.Part != wantPart {
				t.Errorf("Parse refused part %q, want %q", pe.Part, wantPart)
			}
		})
	}
}
