package network

import (
	"context"
	"encoding/json"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

const testSecret = "correct horse battery staple"

type testMember struct {
	ns   *testNS
	host *fakeHost
}

func startMember(t *testing.T, b *bus) *testMember {
	t.Helper()
	h := &fakeHost{b: b, id: testNodeID(t)}
	m, err := New(Config{Host: h, Signal: h, Grace: 2 * time.Second, AnnounceEvery: 500 * time.Millisecond,
		Settle: 300 * time.Millisecond, MaxBackoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	b.mu.Lock()
	b.hosts[h.id] = h
	b.mu.Unlock()
	t.Cleanup(func() { m.Close(); h.wg.Wait() })
	return &testMember{ns: newTestNS(t), host: h}
}

func (tm *testMember) join(t *testing.T, name, secret, ip string) Info {
	t.Helper()
	var info Info
	err := tm.ns.do(func() (err error) {
		info, err = tm.host.m.Join(context.Background(), JoinConfig{Name: name, Secret: secret, IP: ip})
		return err
	})
	if err != nil {
		t.Fatalf("join %s: %v", name, err)
	}
	return info
}

// waitMembers waits until the member's peer table of name lists exactly
// want, every link up.
func waitMembers(t *testing.T, tm *testMember, name string, want ...*testMember) Info {
	t.Helper()
	var ids []string
	for _, w := range want {
		ids = append(ids, w.host.id)
	}
	slices.Sort(ids)
	deadline := time.Now().Add(15 * time.Second)
	for {
		info, err := tm.host.m.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		up := true
		for _, mb := range info.Members {
			got = append(got, mb.NodeID)
			up = up && mb.Link == LinkUp
		}
		if slices.Equal(got, ids) && up {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: members %+v, want %v all up", tm.host.id[:8], info.Members, ids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (tm *testMember) ping(t *testing.T, addr string) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", tm.ns.name, "ping", "-c", "2", "-W", "3", addr).CombinedOutput()
	if err != nil {
		t.Errorf("ping %s from %s: %v\n%s", addr, tm.ns.name, err, out)
	}
}

// TestNetwork: three members join at once with automatic addresses, link
// pairwise (one link per pair), pass IPv4 and IPv6 link-local pings
// through their switches; a node with the name but another secret sees
// nobody and nobody sees it; a member that leaves drops out at once, and
// one that vanishes without a word drops out after the grace period.
func TestNetwork(t *testing.T) {
	requireTAP(t)
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("needs ping")
	}
	b := newBus()
	a, c, d := startMember(t, b), startMember(t, b), startMember(t, b)
	all := []*testMember{a, c, d}
	done := make(chan struct{})
	for _, tm := range all {
		go func() { tm.join(t, "lab", testSecret, "auto"); done <- struct{}{} }()
	}
	for range all {
		<-done
	}
	infos := map[*testMember]Info{}
	for _, tm := range all {
		var others []*testMember
		for _, o := range all {
			if o != tm {
				others = append(others, o)
			}
		}
		infos[tm] = waitMembers(t, tm, "lab", others...)
	}
	ips := map[string]bool{}
	for _, tm := range all {
		info := infos[tm]
		p := netip.MustParsePrefix(info.IP)
		if p.Masked() != DefaultRange {
			t.Errorf("ip %v outside %v", p, DefaultRange)
		}
		ips[p.Addr().String()] = true
		if info.Device == "" || !info.Auto {
			t.Errorf("info %+v", info)
		}
	}
	if len(ips) != 3 {
		t.Fatalf("automatic addresses clash: %v", ips)
	}
	a.ping(t, strings.Split(infos[c].IP, "/")[0])
	a.ping(t, strings.Split(infos[d].IP, "/")[0])
	d.ping(t, strings.Split(infos[c].IP, "/")[0])
	// IPv6 link-local: neighbour discovery through the switch.
	a.ping(t, infos[c].LinkLocal+"%"+infos[a].Device)

	// A node that knows the name, not the secret.
	x := startMember(t, b)
	xi := x.join(t, "lab", "not the secret at all!!", "auto")
	time.Sleep(time.Second)
	if xi, _ = x.host.m.Get("lab"); len(xi.Members) != 0 {
		t.Errorf("the outsider sees %+v", xi.Members)
	}
	for _, tm := range all {
		info, _ := tm.host.m.Get("lab")
		for _, mb := range info.Members {
			if mb.NodeID == x.host.id {
				t.Errorf("%s lists the outsider", tm.host.id[:8])
			}
		}
	}

	// Leaving: the others drop the member at once.
	if err := d.host.m.Leave(context.Background(), "lab"); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, a, "lab", c)
	waitMembers(t, c, "lab", a)
	if _, err := d.host.m.Get("lab"); err == nil {
		t.Error("the leaver still lists the network")
	}

	// Vanishing: no leave message, links cut, dials refused: dropped after
	// the grace period (2s here).
	b.mu.Lock()
	b.muted[c.host.id] = true
	c.host.down = true
	b.mu.Unlock()
	start := time.Now()
	c.host.m.Close()
	waitMembers(t, a, "lab")
	if el := time.Since(start); el < 2*time.Second {
		t.Errorf("dropped after %v, before the grace period", el)
	}
}

// TestJoinErrors: bad requests and a second join of one name.
func TestJoinErrors(t *testing.T) {
	requireTAP(t)
	b := newBus()
	a := startMember(t, b)
	a.join(t, "lab", testSecret, "10.98.0.1/24")
	_, err := a.host.m.Join(context.Background(), JoinConfig{Name: "lab", Secret: testSecret, IP: "auto"})
	if err == nil || !strings.Contains(err.Error(), "joined already") {
		t.Errorf("second join: %v", err)
	}
	if err := a.host.m.Leave(context.Background(), "nope"); err == nil {
		t.Error("left a network not joined")
	}
}

// TestAddressClash: a configured address that an automatic one holds
// already wins; the automatic member moves its device to a free address
// and the two reach each other.
func TestAddressClash(t *testing.T) {
	requireTAP(t)
	b := newBus()
	auto, fixed := startMember(t, b), startMember(t, b)
	ai := auto.join(t, "lab", testSecret, "auto")
	fixed.join(t, "lab", testSecret, ai.IP)
	waitMembers(t, fixed, "lab", auto)
	got := waitMembers(t, auto, "lab", fixed)
	if got.IP == ai.IP || got.AddressMoves != 1 {
		t.Fatalf("after the clash: ip %s (was %s), moves %d", got.IP, ai.IP, got.AddressMoves)
	}
	out, err := exec.Command("ip", "-n", auto.ns.name, "-4", "addr", "show", got.Device).CombinedOutput()
	if err != nil || !strings.Contains(string(out), got.IP) || strings.Contains(string(out), ai.IP) {
		t.Errorf("device %s: %v\n%s", got.Device, err, out)
	}
	fixed.ping(t, strings.Split(got.IP, "/")[0])
	if t.Failed() {
		fi, _ := fixed.host.m.Get("lab")
		ai, _ := auto.host.m.Get("lab")
		t.Logf("fixed %+v\nauto %+v", fi, ai)
		o1, _ := exec.Command("ip", "-n", auto.ns.name, "addr").CombinedOutput()
		o2, _ := exec.Command("ip", "-n", fixed.ns.name, "neigh").CombinedOutput()
		t.Logf("%s\n%s", o1, o2)
	}
}
