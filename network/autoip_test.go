package network

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestCheckJoin(t *testing.T) {
	const secret = "correct horse battery staple"
	for _, tt := range []struct {
		c    JoinConfig
		want error
	}{
		{JoinConfig{"lab", secret, "auto"}, nil},
		{JoinConfig{"lab", secret, "10.99.0.1/24"}, nil},
		{JoinConfig{"Lab", secret, "auto"}, ErrBadName},
		{JoinConfig{"", secret, "auto"}, ErrBadName},
		{JoinConfig{"a/b", secret, "auto"}, ErrBadName},
		{JoinConfig{"lab", "short", "auto"}, ErrBadSecret},
		{JoinConfig{"lab", secret, "10.99.0.1"}, ErrBadIP},
		{JoinConfig{"lab", secret, "10.99.0.0/24"}, ErrBadIP},
		{JoinConfig{"lab", secret, "10.99.0.255/24"}, ErrBadIP},
		{JoinConfig{"lab", secret, "fd00::1/64"}, ErrBadIP},
		{JoinConfig{"lab", secret, "10.99.0.1/31"}, ErrBadIP},
		{JoinConfig{"lab", secret, ""}, ErrBadIP},
	} {
		_, err := CheckJoin(tt.c)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("CheckJoin(%+v) = %v, want %v", tt.c, err, tt.want)
		}
	}
}

func TestPick(t *testing.T) {
	r := netip.MustParsePrefix("10.99.0.0/24")
	a, err := pick("node-a", "lab", r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Contains(a) || a == r.Addr() || a == netip.MustParseAddr("10.99.0.255") {
		t.Fatalf("picked %v", a)
	}
	if b, _ := pick("node-a", "lab", r, nil); b != a {
		t.Errorf("not stable: %v then %v", a, b)
	}
	b, _ := pick("node-a", "lab", r, map[netip.Addr]bool{a: true})
	if b == a || !r.Contains(b) {
		t.Errorf("with %v taken picked %v", a, b)
	}
	// A full /29 but one address: the scan finds the last free one.
	small := netip.MustParsePrefix("10.0.0.0/29")
	taken := map[netip.Addr]bool{}
	for i := 1; i <= 6; i++ {
		taken[hostAddr(small, uint64(i))] = true
	}
	delete(taken, hostAddr(small, 4))
	if got, err := pick("x", "lab", small, taken); err != nil || got != hostAddr(small, 4) {
		t.Errorf("pick in a nearly full range = %v, %v; want 10.0.0.4", got, err)
	}
	taken[hostAddr(small, 4)] = true
	if _, err := pick("x", "lab", small, taken); !errors.Is(err, ErrRangeFull) {
		t.Errorf("full range: err = %v", err)
	}
}

// TestPickSpread: the first candidates of 50 nodes rarely meet in a /24,
// and the clash rule leaves every pair on distinct addresses.
func TestPickSpread(t *testing.T) {
	r := DefaultRange
	seen := map[netip.Addr]int{}
	for i := range 50 {
		a, _ := pick(fmt.Sprint("node", i), "lab", r, nil)
		seen[a]++
	}
	if len(seen) < 40 {
		t.Errorf("50 nodes share %d first candidates", len(seen))
	}
}

func TestMustMove(t *testing.T) {
	ip := netip.MustParseAddr("10.99.0.5")
	other := netip.MustParseAddr("10.99.0.6")
	const tie = 10 * time.Second
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now, soon, later := t0, t0.Add(tie/2), t0.Add(2*tie)
	for _, tt := range []struct {
		name        string
		self, other claim
		want        bool
	}{
		{"no clash", claim{"a", ip, true, now}, claim{"b", other, true, now}, false},
		{"both auto, larger moves", claim{"b", ip, true, now}, claim{"a", ip, true, now}, true},
		{"both auto, smaller stays", claim{"a", ip, true, now}, claim{"b", ip, true, now}, false},
		{"both auto within the tie, larger moves", claim{"b", ip, true, now}, claim{"a", ip, true, soon}, true},
		{"auto yields to configured", claim{"a", ip, true, now}, claim{"b", ip, false, now}, true},
		{"auto within the tie yields to configured", claim{"a", ip, true, now}, claim{"b", ip, false, soon}, true},
		{"configured never moves", claim{"b", ip, false, later}, claim{"a", ip, true, now}, false},
		{"both configured", claim{"b", ip, false, now}, claim{"a", ip, false, now}, false},
		{"itself", claim{"a", ip, true, now}, claim{"a", ip, true, now}, false},
		// The first holder keeps it, whatever the newcomer is.
		{"established auto keeps it from a configured newcomer", claim{"a", ip, true, now}, claim{"b", ip, false, later}, false},
		{"established auto keeps it from a smaller newcomer", claim{"b", ip, true, now}, claim{"a", ip, true, later}, false},
		{"newcomer yields to the established", claim{"a", ip, true, later}, claim{"b", ip, true, now}, true},
	} {
		if got := mustMove(tt.self, tt.other, tie); got != tt.want {
			t.Errorf("%s: mustMove = %v, want %v", tt.name, got, tt.want)
		}
		// Exactly one side of a clash between two automatic addresses moves.
		if tt.self.addr == tt.other.addr && tt.self.auto && tt.other.auto && tt.self.id != tt.other.id {
			if mustMove(tt.self, tt.other, tie) == mustMove(tt.other, tt.self, tie) {
				t.Errorf("%s: both sides decide alike", tt.name)
			}
		}
	}
}

func TestChooseRange(t *testing.T) {
	p := netip.MustParsePrefix
	for _, tt := range []struct {
		in   []netip.Prefix
		want netip.Prefix
	}{
		{nil, DefaultRange},
		{[]netip.Prefix{p("192.168.7.3/24")}, p("192.168.7.0/24")},
		{[]netip.Prefix{p("10.1.0.3/16"), p("10.99.0.1/24"), p("10.1.2.3/16")}, p("10.1.0.0/16")},
		{[]netip.Prefix{p("10.2.0.3/24"), p("10.1.0.1/24")}, p("10.1.0.0/24")},
	} {
		if got := chooseRange(tt.in, DefaultRange); got != tt.want {
			t.Errorf("chooseRange(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
