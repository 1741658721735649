package natprobe

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/pion/stun/v4"
)

func build(t testing.TB, setters ...stun.Setter) []byte {
	t.Helper()
	m, err := stun.Build(setters...)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

func TestNewRequest(t *testing.T) {
	tests := []struct {
		name  string
		ch    change
		want  bool   // CHANGE-REQUEST present
		flags []byte // its value
	}{
		{"plain", change{}, false, nil},
		{"port", change{port: true}, true, []byte{0, 0, 0, 2}},
		{"ip", change{ip: true}, true, []byte{0, 0, 0, 4}},
		{"both", change{ip: true, port: true}, true, []byte{0, 0, 0, 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := newRequest(tt.ch)
			if err != nil {
				t.Fatal(err)
			}
			var m stun.Message
			if err := stun.Decode(req.Raw, &m); err != nil {
				t.Fatal(err)
			}
			if m.Type != stun.BindingRequest || stun.Fingerprint.Check(&m) != nil {
				t.Errorf("type %v, fingerprint %v; want a binding request with a valid fingerprint", m.Type, stun.Fingerprint.Check(&m))
			}
			v, err := m.Get(stun.AttrChangeRequest)
			if (err == nil) != tt.want || string(v) != string(tt.flags) {
				t.Errorf("CHANGE-REQUEST = %v (%v), want present=%v %v", v, err, tt.want, tt.flags)
			}
		})
	}
}

func TestParseAnswer(t *testing.T) {
	var id [stun.TransactionIDSize]byte
	copy(id[:], "abcdefghijkl")
	txid := stun.NewTransactionIDSetter(id)
	mapped := &stun.XORMappedAddress{IP: net.ParseIP("203.0.113.2"), Port: 40000}
	tests := []struct {
		name    string
		raw     []byte
		wantOK  bool
		want    answer
		wantErr error
		code    int
	}{
		{
			"full rfc 5780 answer",
			build(t, stun.BindingSuccess, txid, mapped,
				&stun.OtherAddress{IP: net.ParseIP("198.51.100.2"), Port: 3479},
				&stun.ResponseOrigin{IP: net.ParseIP("198.51.100.1"), Port: 3478}, stun.Fingerprint),
			true,
			answer{
				Mapped: netip.MustParseAddrPort("203.0.113.2:40000"),
				Other:  netip.MustParseAddrPort("198.51.100.2:3479"),
				Origin: netip.MustParseAddrPort("198.51.100.1:3478"),
			},
			nil, 0,
		},
		{
			"ipv6 mapping",
			build(t, stun.BindingSuccess, txid, &stun.XORMappedAddress{IP: net.ParseIP("2001:db8::2"), Port: 443}),
			true, answer{Mapped: netip.MustParseAddrPort("[2001:db8::2]:443")}, nil, 0,
		},
		{
			"old MAPPED-ADDRESS only",
			build(t, stun.BindingSuccess, txid, &stun.MappedAddress{IP: net.ParseIP("203.0.113.2"), Port: 40000}),
			true, answer{Mapped: netip.MustParseAddrPort("203.0.113.2:40000")}, nil, 0,
		},
		{
			"unspecified other address is ignored",
			build(t, stun.BindingSuccess, txid, mapped, &stun.OtherAddress{IP: net.IPv4zero, Port: 0}),
			true, answer{Mapped: netip.MustParseAddrPort("203.0.113.2:40000")}, nil, 0,
		},
		{"no mapped address", build(t, stun.BindingSuccess, txid), true, answer{}, ErrBadAnswer, 0},
		{
			"error 420",
			build(t, stun.BindingError, txid, stun.CodeUnknownAttribute, stun.UnknownAttributes{stun.AttrChangeRequest}),
			true, answer{}, nil, 420,
		},
		{"request", build(t, stun.BindingRequest, txid), false, answer{}, nil, 0},
		{"allocate response", build(t, stun.NewType(stun.MethodAllocate, stun.ClassSuccessResponse), txid, mapped), false, answer{}, nil, 0},
		{"empty", nil, false, answer{}, nil, 0},
		{"not stun", []byte("HTTP/1.1 200 OK\r\n\r\n"), false, answer{}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotID, a, ok, err := parseAnswer(tt.raw)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if ok && gotID != id {
				t.Errorf("transaction id = %x, want %x", gotID, id)
			}
			if a != tt.want {
				t.Errorf("answer = %+v, want %+v", a, tt.want)
			}
			var se *STUNError
			switch {
			case tt.code != 0:
				if !errors.As(err, &se) || se.Code != tt.code {
					t.Errorf("err = %v, want stun error %d", err, tt.code)
				}
			case !errors.Is(err, tt.wantErr):
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	t.Run("bad fingerprint", func(t *testing.T) {
		raw := build(t, stun.BindingSuccess, txid, mapped, stun.Fingerprint)
		raw[len(raw)-1] ^= 1
		if _, _, ok, _ := parseAnswer(raw); ok {
			t.Error("answer with a bad fingerprint accepted")
		}
	})
}

func FuzzParseAnswer(f *testing.F) {
	f.Add(build(f, stun.BindingSuccess, stun.TransactionID,
		&stun.XORMappedAddress{IP: net.ParseIP("203.0.113.2"), Port: 40000},
		&stun.OtherAddress{IP: net.ParseIP("198.51.100.2"), Port: 3479}, stun.Fingerprint))
	f.Add(build(f, stun.BindingError, stun.TransactionID, stun.CodeBadRequest))
	f.Add([]byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, a, ok, err := parseAnswer(raw)
		if ok && err == nil && (!a.Mapped.IsValid() || a.Mapped.Port() == 0) {
			t.Errorf("accepted answer without a usable mapping: %+v", a)
		}
	})
}
