package e2e

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// TestNetworkStateLab: a node joins two networks with automatic
// addresses, which get two subnets (each a /24 in 10.64.0.0/10); a
// configured address in the first's subnet is refused (409, naming the
// route); a node with the right name and a wrong secret reports, within
// 10 s, that no member has answered, saying that a wrong secret looks
// the same, while the one with the right secret goes from waiting to
// joined when a member with it comes.
func TestNetworkStateLab(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	hosts := map[string]*natlab.Host{}
	for _, name := range []string{"a", "b"} {
		hosts[name] = lab.AddRouter(natlab.Easy).AddHost()
	}
	nodes := startLabNodes(t, wan, ntp.Addr().String(), hosts)
	a, b := nodes["a"], nodes["b"]
	const secret = "lab-secret-of-some-length"
	join := func(n *labNode, name, secret, ip string, want int) networkInfo {
		t.Helper()
		var info networkInfo
		status, err := n.api.do("POST", "/v1/networks", `{"name":"`+name+`","secret":"`+secret+`","ip":"`+ip+`"}`, &info)
		if err != nil || status != want {
			t.Fatalf("%s: join %s at %s: %d %v, want %d", n.name, name, ip, status, err, want)
		}
		return info
	}

	one := join(a, "one", secret, "auto", http.StatusCreated)
	two := join(a, "two", secret, "auto", http.StatusCreated)
	p1, p2 := netip.MustParsePrefix(one.IP).Masked(), netip.MustParsePrefix(two.IP).Masked()
	r := netip.MustParsePrefix("10.64.0.0/10")
	if p1 == p2 || p1.Bits() != 24 || !r.Contains(p1.Addr()) || !r.Contains(p2.Addr()) {
		t.Fatalf("two networks, subnets %v and %v", p1, p2)
	}
	t.Logf("one: %s, two: %s", one.IP, two.IP)
	in1 := p1.Addr().As4()
	in1[3] = 77
	var problem struct {
		Type   string `json:"type"`
		Detail string `json:"detail"`
	}
	status, err := a.api.do("POST", "/v1/networks", `{"name":"three","secret":"`+secret+`","ip":"`+netip.AddrFrom4(in1).String()+`/24"}`, &problem)
	if err != nil || status != http.StatusConflict || !strings.HasSuffix(problem.Type, "/network-subnet-taken") ||
		!strings.Contains(problem.Detail, p1.String()+" dev rn-one") {
		t.Fatalf("join three in one's subnet: %d %v %+v", status, err, problem)
	}
	t.Logf("three refused: %s", problem.Detail)

	// b: the right name, a wrong secret.
	start := time.Now()
	join(b, "one", "a-guess-at-the-secret-1", "auto", http.StatusCreated)
	var got networkInfo
	waitFor(t, "b waiting", b.proc, 10*time.Second, func() (bool, error) {
		got, _ = b.network(t, "one")
		return got.State == "waiting", nil
	})
	t.Logf("b %s after %v: %s", got.State, time.Since(start).Round(100*time.Millisecond), got.Detail)
	if !strings.Contains(got.Detail, "no other member has answered yet") || !strings.Contains(got.Detail, "wrong secret") {
		t.Errorf("waiting detail %q", got.Detail)
	}
	if info, _ := a.network(t, "one"); info.State != "waiting" || len(info.Members) != 0 {
		t.Errorf("a: %s with %d members", info.State, len(info.Members))
	}
	// b leaves and joins with the right secret: both are joined.
	if status, err := b.api.do("DELETE", "/v1/networks/one", "", nil); err != nil || status != http.StatusOK {
		t.Fatalf("b leaves: %d %v", status, err)
	}
	join(b, "one", secret, "auto", http.StatusCreated)
	for _, n := range []*labNode{a, b} {
		waitFor(t, n.name+" joined", n.proc, 30*time.Second, func() (bool, error) {
			got, _ = n.network(t, "one")
			return got.State == "joined" && len(got.Members) == 1, nil
		})
	}
	if got, _ := b.network(t, "one"); netip.MustParsePrefix(got.IP).Masked() != p1 {
		t.Errorf("b took %s, outside one's subnet %v", got.IP, p1)
	}
}
