package network

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/reachd/reachd/signaling"
)

func TestDeriveSubnet(t *testing.T) {
	topic := func(name, secret string) string {
		k, err := Derive(name, secret)
		if err != nil {
			t.Fatal(err)
		}
		return k.Topic
	}
	const secret = "correct horse battery staple"
	a, err := deriveSubnet(topic("lab", secret), DefaultRange, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Bits() != SubnetBits || !DefaultRange.Contains(a.Addr()) || a != a.Masked() {
		t.Fatalf("subnet %v: want a /24 inside %v", a, DefaultRange)
	}
	if again, _ := deriveSubnet(topic("lab", secret), DefaultRange, nil); again != a {
		t.Errorf("not stable: %v then %v", a, again)
	}
	// Another name or another secret: another subnet (for these; 1 in
	// 16384 pairs meets, and a route then sets them apart).
	for _, other := range [][2]string{{"lab2", secret}, {"lab", secret + "!"}} {
		if b, _ := deriveSubnet(topic(other[0], other[1]), DefaultRange, nil); b == a {
			t.Errorf("%q and %q share %v", other[0], other[1], b)
		}
	}
	// Routed subnets are avoided: the route itself, a larger one that
	// covers it, a smaller one inside it; a default route does not count.
	for _, r := range []string{a.String(), "10.64.0.0/10", a.Addr().Next().String() + "/32"} {
		routes := []Route{{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Dev: "eth0"}, {Prefix: netip.MustParsePrefix(r), Dev: "docker0"}}
		if r == "10.64.0.0/10" {
			if _, err := deriveSubnet(topic("lab", secret), DefaultRange, routes); !errors.Is(err, ErrSubnetTaken) || !strings.Contains(err.Error(), "10.64.0.0/10 dev docker0") {
				t.Errorf("range covered by a route: err = %v", err)
			}
			continue
		}
		b, err := deriveSubnet(topic("lab", secret), DefaultRange, routes)
		if err != nil || b == a || !DefaultRange.Contains(b.Addr()) || b.Overlaps(a) {
			t.Errorf("with route %s: %v, %v (first candidate %v)", r, b, err, a)
		}
	}
	// A range of one subnet, taken: refused; past 16 candidates the scan
	// finds the one free subnet of a small range.
	small := netip.MustParsePrefix("10.200.0.0/22")
	var routes []Route
	for i := range 4 {
		routes = append(routes, Route{Prefix: netip.PrefixFrom(hostAddr(small, uint64(i)<<8), 24)})
	}
	if _, err := deriveSubnet(topic("lab", secret), small, routes); !errors.Is(err, ErrSubnetTaken) {
		t.Errorf("full range: err = %v", err)
	}
	free := routes[2].Prefix
	routes = append(routes[:2], routes[3])
	if b, err := deriveSubnet(topic("lab", secret), small, routes); err != nil || b != free {
		t.Errorf("one free subnet %v: got %v, %v", free, b, err)
	}
	// A range smaller than a /24 is the subnet.
	tiny := netip.MustParsePrefix("10.94.0.0/29")
	if b, err := deriveSubnet(topic("lab", secret), tiny, nil); err != nil || b != tiny {
		t.Errorf("range %v: got %v, %v", tiny, b, err)
	}
}

// TestJoinRouteCollision: a configured address whose subnet overlaps a
// route of the host, or another network of ours, is refused naming the
// route; an automatic one steps around both.
func TestJoinRouteCollision(t *testing.T) {
	const secret = "correct horse battery staple"
	routes := []Route{{Prefix: netip.MustParsePrefix("10.99.0.0/24"), Dev: "eth1"}}
	m, err := New(Config{Host: stubHost{}, Signal: stubSignal{}, Routes: func() ([]Route, error) { return routes, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = m.Join(context.Background(), JoinConfig{Name: "lab", Secret: secret, IP: "10.99.0.7/24"})
	var re *RouteError
	if !errors.As(err, &re) || !errors.Is(err, ErrSubnetTaken) || re.Route.String() != "10.99.0.0/24 dev eth1" ||
		!strings.Contains(err.Error(), "10.99.0.0/24 dev eth1") {
		t.Fatalf("join over a route: err = %v", err)
	}
	// A /16 address covers the route too.
	if _, err := m.Join(context.Background(), JoinConfig{Name: "lab", Secret: secret, IP: "10.99.5.1/16"}); !errors.Is(err, ErrSubnetTaken) {
		t.Errorf("join of a /16 over a /24 route: err = %v", err)
	}
}

// stubHost and stubSignal stand in where a test never gets as far as
// signaling.
type stubHost struct{}

func (stubHost) ID() string      { return "stub" }
func (stubHost) Address() string { return "" }
func (stubHost) Dial(context.Context, string) (Link, error) {
	return nil, errors.New("stub: no dialing")
}
func (stubHost) Dialable(string, string) (string, error) { return "", errors.New("stub: no dialing") }

type stubSignal struct{}

func (stubSignal) JoinGroup(string, [32]byte, func(*signaling.Message)) (Group, error) {
	return nil, errors.New("stub: no signaling")
}
