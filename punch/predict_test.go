package punch_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/punch"
)

func TestPredict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		local  uint16
		delta  address.DeltaType
		value  int
		last   punch.Mapping
		want   uint16
		wantOK bool
	}{
		{"equal keeps local port", 40000, address.DeltaEqual, 0, punch.Mapping{}, 40000, true},
		{"equal ignores last mapping", 40000, address.DeltaEqual, 7, punch.Mapping{Local: 1, External: 2}, 40000, true},
		{"na (open) keeps local port", 5000, address.DeltaNA, 0, punch.Mapping{}, 5000, true},
		{"equal with port zero", 0, address.DeltaEqual, 0, punch.Mapping{}, 0, false},

		{"preserving up", 40010, address.DeltaPreserving, 0, punch.Mapping{Local: 40000, External: 50000}, 50010, true},
		{"preserving down", 39990, address.DeltaPreserving, 0, punch.Mapping{Local: 40000, External: 50000}, 49990, true},
		{"preserving same port", 40000, address.DeltaPreserving, 0, punch.Mapping{Local: 40000, External: 50000}, 50000, true},
		{"preserving past 65535 continues at 1024", 1010, address.DeltaPreserving, 0, punch.Mapping{Local: 1000, External: 65530}, 1028, true},
		{"preserving below 1 continues at 65535", 4990, address.DeltaPreserving, 0, punch.Mapping{Local: 5000, External: 3}, 65528, true},
		{"preserving lands on 65535", 1005, address.DeltaPreserving, 0, punch.Mapping{Local: 1000, External: 65530}, 65535, true},
		{"preserving without observation", 40000, address.DeltaPreserving, 0, punch.Mapping{}, 0, false},
		{"preserving without observed local", 40000, address.DeltaPreserving, 0, punch.Mapping{External: 50000}, 0, false},

		{"independent adds value", 12345, address.DeltaIndependent, 2, punch.Mapping{Local: 40000, External: 50000}, 50002, true},
		{"independent value zero", 12345, address.DeltaIndependent, 0, punch.Mapping{Local: 40000, External: 50000}, 50000, true},
		{"independent 65535 means minus one", 12345, address.DeltaIndependent, 65535, punch.Mapping{Local: 40000, External: 50000}, 49999, true},
		{"independent 32768 means minus 32768", 12345, address.DeltaIndependent, 32768, punch.Mapping{Local: 1, External: 40000}, 7232, true},
		{"independent 32767 is an increment", 12345, address.DeltaIndependent, 32767, punch.Mapping{Local: 1, External: 30000}, 62767, true},
		{"independent wraps at top", 12345, address.DeltaIndependent, 1, punch.Mapping{Local: 1, External: 65535}, 1024, true},
		{"independent wraps further", 12345, address.DeltaIndependent, 10, punch.Mapping{Local: 1, External: 65530}, 1028, true},
		{"independent to zero continues at 65535", 12345, address.DeltaIndependent, 65535, punch.Mapping{Local: 1, External: 1}, 65535, true},
		{"independent below zero", 12345, address.DeltaIndependent, 65534, punch.Mapping{Local: 1, External: 1}, 65534, true},
		{"independent without observation", 12345, address.DeltaIndependent, 1, punch.Mapping{}, 0, false},

		{"dependent next local port", 40001, address.DeltaDependent, 3, punch.Mapping{Local: 40000, External: 50000}, 50003, true},
		{"dependent other local port", 40002, address.DeltaDependent, 3, punch.Mapping{Local: 40000, External: 50000}, 0, false},
		{"dependent same local port", 40000, address.DeltaDependent, 3, punch.Mapping{Local: 40000, External: 50000}, 0, false},
		{"dependent local after 65535", 1, address.DeltaDependent, 3, punch.Mapping{Local: 65535, External: 50000}, 0, false},
		{"dependent wraps mapped port", 40001, address.DeltaDependent, 2, punch.Mapping{Local: 40000, External: 65535}, 1025, true},

		{"random uses observation from this port", 40000, address.DeltaRandom, 0, punch.Mapping{Local: 40000, External: 61234}, 61234, true},
		{"random observation from another port", 40001, address.DeltaRandom, 0, punch.Mapping{Local: 40000, External: 61234}, 0, false},
		{"random without observation", 40000, address.DeltaRandom, 0, punch.Mapping{Local: 40000}, 0, false},

		{"unknown", 40000, address.DeltaUnknown, 0, punch.Mapping{Local: 40000, External: 50000}, 0, false},
		{"out of enum", 40000, address.DeltaType(99), 0, punch.Mapping{Local: 40000, External: 50000}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := punch.Predict(tt.local, tt.delta, tt.value, tt.last)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Predict(%d, %s, %d, %+v) = %d, %v; want %d, %v",
					tt.local, tt.delta, tt.value, tt.last, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// mapperFunc is a Mapper made of a function; a test's stand-in for the
// node's STUN-over-TCP probe.
type mapperFunc func(ctx context.Context, local netip.AddrPort) (netip.AddrPort, error)

func (f mapperFunc) MapTCP(ctx context.Context, local netip.AddrPort) (netip.AddrPort, error) {
	return f(ctx, local)
}

func TestPredictEndpoint(t *testing.T) {
	t.Parallel()
	ext := netip.MustParseAddr("203.0.113.7")
	local := netip.MustParseAddrPort("10.0.0.2:40001")
	observed := netip.MustParseAddrPort("203.0.113.7:61000")
	errSTUN := errors.New("stun timed out")
	mustNotMap := mapperFunc(func(context.Context, netip.AddrPort) (netip.AddrPort, error) {
		return netip.AddrPort{}, errors.New("mapper called")
	})
	observe := mapperFunc(func(_ context.Context, l netip.AddrPort) (netip.AddrPort, error) {
		if l != local {
			return netip.AddrPort{}, errors.New("observed from the wrong local address " + l.String())
		}
		return observed, nil
	})
	failing := mapperFunc(func(context.Context, netip.AddrPort) (netip.AddrPort, error) {
		return netip.AddrPort{}, errSTUN
	})
	broken := mapperFunc(func(context.Context, netip.AddrPort) (netip.AddrPort, error) {
		return netip.AddrPort{}, nil
	})
	last := punch.Mapping{Local: 40000, External: 50000}
	tests := []struct {
		name    string
		ifc     address.Interface
		m       punch.Mapper
		want    netip.AddrPort
		wantErr error
	}{
		{"equal without mapper", address.Interface{ExternalIP: ext, Delta: address.DeltaEqual}, mustNotMap,
			netip.MustParseAddrPort("203.0.113.7:40001"), nil},
		{"dependent predicted", address.Interface{ExternalIP: ext, Delta: address.DeltaDependent, DeltaValue: 1}, mustNotMap,
			netip.MustParseAddrPort("203.0.113.7:50001"), nil},
		{"random observes", address.Interface{ExternalIP: ext, Delta: address.DeltaRandom}, observe, observed, nil},
		{"random without mapper", address.Interface{ExternalIP: ext, Delta: address.DeltaRandom}, nil,
			netip.AddrPort{}, punch.ErrUnpredictable},
		{"unknown falls back to observing", address.Interface{ExternalIP: ext, Delta: address.DeltaUnknown}, observe, observed, nil},
		{"no external ip falls back to observing", address.Interface{Delta: address.DeltaEqual}, observe, observed, nil},
		{"mapper error is kept", address.Interface{ExternalIP: ext, Delta: address.DeltaRandom}, failing,
			netip.AddrPort{}, errSTUN},
		{"mapper answers nothing", address.Interface{ExternalIP: ext, Delta: address.DeltaRandom}, broken,
			netip.AddrPort{}, punch.ErrUnpredictable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := punch.PredictEndpoint(t.Context(), local, tt.ifc, last, tt.m)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("endpoint = %s, want %s", got, tt.want)
			}
		})
	}
}

func ExamplePredict() {
	// The probe saw local port 40000 mapped to 50000 on a NAT that keeps
	// port distances; we will punch from 40007.
	port, ok := punch.Predict(40007, address.DeltaPreserving, 0, punch.Mapping{Local: 40000, External: 50000})
	fmt.Println(port, ok)
	// Output: 50007 true
}
