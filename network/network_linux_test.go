package network

import (
	"context"
	"encoding/json"
	"errors"
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
	return startMemberWith(t, b, testNodeID(t), nil)
}

func startMemberWith(t *testing.T, b *bus, id string, edit func(*Config)) *testMember {
	t.Helper()
	h := &fakeHost{b: b, id: id}
	cfg := Config{Host: h, Signal: h, Grace: 2 * time.Second, AnnounceEvery: 500 * time.Millisecond,
		Settle: 300 * time.Millisecond, MaxBackoff: time.Second}
	if edit != nil {
		edit(&cfg)
	}
	m, err := New(cfg)
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
	keys, _ := Derive("lab", testSecret)
	subnet, _ := deriveSubnet(keys.Topic, DefaultRange, nil)
	for _, tm := range all {
		info := infos[tm]
		p := netip.MustParsePrefix(info.IP)
		if p.Masked() != subnet {
			t.Errorf("ip %v outside the derived subnet %v", p, subnet)
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

	// While a join settles its automatic address, the name is taken but
	// the network not yet listed.
	done := make(chan Info)
	go func() { done <- a.join(t, "lab2", testSecret, "auto") }()
	time.Sleep(100 * time.Millisecond)
	if _, err := a.host.m.Join(context.Background(), JoinConfig{Name: "lab2", Secret: testSecret, IP: "auto"}); !errors.Is(err, ErrJoined) {
		t.Errorf("join while joining: %v", err)
	}
	if err := a.host.m.Leave(context.Background(), "lab2"); !errors.Is(err, ErrNotJoined) {
		t.Errorf("leave while joining: %v", err)
	}
	if info := <-done; info.Device == "" {
		t.Errorf("joined %+v", info)
	}
	if got := len(a.host.m.List()); got != 2 {
		t.Errorf("%d networks listed, want 2", got)
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

// TestSimultaneousAutoJoin: two nodes whose first candidate is the same
// address join at the same moment. Whether they hear each other while
// they settle or only once their devices are up (their announcements were
// lost until then), the larger node ID moves, once, and they reach each
// other.
func TestSimultaneousAutoJoin(t *testing.T) {
	requireTAP(t)
	r := netip.MustParsePrefix("10.94.0.0/29")
	// Two node IDs with the same first candidate in a range of 6 hosts.
	var ids []string
	first := map[netip.Addr]string{}
	for len(ids) == 0 {
		id := testNodeID(t)
		a := candidate(id, "lab", r, 0)
		if other, ok := first[a]; ok {
			ids = []string{min(id, other), max(id, other)}
		}
		first[a] = id
	}
	for _, heard := range []string{"while settling", "after the devices are up"} {
		t.Run(heard, func(t *testing.T) {
			b := newBus()
			small := startMemberWith(t, b, ids[0], func(c *Config) { c.Range = r })
			large := startMemberWith(t, b, ids[1], func(c *Config) { c.Range = r })
			lost := heard != "while settling"
			b.mu.Lock()
			b.muted[ids[0]], b.muted[ids[1]] = lost, lost
			b.mu.Unlock()
			done := make(chan struct{})
			for _, tm := range []*testMember{small, large} {
				go func() { tm.join(t, "lab", testSecret, "auto"); done <- struct{}{} }()
			}
			<-done
			<-done
			if lost {
				si, _ := small.host.m.Get("lab")
				li, _ := large.host.m.Get("lab")
				if si.IP != li.IP {
					t.Fatalf("no clash to resolve: %s and %s", si.IP, li.IP)
				}
				b.mu.Lock()
				b.muted[ids[0]], b.muted[ids[1]] = false, false
				b.mu.Unlock()
			}
			si := waitMembers(t, small, "lab", large)
			li := waitMembers(t, large, "lab", small)
			if si.IP == li.IP || si.AddressMoves != 0 || li.AddressMoves != 1 {
				t.Fatalf("smaller ID %s (moves %d), larger %s (moves %d); want the larger to move once",
					si.IP, si.AddressMoves, li.IP, li.AddressMoves)
			}
			if a := netip.MustParsePrefix(si.IP).Addr(); a != candidate(ids[0], "lab", r, 0) {
				t.Errorf("the smaller ID left its first candidate for %v", a)
			}
			small.ping(t, strings.Split(li.IP, "/")[0])
		})
	}
}

// TestDialRetry: a member that cannot be reached is retried with backoff
// until it can; its row says why the attempts failed meanwhile.
func TestDialRetry(t *testing.T) {
	requireTAP(t)
	b := newBus()
	x, y := startMember(t, b), startMember(t, b)
	dialer, target := x, y
	if y.host.id < x.host.id {
		dialer, target = y, x
	}
	b.mu.Lock()
	target.host.down = true
	b.mu.Unlock()
	dialer.join(t, "lab", testSecret, "10.93.0.1/24")
	target.join(t, "lab", testSecret, "10.93.0.2/24")
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, _ := dialer.host.m.Get("lab")
		if len(info.Members) == 1 && info.Members[0].Attempts >= 2 && info.Members[0].Link != LinkUp {
			if !strings.Contains(info.Members[0].LastError, "no route") {
				t.Errorf("last error %q", info.Members[0].LastError)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed retries: %+v", info.Members)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.mu.Lock()
	target.host.down = false
	b.mu.Unlock()
	info := waitMembers(t, dialer, "lab", target)
	t.Logf("link up after %d attempts", info.Members[0].Attempts)
}

// TestReannounce: a member whose node address changes announces it at
// once, and the others record it.
func TestReannounce(t *testing.T) {
	requireTAP(t)
	b := newBus()
	rarely := func(c *Config) { c.AnnounceEvery = time.Hour } // only the change can tell
	x, y := startMemberWith(t, b, testNodeID(t), rarely), startMemberWith(t, b, testNodeID(t), rarely)
	x.join(t, "lab", testSecret, "10.92.0.1/24")
	y.join(t, "lab", testSecret, "10.92.0.2/24")
	waitMembers(t, x, "lab", y)
	b.mu.Lock()
	y.host.addr = y.host.id + "/moved"
	b.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second) // the change is sent within a second
	for {
		info, _ := x.host.m.Get("lab")
		if len(info.Members) == 1 && info.Members[0].Address == y.host.id+"/moved" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new address never arrived: %+v", info.Members)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTwoNetworksSubnets: two networks joined with automatic addresses
// get different subnets, each with its route; a configured address in
// the first's subnet is refused, naming its route.
func TestTwoNetworksSubnets(t *testing.T) {
	requireTAP(t)
	tm := startMember(t, newBus())
	one := tm.join(t, "one", testSecret, "auto")
	two := tm.join(t, "two", testSecret, "auto")
	p1, p2 := netip.MustParsePrefix(one.IP).Masked(), netip.MustParsePrefix(two.IP).Masked()
	if p1 == p2 || !DefaultRange.Contains(p1.Addr()) || !DefaultRange.Contains(p2.Addr()) {
		t.Fatalf("subnets %v and %v", p1, p2)
	}
	ip := hostAddr(p1, 9).String() + "/24"
	err := tm.ns.do(func() error {
		_, err := tm.host.m.Join(context.Background(), JoinConfig{Name: "three", Secret: testSecret, IP: ip})
		return err
	})
	if !errors.Is(err, ErrSubnetTaken) || !strings.Contains(err.Error(), p1.String()) {
		t.Fatalf("join three at %s: err = %v", ip, err)
	}
	t.Logf("one %s, two %s; three refused: %v", one.IP, two.IP, err)
}

// TestJoinStates: a member alone is joining, then waiting (saying that a
// wrong secret looks the same), reported to OnState; one with another
// secret leaves it waiting; when a second member comes, both are joined.
func TestJoinStates(t *testing.T) {
	requireTAP(t)
	b := newBus()
	withStates := func(changes chan StateChange) func(*Config) {
		return func(c *Config) {
			c.Wait = 500 * time.Millisecond
			c.OnState = func(s StateChange) { changes <- s }
		}
	}
	changes, wrongChanges := make(chan StateChange, 16), make(chan StateChange, 16)
	a := startMemberWith(t, b, testNodeID(t), withStates(changes))
	info := a.join(t, "lab", testSecret, "10.93.0.1/24")
	if info.State != StateJoining {
		t.Errorf("state right after the join: %q", info.State)
	}
	next := func(changes chan StateChange, want string) StateChange {
		t.Helper()
		select {
		case s := <-changes:
			if s.State != want || s.Name != "lab" {
				t.Fatalf("state change %+v, want %s", s, want)
			}
			return s
		case <-time.After(10 * time.Second):
			t.Fatalf("no state change to %s", want)
		}
		return StateChange{}
	}
	if s := next(changes, StateWaiting); s.Detail != DetailWaiting {
		t.Errorf("waiting detail %q", s.Detail)
	}
	if info, _ := a.host.m.Get("lab"); info.State != StateWaiting || !strings.Contains(info.Detail, "wrong secret") {
		t.Errorf("info state %q detail %q", info.State, info.Detail)
	}
	wrong := startMemberWith(t, b, testNodeID(t), withStates(wrongChanges))
	wrong.join(t, "lab", testSecret+"-not", "10.93.1.1/24")
	next(wrongChanges, StateWaiting)
	c := startMember(t, b)
	c.join(t, "lab", testSecret, "10.93.0.2/24")
	if s := next(changes, StateJoined); s.Members != 1 {
		t.Errorf("joined with %d members", s.Members)
	}
	if info, _ := wrong.host.m.Get("lab"); info.State != StateWaiting || len(info.Members) != 0 {
		t.Errorf("the wrong secret's member: %q with %d members", info.State, len(info.Members))
	}
}

// TestMemberHostNames: each member announces its host name; the others
// list it and find the member by it; an announce with a host name that is
// no DNS label is listed without one.
func TestMemberHostNames(t *testing.T) {
	requireTAP(t)
	b := newBus()
	a := startMemberWith(t, b, testNodeID(t), func(c *Config) { c.HostName = "alpha" })
	c := startMemberWith(t, b, testNodeID(t), func(c *Config) { c.HostName = "gamma" })
	d := startMemberWith(t, b, testNodeID(t), func(c *Config) { c.HostName = "Not A Label" })
	for _, tm := range []*testMember{a, c, d} {
		tm.join(t, "lab", testSecret, "auto")
	}
	info := waitMembers(t, a, "lab", c, d)
	hosts := map[string]string{}
	for _, mb := range info.Members {
		hosts[mb.NodeID] = mb.Host
	}
	if info.Host != "alpha" || hosts[c.host.id] != "gamma" || hosts[d.host.id] != "" {
		t.Errorf("a's table: own host %q, members %v", info.Host, hosts)
	}
	mb, err := a.host.m.MemberByHost("lab", "gamma")
	if err != nil || mb.NodeID != c.host.id || mb.Address == "" {
		t.Errorf("MemberByHost(gamma): %+v %v", mb, err)
	}
	if _, err := a.host.m.MemberByHost("lab", "delta"); !errors.Is(err, ErrNoHost) {
		t.Errorf("MemberByHost(delta): %v, want ErrNoHost", err)
	}
	if _, err := a.host.m.MemberByHost("other", "gamma"); !errors.Is(err, ErrNotJoined) {
		t.Errorf("MemberByHost in a network not joined: %v, want ErrNotJoined", err)
	}
}
