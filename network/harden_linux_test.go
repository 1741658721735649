package network

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reachd/reachd/signaling"
)

// Attacks by a member, or by anyone who holds the secret, on the others
// (guard.go): each test is named after one.

// netOf returns tm's joined network name.
func netOf(t *testing.T, tm *testMember, name string) *Network {
	t.Helper()
	tm.host.m.mu.Lock()
	defer tm.host.m.mu.Unlock()
	n := tm.host.m.nets[name]
	if n == nil {
		t.Fatalf("%s has not joined %s", tm.host.id[:8], name)
	}
	return n
}

// fakeID is a made-up node ID: the announces below come straight to the
// victim's handler, past the signature check of package signaling, as a
// key holder's would. IDs with prefix "zz" sort after real ones (the
// victim dials them), "aa" before.
func fakeID(prefix string, i int) string {
	return fmt.Sprintf("%s%0*d", prefix, 52-len(prefix), i)
}

// announceAs is what member id would announce: addr, ip, and its MAC.
func announceAs(t *testing.T, n *Network, id, addr, ip string, auto bool, held time.Duration) []byte {
	t.Helper()
	b, err := jsonMarshal(announce{Address: addr, IP: ip, MAC: n.memberMAC(id).String(), Auto: auto,
		Ready: true, Reply: true, Held: held.Milliseconds()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// adjustableClock is a member's clock that the test moves forward.
type adjustableClock struct{ ahead atomic.Int64 }

func (c *adjustableClock) now() time.Time          { return time.Now().Add(time.Duration(c.ahead.Load())) }
func (c *adjustableClock) advance(d time.Duration) { c.ahead.Add(int64(d)) }

// TestMemberSpoofsMACAndIP: a member whose device sends frames with
// another member's MAC, and with another's IP (in ARP and in IPv4), has
// them dropped at the other members' switches and counted in their peer
// table; the first member's datagrams to the second still reach it, and
// the spoofed IPv4 datagram does not reach its target.
func TestMemberSpoofsMACAndIP(t *testing.T) {
	requireTAP(t)
	b := newBus()
	a, v, m := startMember(t, b), startMember(t, b), startMember(t, b)
	ai := a.join(t, "lab", testSecret, "10.90.0.1/24")
	vi := v.join(t, "lab", testSecret, "10.90.0.2/24")
	mi := m.join(t, "lab", testSecret, "10.90.0.3/24")
	waitMembers(t, a, "lab", v, m)
	waitMembers(t, v, "lab", a, m)
	waitMembers(t, m, "lab", a, v)
	aIP, vIP := netip.MustParsePrefix(ai.IP).Addr(), netip.MustParsePrefix(vi.IP).Addr()
	aMAC, _ := net.ParseMAC(ai.MAC)
	vMAC, _ := net.ParseMAC(vi.MAC)
	mMAC, _ := net.ParseMAC(mi.MAC)

	// v listens; a sends it one datagram first, so a knows v's MAC (a
	// neighbour entry) and sends the 20 below without asking again.
	var vConn, aConn, aSend net.PacketConn
	listen := func(tm *testMember, ap netip.AddrPort, c *net.PacketConn) {
		if err := tm.ns.do(func() (err error) {
			*c, err = net.ListenPacket("udp4", ap.String())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { (*c).Close() })
	}
	listen(v, netip.AddrPortFrom(vIP, 9999), &vConn)
	listen(a, netip.AddrPortFrom(aIP, 9998), &aConn)
	listen(a, netip.AddrPortFrom(aIP, 0), &aSend)
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(vIP, 9999))
	received := func(want int) int {
		got := 0
		buf := make([]byte, 64)
		vConn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for got < want {
			if _, _, err := vConn.ReadFrom(buf); err != nil {
				break
			}
			got++
		}
		return got
	}
	aSend.WriteTo([]byte("hello"), to)
	if received(1) != 1 {
		t.Fatal("a's first datagram never reached v")
	}

	// m's device sends, through m's switch to a and v: b's MAC, v's IP
	// in ARP, v's IP in IPv4 (a datagram to a's port 9998).
	spoofs := [][]byte{
		arpFrame(vMAC, vMAC, vIP),
		arpFrame(mMAC, mMAC, vIP),
		udpFrame(mMAC, aMAC, vIP, aIP, 9998),
	}
	if err := m.ns.do(func() error { return sendRaw(mi.Device, spoofs) }); err != nil {
		t.Fatal(err)
	}
	spoofedAt := func(tm *testMember) uint64 {
		info, _ := tm.host.m.Get("lab")
		i := slices.IndexFunc(info.Members, func(mb Member) bool { return mb.NodeID == m.host.id })
		if i < 0 {
			return 0
		}
		return info.Members[i].FramesSpoofed
	}
	deadline := time.Now().Add(5 * time.Second)
	for spoofedAt(a) < uint64(len(spoofs)) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := spoofedAt(a); got != uint64(len(spoofs)) {
		t.Errorf("a counted %d spoofed frames from m, want %d", got, len(spoofs))
	}
	if got := spoofedAt(v); got < 2 { // the two broadcast ARPs
		t.Errorf("v counted %d spoofed frames from m, want at least 2", got)
	}
	// The spoofed datagram was judged with the others: it is not there.
	aConn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, from, err := aConn.ReadFrom(make([]byte, 64)); err == nil {
		t.Errorf("a got m's datagram spoofed from %v", from)
	}

	for range 20 {
		aSend.WriteTo([]byte("to v"), to)
	}
	if got := received(20); got != 20 {
		t.Errorf("v got %d of a's 20 datagrams after m's spoofs", got)
	}
}

// sendRaw writes frames on device dev of the calling thread's namespace,
// as its kernel would send them.
func sendRaw(dev string, frames [][]byte) error {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		return fmt.Errorf("packet socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		return fmt.Errorf("bind to %s: %w", dev, err)
	}
	for _, f := range frames {
		if _, err := unix.Write(fd, f); err != nil {
			return fmt.Errorf("send on %s: %w", dev, err)
		}
	}
	return nil
}

// arpFrame is a broadcast gratuitous ARP request with Ethernet source src
// and sender sha at spa.
func arpFrame(src, sha net.HardwareAddr, spa netip.Addr) []byte {
	f := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	f = append(f, src...)
	f = append(f, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1)
	f = append(f, sha...)
	f = append(f, spa.AsSlice()...)
	f = append(f, 0, 0, 0, 0, 0, 0)
	return append(f, spa.AsSlice()...)
}

// udpFrame is an IPv4 UDP datagram from src at srcIP to dst at dstIP:port.
func udpFrame(src, dst net.HardwareAddr, srcIP, dstIP netip.Addr, port uint16) []byte {
	f := append(slices.Clone([]byte(dst)), src...)
	f = append(f, 0x08, 0x00)
	ip := make([]byte, 20+8+4)
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	copy(ip[12:], srcIP.AsSlice())
	copy(ip[16:], dstIP.AsSlice())
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	binary.BigEndian.PutUint16(ip[20:], 4000)
	binary.BigEndian.PutUint16(ip[22:], port)
	binary.BigEndian.PutUint16(ip[24:], 8+4) // no checksum (0: none, for IPv4)
	copy(ip[28:], "spof")
	return append(f, ip...)
}

// TestAnnounceFlood: 2,000 announces from key holders make the victim
// dial a small bounded number of times. Of 1,500 from as many senders,
// the 1,000 naming another node's address are refused and the 500 with
// their own fill the member cap; 500 from one member flipping its address
// (at an attacker's pace, a millisecond apart) wake its dialer only at
// the member's announce rate.
func TestAnnounceFlood(t *testing.T) {
	requireTAP(t)
	dials := func(b *bus) int {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.dialed
	}
	t.Run("many senders", func(t *testing.T) {
		b := newBus()
		const maxMembers = 16
		var logs lineCounter
		v := startMemberWith(t, b, testNodeID(t), func(c *Config) {
			c.MaxMembers = maxMembers
			c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		})
		v.join(t, "lab", testSecret, "10.89.0.1/24")
		n := netOf(t, v, "lab")
		for i := range 1000 {
			id := fakeID("zzz", i)
			n.handle(&signaling.Message{From: id, Type: msgAnnounce.Name(), Body: announceAs(t, n, id, v.host.id, fmt.Sprintf("10.89.%d.%d/16", 10+i/250, 1+i%250), false, 0)})
		}
		for i := range 500 {
			id := fakeID("zzzz", i)
			n.handle(&signaling.Message{From: id, Type: msgAnnounce.Name(), Body: announceAs(t, n, id, id, fmt.Sprintf("10.89.%d.%d/16", 20+i/250, 1+i%250), false, 0)})
		}
		// Each member is dialled at once, again when its address first
		// wakes the dialer, and after a second (MaxBackoff): a second's
		// window sees three dials of each; the bound leaves room for a
		// fourth.
		time.Sleep(time.Second)
		dialed := dials(b)
		info, _ := v.host.m.Get("lab")
		t.Logf("1,500 senders: %d members, %d dials in a second", len(info.Members), dialed)
		if len(info.Members) > maxMembers {
			t.Errorf("%d members admitted, the cap is %d", len(info.Members), maxMembers)
		}
		if bound := 4 * maxMembers; dialed > bound {
			t.Errorf("the flood made the victim dial %d times, want at most %d", dialed, bound)
		}
		// The refusals are logged about once a second, not once each.
		if n := logs.count("refused"); n > 2*announceBurst {
			t.Errorf("%d log lines of refusals for 1,484 refusals", n)
		}
		for _, mb := range info.Members {
			if !strings.HasPrefix(mb.NodeID, "zzzz") {
				t.Errorf("member %s admitted with another node's address %s", mb.NodeID, mb.Address)
			}
		}
	})
	t.Run("one sender flipping its address", func(t *testing.T) {
		b := newBus()
		v := startMember(t, b)
		v.join(t, "lab", testSecret, "10.89.0.1/24")
		n := netOf(t, v, "lab")
		flipper := fakeID("zz", 0)
		start := time.Now()
		for i := range 500 {
			addr := flipper
			if i%2 == 1 {
				addr += "/moved"
			}
			n.handle(&signaling.Message{From: flipper, Type: msgAnnounce.Name(), Body: announceAs(t, n, flipper, addr, "10.89.0.2/24", false, 0)})
			time.Sleep(time.Millisecond)
		}
		elapsed := time.Since(start)
		dialed := dials(b)
		// A dial per announce acted on, and one a second from backoff.
		bound := announceBurst + int(float64(n.announceRate())*elapsed.Seconds()) + int(elapsed.Seconds()) + 2
		t.Logf("500 flips in %v: %d dials", elapsed.Round(time.Millisecond), dialed)
		if dialed > bound {
			t.Errorf("the flips made the victim dial %d times in %v, want at most %d", dialed, elapsed, bound)
		}
	})
}

// lineCounter is a log sink that counts lines by what they say.
type lineCounter struct {
	mu    sync.Mutex
	lines []string
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, string(p))
	return len(p), nil
}

func (c *lineCounter) count(substr string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, l := range c.lines {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// TestAutoAddressChurn: a newcomer claiming an established member's
// automatic address, again and again, as a configured address and as an
// automatic one it says it has held for a year, leaves that address
// where it is; a member that joined just now moves at most a few times.
func TestAutoAddressChurn(t *testing.T) {
	requireTAP(t)
	b := newBus()
	clock := &adjustableClock{}
	v := startMemberWith(t, b, testNodeID(t), func(c *Config) { c.Now = clock.now })
	vi := v.join(t, "lab", testSecret, "auto")
	n := netOf(t, v, "lab")
	clock.advance(time.Minute) // v is established: it held its address before anyone came
	for i := range 50 {
		id := fakeID("aa", i) // smaller than v: it would win a tie between automatic addresses
		n.handle(&signaling.Message{From: id, Type: msgAnnounce.Name(), Body: announceAs(t, n, id, id, vi.IP, false, 0)})
		id = fakeID("ab", i)
		n.handle(&signaling.Message{From: id, Type: msgAnnounce.Name(), Body: announceAs(t, n, id, id, vi.IP, true, 365*24*time.Hour)})
	}
	if got, _ := v.host.m.Get("lab"); got.IP != vi.IP || got.AddressMoves != 0 {
		t.Errorf("established member: ip %s (was %s) after %d moves", got.IP, vi.IP, got.AddressMoves)
	}

	// A member new to the network takes the word of those already there,
	// but its address moves at most moveBurst times however often it is
	// chased.
	w := startMember(t, b)
	w.join(t, "lab2", testSecret, "auto")
	nw := netOf(t, w, "lab2")
	for i := range 50 {
		cur, _ := w.host.m.Get("lab2")
		id := fakeID("ac", i)
		nw.handle(&signaling.Message{From: id, Type: msgAnnounce.Name(), Body: announceAs(t, nw, id, id, cur.IP, false, time.Hour)})
	}
	if got, _ := w.host.m.Get("lab2"); got.AddressMoves > moveBurst {
		t.Errorf("new member chased: %d moves, want at most %d", got.AddressMoves, moveBurst)
	}
}

// TestMembersPastTheCap: members past --network-max-members are not
// admitted, by announce or by link; the ones in stay.
func TestMembersPastTheCap(t *testing.T) {
	requireTAP(t)
	b := newBus()
	capOne := func(c *Config) { c.MaxMembers = 1 }
	// v has the smallest ID of the three, so the others wait for its
	// link; give it the largest and they dial it: both paths are capped.
	ids := []string{testNodeID(t), testNodeID(t), testNodeID(t)}
	slices.Sort(ids)
	v := startMemberWith(t, b, ids[2], capOne)
	x := startMemberWith(t, b, ids[0], nil)
	y := startMemberWith(t, b, ids[1], nil)
	v.join(t, "lab", testSecret, "10.88.0.1/24")
	x.join(t, "lab", testSecret, "10.88.0.2/24")
	waitMembers(t, v, "lab", x)
	y.join(t, "lab", testSecret, "10.88.0.3/24")
	// y hears v's periodic announce and dials it (the smaller ID dials);
	// v, full, neither lists y nor takes its link.
	deadline := time.Now().Add(10 * time.Second)
	for {
		yi, _ := y.host.m.Get("lab")
		i := slices.IndexFunc(yi.Members, func(mb Member) bool { return mb.NodeID == v.host.id })
		if i >= 0 && (yi.Members[i].Attempts >= 2 || yi.Members[i].Link == LinkUp) {
			if yi.Members[i].Link == LinkUp {
				t.Error("y linked to v past v's cap")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("y never tried v: %+v", yi.Members)
		}
		time.Sleep(20 * time.Millisecond)
	}
	n := netOf(t, v, "lab")
	for i := range 10 {
		id := fakeID("zz", i)
		n.handle(&signaling.Message{From: id, Type: msgAnnounce.Name(), Body: announceAs(t, n, id, id, fmt.Sprintf("10.88.1.%d/24", i+1), false, 0)})
	}
	info, _ := v.host.m.Get("lab")
	if len(info.Members) != 1 || info.Members[0].NodeID != x.host.id || info.Members[0].Link != LinkUp {
		t.Errorf("v's members past a cap of 1: %+v", info.Members)
	}
}

// TestForgedAnnounce: an announce signed by one key holder that speaks
// for another node (its address, or a MAC not derived from the signer's
// node ID) is dropped: no member, no dial.
func TestForgedAnnounce(t *testing.T) {
	requireTAP(t)
	b := newBus()
	v := startMember(t, b)
	v.join(t, "lab", testSecret, "10.87.0.1/24")
	n := netOf(t, v, "lab")
	victimOfForgery := fakeID("zz", 1)
	forger := fakeID("zz", 2)
	n.handle(&signaling.Message{From: forger, Type: msgAnnounce.Name(), Body: announceAs(t, n, forger, victimOfForgery, "10.87.0.2/24", false, 0)})
	other, _ := jsonMarshal(announce{Address: forger, IP: "10.87.0.3/24", MAC: n.memberMAC(victimOfForgery).String(), Ready: true})
	n.handle(&signaling.Message{From: forger, Type: msgAnnounce.Name(), Body: other})
	info, _ := v.host.m.Get("lab")
	b.mu.Lock()
	dialed := b.dialed
	b.mu.Unlock()
	if len(info.Members) != 0 || dialed != 0 {
		t.Errorf("forged announces: members %+v, %d dials", info.Members, dialed)
	}
	// The same announce, honest, is taken.
	n.handle(&signaling.Message{From: forger, Type: msgAnnounce.Name(), Body: announceAs(t, n, forger, forger, "10.87.0.2/24", false, 0)})
	if info, _ := v.host.m.Get("lab"); len(info.Members) != 1 {
		t.Errorf("an honest announce: members %+v", info.Members)
	}
}
