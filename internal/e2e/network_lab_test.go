package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// networkInfo and networkMember are the API's Network and NetworkMember.
type networkInfo struct {
	Name      string          `json:"name"`
	State     string          `json:"state"`
	Detail    string          `json:"detail"`
	IP        string          `json:"ip"`
	Auto      bool            `json:"auto"`
	Device    string          `json:"device"`
	LinkLocal string          `json:"link_local"`
	Members   []networkMember `json:"members"`
}

type networkMember struct {
	NodeID       string `json:"node_id"`
	IP           string `json:"ip"`
	MAC          string `json:"mac"`
	LinkLocal    string `json:"link_local"`
	Link         string `json:"link"`
	ConnectionID string `json:"connection_id"`
	Strategy     string `json:"strategy"`
}

func (n *labNode) network(t testing.TB, name string) (networkInfo, int) {
	t.Helper()
	var info networkInfo
	status, err := n.api.do("GET", "/v1/networks/"+name, "", &info)
	if err != nil {
		t.Fatalf("%s: GET network %s: %v", n.name, name, err)
	}
	return info, status
}

// TestNetworkLab: three nodes behind three different NAT kinds join one
// network with automatic addresses; each reaches both others over its TAP
// device (ping, TCP) and by IPv6 link-local (neighbour discovery through
// the switches); a fourth node that knows the name but not the secret
// sees no member and no member lists it; when one member leaves, the
// others drop it; one that is killed drops out after the grace period.
func TestNetworkLab(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	hosts := map[string]*natlab.Host{}
	for _, k := range []natlab.Kind{natlab.Forwarded, natlab.Easy, natlab.Hard, natlab.Public} {
		r := lab.AddRouter(k)
		h := r.AddHost()
		if k == natlab.Forwarded {
			r.Forward(h, labPort)
		}
		hosts[k.String()] = h
	}
	const grace = 5 * time.Second // --network-grace; the default is 30 s
	nodes := startLabNodes(t, wan, ntp.Addr().String(), hosts, "--network-grace", grace.String())
	members := []*labNode{nodes["forwarded"], nodes["easy"], nodes["hard"]}
	outsider := nodes["public"]
	const secret = "lab-secret-of-some-length"

	// All three join at the same moment.
	start := time.Now()
	var wg sync.WaitGroup
	for _, m := range members {
		wg.Go(func() {
			var info networkInfo
			status, err := m.api.do("POST", "/v1/networks", `{"name":"lab","secret":"`+secret+`","ip":"auto"}`, &info)
			if err != nil || status != http.StatusCreated || !info.Auto || info.Device == "" {
				t.Errorf("%s: join: %d %v %+v", m.name, status, err, info)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	infos := map[*labNode]networkInfo{}
	for _, m := range members {
		var others []string
		for _, o := range members {
			if o != m {
				others = append(others, o.info.NodeID)
			}
		}
		slices.Sort(others)
		waitFor(t, m.name+" links up to both others", m.proc, 2*time.Minute, func() (bool, error) {
			info, _ := m.network(t, "lab")
			infos[m] = info
			var got []string
			for _, mb := range info.Members {
				if mb.Link != "up" {
					return false, fmt.Errorf("%s link %s", mb.NodeID[:8], mb.Link)
				}
				got = append(got, mb.NodeID)
			}
			return slices.Equal(got, others), fmt.Errorf("members %v", got)
		})
	}
	t.Logf("all links up %v after the joins began", time.Since(start).Round(time.Millisecond))
	ips := map[netip.Addr]*labNode{}
	subnet := netip.MustParsePrefix(infos[members[0]].IP).Masked()
	for _, m := range members {
		p, err := netip.ParsePrefix(infos[m].IP)
		if err != nil || p.Masked() != subnet || p.Bits() != 24 || !netip.MustParsePrefix("10.64.0.0/10").Contains(p.Addr()) {
			t.Fatalf("%s: address %q, want one subnet (a /24 in 10.64.0.0/10) for all", m.name, infos[m].IP)
		}
		if o := ips[p.Addr()]; o != nil {
			t.Fatalf("%s and %s both took %v", m.name, o.name, p.Addr())
		}
		ips[p.Addr()] = m
		for _, mb := range infos[m].Members {
			t.Logf("%s -> %s: %s over %s (%s)", m.name, mb.IP, mb.Link, mb.Strategy, mb.ConnectionID)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ipOf := func(m *labNode) string { return strings.Split(infos[m].IP, "/")[0] }
	for _, from := range members {
		for _, to := range members {
			if from == to {
				continue
			}
			out, err := from.host.Command(ctx, "ping", "-c", "3", "-W", "5", ipOf(to)).CombinedOutput()
			if err != nil {
				t.Errorf("ping %s -> %s: %v\n%s", from.name, to.name, err, out)
				continue
			}
			t.Logf("ping %s -> %s: %s", from.name, to.name, lastLine(string(out)))
			tcpAcross(t, from.host, to.host, ipOf(to), 4<<20)
		}
	}
	// 64 MiB over a relayed member link (a pair behind easy and hard NATs).
	for _, m := range members {
		for _, mb := range infos[m].Members {
			if mb.Strategy != "relay" || !m.dials(mb.NodeID) {
				continue
			}
			for _, o := range members {
				if o.info.NodeID == mb.NodeID {
					t.Logf("relayed link %s -> %s:", m.name, o.name)
					tcpAcross(t, m.host, o.host, ipOf(o), 64<<20)
				}
			}
		}
	}
	// IPv6 link-local: the kernel resolves the neighbour by multicast
	// solicitation, flooded through the switches.
	a, b := members[0], members[2]
	ll := infos[b].LinkLocal
	if out, err := a.host.Command(ctx, "ping", "-6", "-c", "2", "-W", "5", ll+"%"+infos[a].Device).CombinedOutput(); err != nil {
		t.Errorf("ping -6 %s%%%s: %v\n%s", ll, infos[a].Device, err, out)
	} else {
		t.Logf("ping -6 %s -> %s (%s): %s", a.name, b.name, ll, lastLine(string(out)))
	}

	// The outsider knows the name, not the secret. It takes an address no
	// member has: an automatic one could be a member's (it sees none of
	// them to avoid), and pinging it would answer itself.
	taken := map[string]bool{}
	for _, m := range members {
		taken[ipOf(m)] = true
	}
	outsiderIP := subnet.Addr().As4()
	for outsiderIP[3] = 254; taken[netip.AddrFrom4(outsiderIP).String()]; outsiderIP[3]-- {
	}
	var oi networkInfo
	status, err := outsider.api.do("POST", "/v1/networks", fmt.Sprintf(`{"name":"lab","secret":"a-guess-at-the-secret-1","ip":"%s/24"}`, netip.AddrFrom4(outsiderIP)), &oi)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("outsider join: %d %v", status, err)
	}
	time.Sleep(12 * time.Second) // past a round of periodic announcements
	if oi, _ = outsider.network(t, "lab"); len(oi.Members) != 0 {
		t.Errorf("the outsider sees members %+v", oi.Members)
	}
	for _, m := range members {
		info, _ := m.network(t, "lab")
		for _, mb := range info.Members {
			if mb.NodeID == outsider.info.NodeID {
				t.Errorf("%s lists the outsider", m.name)
			}
		}
	}
	if out, err := outsider.host.Command(ctx, "ping", "-c", "1", "-W", "2", ipOf(members[0])).CombinedOutput(); err == nil {
		t.Errorf("the outsider reaches a member:\n%s", out)
	}

	// One leaves: the others drop it from their peer tables.
	leaver := members[1]
	if status, err := leaver.api.do("DELETE", "/v1/networks/lab", "", nil); err != nil || status != http.StatusOK {
		t.Fatalf("leave: %d %v", status, err)
	}
	left := time.Now()
	for _, m := range []*labNode{members[0], members[2]} {
		waitFor(t, m.name+" drops the leaver", m.proc, 15*time.Second, func() (bool, error) {
			info, _ := m.network(t, "lab")
			for _, mb := range info.Members {
				if mb.NodeID == leaver.info.NodeID {
					return false, nil
				}
			}
			return len(info.Members) == 1, fmt.Errorf("members %+v", info.Members)
		})
	}
	t.Logf("the leaver dropped from both tables %v after it left", time.Since(left).Round(time.Millisecond))
	if _, status := leaver.network(t, "lab"); status != http.StatusNotFound {
		t.Errorf("the leaver still shows the network: %d", status)
	}

	// One dies without a word: its link goes down, and it drops out of
	// the last member's table after the grace period.
	dead, last := members[2], members[0]
	if err := syscall.Kill(dead.proc.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	sawDown := false
	waitFor(t, last.name+" drops the dead member", last.proc, grace+30*time.Second, func() (bool, error) {
		info, _ := last.network(t, "lab")
		for _, mb := range info.Members {
			sawDown = sawDown || mb.Link != "up"
			return false, fmt.Errorf("still lists it, link %s", mb.Link)
		}
		return true, nil
	})
	el := time.Since(killed)
	t.Logf("the dead member dropped %v after it was killed (link seen down: %v)", el.Round(time.Millisecond), sawDown)
	if el < grace {
		t.Errorf("dropped after %v, before the %v grace period", el, grace)
	}
}

// dials reports whether n dials the member id (the smaller node ID does).
func (n *labNode) dials(id string) bool { return n.info.NodeID < id }

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
