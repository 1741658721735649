package natprobe

import (
	"net/netip"
	"testing"

	"github.com/reachd/reachd/address"
)

func bindings(pairs ...uint16) []Binding {
	var bs []Binding
	for i := 0; i+1 < len(pairs); i += 2 {
		bs = append(bs, Binding{Local: pairs[i], Mapped: pairs[i+1]})
	}
	return bs
}

func TestClassifyDelta(t *testing.T) {
	tests := []struct {
		name        string
		consecutive []Binding
		random      []Binding
		want        address.DeltaType
		wantValue   int
	}{
		{"no samples", nil, nil, address.DeltaUnknown, 0},
		{"one sample", bindings(40000, 40000), nil, address.DeltaUnknown, 0},
		{"one sample each, equal", bindings(40000, 40000), bindings(51234, 51234), address.DeltaEqual, 0},
		{"one sample each, different", bindings(40000, 1000), bindings(51234, 1001), address.DeltaUnknown, 0},
		{
			"masquerade keeps ports",
			bindings(40000, 40000, 40001, 40001, 40002, 40002, 40003, 40003),
			bindings(51234, 51234, 23456, 23456, 61000, 61000, 33333, 33333),
			address.DeltaEqual, 0,
		},
		{
			"equal with only the random set",
			nil,
			bindings(51234, 51234, 23456, 23456),
			address.DeltaEqual, 0,
		},
		{
			"preserving with offset",
			bindings(40000, 50000, 40001, 50001, 40002, 50002, 40003, 50003),
			bindings(30000, 40000, 31000, 41000, 20000, 30000, 45000, 55000),
			address.DeltaPreserving, 0,
		},
		{
			"preserving across the 65535 wrap",
			bindings(40000, 65534, 40001, 65535, 40002, 0, 40003, 1),
			bindings(30000, 55534, 31000, 56534, 20000, 45534, 45000, 4998),
			address.DeltaPreserving, 0,
		},
		{
			"sequential allocator is independent +1",
			bindings(40000, 1024, 40001, 1025, 40002, 1026, 40003, 1027),
			bindings(51234, 1028, 23456, 1029, 61000, 1030, 33333, 1031),
			address.DeltaIndependent, 1,
		},
		{
			"independent +2 with only the random set",
			nil,
			bindings(51234, 2000, 23456, 2002, 61000, 2004, 33333, 2006),
			address.DeltaIndependent, 2,
		},
		{
			"independent negative step across the wrap",
			bindings(40000, 1, 40001, 0, 40002, 65535, 40003, 65534),
			bindings(51234, 65533, 23456, 65532, 61000, 65531, 33333, 65530),
			address.DeltaIndependent, -1,
		},
		{
			"dependent +3: constant only for consecutive local ports",
			bindings(40000, 7000, 40001, 7003, 40002, 7006, 40003, 7009),
			bindings(51234, 9000, 23456, 1200, 61000, 5555, 33333, 31000),
			address.DeltaDependent, 3,
		},
		{
			"steps disagree between sets",
			bindings(40000, 7000, 40001, 7003, 40002, 7006, 40003, 7009),
			bindings(51234, 9000, 23456, 9001, 61000, 9002, 33333, 9003),
			address.DeltaDependent, 3,
		},
		{
			"fully random",
			bindings(40000, 17000, 40001, 51003, 40002, 3306, 40003, 44009),
			bindings(51234, 9000, 23456, 1200, 61000, 5555, 33333, 31000),
			address.DeltaRandom, 0,
		},
		{
			"one skipped port breaks the constant",
			bindings(40000, 1024, 40001, 1025, 40002, 1027, 40003, 1028),
			bindings(51234, 1029, 23456, 1031, 61000, 1032, 33333, 1033),
			address.DeltaRandom, 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, value := ClassifyDelta(tt.consecutive, tt.random)
			if got != tt.want || value != tt.wantValue {
				t.Errorf("ClassifyDelta = %v %d, want %v %d", got, value, tt.want, tt.wantValue)
			}
		})
	}
}

func obs(pairs ...string) []Observation {
	var os []Observation
	for i := 0; i+1 < len(pairs); i += 2 {
		os = append(os, Observation{Server: netip.MustParseAddrPort(pairs[i]), Mapped: netip.MustParseAddrPort(pairs[i+1])})
	}
	return os
}

