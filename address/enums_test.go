package address_test

import (
	"encoding/json"
	"testing"

	"github.com/reachd/reachd/address"
)

func TestNATTypeText(t *testing.T) {
	tests := []struct {
		t    address.NATType
		name string
	}{
		{address.NATUnknown, "unknown"},
		{address.NATOpen, "open"},
		{address.NATSymmetricUDPFirewall, "symmetric_udp_firewall"},
		{address.NATFullCone, "full_cone"},
		{address.NATRestrictedCone, "restricted_cone"},
		{address.NATPortRestrictedCone, "port_restricted_cone"},
		{address.NATSymmetric, "symmetric"},
		{address.NATBlocked, "blocked"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if int(tt.t) != i {
				t.Errorf("code = %d, want %d", int(tt.t), i)
			}
			if s := tt.t.String(); s != tt.name {
				t.Errorf("String() = %q, want %q", s, tt.name)
			}
			b, err := json.Marshal(tt.t)
			if err != nil || string(b) != `"`+tt.name+`"` {
				t.Errorf("json.Marshal = %s, %v", b, err)
			}
			var back address.NATType = -1
			if err := json.Unmarshal(b, &back); err != nil || back != tt.t {
				t.Errorf("json.Unmarshal(%s) = %v, %v", b, back, err)
			}
		})
	}
	t.Run("out of range", func(t *testing.T) {
		if s := address.NATType(8).String(); s != "NATType(8)" {
			t.Errorf("String() = %q", s)
		}
		if _, err := address.NATType(8).MarshalText(); err == nil {
			t.Error("MarshalText(8) succeeded")
		}
		var n address.NATType
		for _, bad := range []string{"", "Open", "full-cone", "3", "unknown "} {
			if err := n.UnmarshalText([]byte(bad)); err == nil {
				t.Errorf("UnmarshalText(%q) succeeded: %v", bad, n)
			}
		}
	})
}

func TestDeltaTypeText(t *testing.T) {
	tests := []struct {
		t    address.DeltaType
		name string
	}{
		{address.DeltaUnknown, "unknown"},
		{address.DeltaNA, "na"},
		{address.DeltaEqual, "equal"},
		{address.DeltaPreserving, "preserving"},
		{address.DeltaIndependent, "independent"},
		{address.DeltaDependent, "dependent"},
		{address.DeltaRandom, "random"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if int(tt.t) != i {
				t.Errorf("code = %d, want %d", int(tt.t), i)
			}
			if s := tt.t.String(); s != tt.name {
				t.Errorf("String() = %q, want %q", s, tt.name)
			}
			b, err := json.Marshal(tt.t)
			if err != nil || string(b) != `"`+tt.name+`"` {
				t.Errorf("json.Marshal = %s, %v", b, err)
			}
			var back address.DeltaType = -1
			if err := json.Unmarshal(b, &back); err != nil || back != tt.t {
				t.Errorf("json.Unmarshal(%s) = %v, %v", b, back, err)
			}
		})
	}
	t.Run("out of range", func(t *testing.T) {
		if s := address.DeltaType(-1).String(); s != "DeltaType(-1)" {
			t.Errorf("String() = %q", s)
		}
		if _, err := address.DeltaType(7).MarshalText(); err == nil {
			t.Error("MarshalText(7) succeeded")
		}
		var d address.DeltaType
		for _, bad := range []string{"", "n/a", "NA", "2"} {
			if err := d.UnmarshalText([]byte(bad)); err == nil {
				t.Errorf("UnmarshalText(%q) succeeded: %v", bad, d)
			}
		}
	})
}