func TestClassifyMapping(t *testing.T) {
	tests := []struct {
		name string
		obs  []Observation
		want Behavior
	}{
		{"nothing", nil, BehaviorUnknown},
		{"one server", obs("198.51.100.1:3478", "203.0.113.2:40000"), BehaviorUnknown},
		{"one server twice", obs("198.51.100.1:3478", "203.0.113.2:40000", "198.51.100.1:3478", "203.0.113.2:40000"), BehaviorUnknown},
		{
			"rfc 5780 tests I-III agree",
			obs("198.51.100.1:3478", "203.0.113.2:40000", "198.51.100.2:3478", "203.0.113.2:40000", "198.51.100.2:3479", "203.0.113.2:40000"),
			BehaviorEndpointIndependent,
		},
		{
			"test II differs, III equals II",
			obs("198.51.100.1:3478", "203.0.113.2:40000", "198.51.100.2:3478", "203.0.113.2:40001", "198.51.100.2:3479", "203.0.113.2:40001"),
			BehaviorAddressDependent,
		},
		{
			"every test differs",
			obs("198.51.100.1:3478", "203.0.113.2:40000", "198.51.100.2:3478", "203.0.113.2:40001", "198.51.100.2:3479", "203.0.113.2:40002"),
			BehaviorAddressPortDependent,
		},
		{
			"two plain servers agree",
			obs("198.51.100.1:3478", "203.0.113.2:40000", "192.0.2.7:19302", "203.0.113.2:40000"),
			BehaviorEndpointIndependent,
		},
		{
			"two plain servers differ",
			obs("198.51.100.1:3478", "203.0.113.2:40000", "192.0.2.7:19302", "203.0.113.2:51515"),
			BehaviorAddressDependent,
		},
		{
			"same ip, other port differs",
			obs("198.51.100.1:3478", "203.0.113.2:40000", "198.51.100.1:3479", "203.0.113.2:40001"),
			BehaviorAddressPortDependent,
		},
		{
			"different external ip",
			obs("198.51.100.1:3478", "203.0.113.2:40000", "192.0.2.7:3478", "203.0.113.3:40000"),
			BehaviorAddressDependent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClassifyMapping(tt.obs); got != tt.want {
				t.Errorf("ClassifyMapping = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClassifyUDP(t *testing.T) {
	const (
		unknown  = BehaviorUnknown
		untested = BehaviorUntested
		eim      = BehaviorEndpointIndependent
		ad       = BehaviorAddressDependent
		apd      = BehaviorAddressPortDependent
	)
	tests := []struct {
		name               string
		local              bool
		mapping, filtering Behavior
		want               address.NATType
	}{
		{"no nat, open filtering", true, eim, eim, address.NATOpen},
		{"no nat, filtering untested", true, untested, untested, address.NATOpen},
		{"no nat, address filtering", true, eim, ad, address.NATSymmetricUDPFirewall},
		{"no nat, port filtering", true, eim, apd, address.NATSymmetricUDPFirewall},
		{"full cone", false, eim, eim, address.NATFullCone},
		{"restricted cone", false, eim, ad, address.NATRestrictedCone},
		{"port restricted cone", false, eim, apd, address.NATPortRestrictedCone},
		{"eim, filtering untested", false, eim, untested, address.NATPortRestrictedCone},
		{"eim, filtering unknown", false, eim, unknown, address.NATPortRestrictedCone},
		{"address-dependent mapping", false, ad, eim, address.NATSymmetric},
		{"address-port-dependent mapping", false, apd, apd, address.NATSymmetric},
		{"mapping unknown", false, unknown, eim, address.NATUnknown},
		{"mapping untested", false, untested, untested, address.NATUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClassifyUDP(tt.local, tt.mapping, tt.filtering); got != tt.want {
				t.Errorf("ClassifyUDP(%v, %v, %v) = %v, want %v", tt.local, tt.mapping, tt.filtering, got, tt.want)
			}
		})
	}
}

func TestClassifyTCP(t *testing.T) {
	tests := []struct {
		name    string
		local   bool
		mapping Behavior
		want    address.NATType
	}{
		{"no nat", true, BehaviorUntested, address.NATOpen},
		{"eim", false, BehaviorEndpointIndependent, address.NATPortRestrictedCone},
		{"address-dependent", false, BehaviorAddressDependent, address.NATSymmetric},
		{"address-port-dependent", false, BehaviorAddressPortDependent, address.NATSymmetric},
		{"unknown", false, BehaviorUnknown, address.NATUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClassifyTCP(tt.local, tt.mapping); got != tt.want {
				t.Errorf("ClassifyTCP(%v, %v) = %v, want %v", tt.local, tt.mapping, got, tt.want)
			}
		})
	}
}

func TestAgreedIP(t *testing.T) {
	tests := []struct {
		name       string
		answers    []Observation
		want       string
		wantReason string
	}{
		{"none", nil, "invalid IP", "no stun server answered"},
		{"one", obs("198.51.100.1:3478", "203.0.113.2:40000"), "203.0.113.2", ""},
		{"two agree", obs("198.51.100.1:3478", "203.0.113.2:40000", "192.0.2.7:3478", "203.0.113.2:41000"), "203.0.113.2", ""},
		{
			"two of three agree",
			obs("198.51.100.1:3478", "203.0.113.9:40000", "192.0.2.7:3478", "203.0.113.2:40000", "192.0.2.8:3478", "203.0.113.2:40000"),
			"203.0.113.2", "",
		},
		{
			"disagree",
			obs("198.51.100.1:3478", "203.0.113.2:40000", "192.0.2.7:3478", "203.0.113.3:40000"),
			"invalid IP",
			"stun servers disagree on the external ip: 198.51.100.1:3478 says 203.0.113.2, 192.0.2.7:3478 says 203.0.113.3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := agreedIP(tt.answers)
			if got.String() != tt.want || reason != tt.wantReason {
				t.Errorf("agreedIP = %v %q, want %v %q", got, reason, tt.want, tt.wantReason)
			}
		})
	}
}

func TestBehaviorText(t *testing.T) {
	for b := BehaviorUnknown; b <= BehaviorAddressPortDependent; b++ {
		text, err := b.MarshalText()
		if err != nil {
			t.Fatalf("%d: %v", b, err)
		}
		var back Behavior
		if err := back.UnmarshalText(text); err != nil || back != b {
			t.Errorf("%s: round trip gave %v, %v", text, back, err)
		}
	}
	if _, err := Behavior(99).MarshalText(); err == nil {
		t.Error("MarshalText(99) succeeded")
	}
	var b Behavior
	if err := b.UnmarshalText([]byte("Unknown")); err == nil {
		t.Error(`UnmarshalText("Unknown") succeeded`)
	}
}
