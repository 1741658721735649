package rendezvous_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/reachd/reachd/rendezvous"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// The peer dials the relayed address; the client accepts the connection
// (RFC 6062 section 4.3, the flow reachd's relay strategy uses).
func TestTURNTCPAllocationInbound(t *testing.T) {
	s := rendezvoustest.Start(t)
	client := newTURNClient(t, s.TURNAddr(), rendezvoustest.TURNUser, rendezvoustest.TURNPassword)
	alloc, err := client.AllocateTCP() // pion returns an internal type: no helper
	if err != nil {
		t.Fatalf("allocate tcp: %v", err)
	}
	t.Cleanup(func() { alloc.Close() })

	relayed := alloc.Addr().(*net.TCPAddr)
	if got, want := relayed.AddrPort().Addr(), s.TURNAddr().Addr(); got != want {
		t.Errorf("relayed address %s, want IP %s", relayed, want)
	}
	// The peer's port is not known in advance; permissions are per IP.
	if err := client.CreatePermission(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatalf("create permission: %v", err)
	}
	peer, err := net.DialTimeout("tcp", relayed.String(), waitLimit)
	if err != nil {
		t.Fatalf("peer dial relayed address: %v", err)
	}
	defer peer.Close()

	if err := alloc.SetDeadline(time.Now().Add(waitLimit)); err != nil {
		t.Fatal(err)
	}
	conn, err := alloc.AcceptTCP()
	if err != nil {
		t.Fatalf("accept relayed connection: %v", err)
	}
	defer conn.Close()
	if got, want := conn.RemoteAddr().String(), peer.LocalAddr().String(); got != want {
		t.Errorf("relayed connection from %s, want the peer %s", got, want)
	}
	exchange(t, conn, peer)
}

// The client asks the relay to connect to a listening peer (RFC 6062
// section 4.3, Connect), with a PublicIP that is not a local address as
// behind a 1:1 NAT: the relay still dials from its local address.
func TestTURNTCPAllocationOutbound(t *testing.T) {
	public := netip.MustParseAddr("192.0.2.1") // TEST-NET-1: not local
	s := rendezvoustest.Start(t, rendezvoustest.WithPublicIP(public))
	client := newTURNClient(t, s.TURNAddr(), rendezvoustest.TURNUser, rendezvoustest.TURNPassword)
	alloc, err := client.AllocateTCP() // pion returns an internal type: no helper
	if err != nil {
		t.Fatalf("allocate tcp: %v", err)
	}
	t.Cleanup(func() { alloc.Close() })
	relayed := alloc.Addr().(*net.TCPAddr).AddrPort()
	if relayed.Addr() != public {
		t.Errorf("relayed address %s, want IP %s", relayed, public)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := alloc.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatalf("dial peer through relay: %v", err)
	}
	defer conn.Close()
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	// The peer sees the relay's local address on the relayed port.
	from := peer.RemoteAddr().(*net.TCPAddr).AddrPort()
	if want := netip.AddrPortFrom(s.TURNAddr().Addr(), relayed.Port()); from != want {
		t.Errorf("peer sees the relay as %s, want %s", from, want)
	}
	exchange(t, conn, peer)
}

// A UDP allocation over a UDP control connection relays datagrams both ways.
func TestTURNUDPAllocation(t *testing.T) {
	s := rendezvoustest.Start(t)
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: s.TURNAddr().String(),
		TURNServerAddr: s.TURNAddr().String(),
		Conn:           conn,
		Username:       rendezvoustest.TURNUser,
		Password:       rendezvoustest.TURNPassword,
		Realm:          rendezvous.DefaultRealm,
		LoggerFactory:  quietLogs(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := client.Allocate()
	if err != nil {
		t.Fatalf("allocate udp: %v", err)
	}
	defer relay.Close()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()

	// WriteTo creates the permission for the peer first.
	if _, err := relay.WriteTo([]byte("to peer"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	if err := peer.SetReadDeadline(time.Now().Add(waitLimit)); err != nil {
		t.Fatal(err)
	}
	n, from, err := peer.ReadFrom(buf)
	if err != nil {
		t.Fatalf("peer read: %v", err)
	}
	if string(buf[:n]) != "to peer" || from.String() != relay.LocalAddr().String() {
		t.Fatalf("peer got %q from %s, want %q from the relayed address %s", buf[:n], from, "to peer", relay.LocalAddr())
	}
	if _, err := peer.WriteTo([]byte("to client"), from); err != nil {
		t.Fatal(err)
	}
	if err := relay.SetReadDeadline(time.Now().Add(waitLimit)); err != nil {
		t.Fatal(err)
	}
	n, from, err = relay.ReadFrom(buf)
	if err != nil {
		t.Fatalf("client read: %v", err)
	}
	if string(buf[:n]) != "to client" || from.String() != peer.LocalAddr().String() {
		t.Fatalf("client got %q from %s, want %q from the peer %s", buf[:n], from, "to client", peer.LocalAddr())
	}
}

func TestTURNAuth(t *testing.T) {
	s := rendezvoustest.Start(t, rendezvoustest.WithTURNUser("other", "pass"))
	tests := []struct {
		name, user, pass string
		ok               bool
	}{
		{name: "default user", user: rendezvoustest.TURNUser, pass: rendezvoustest.TURNPassword, ok: true},
		{name: "added user", user: "other", pass: "pass", ok: true},
		{name: "wrong password", user: rendezvoustest.TURNUser, pass: "wrong"},
		{name: "unknown user", user: "nobody", pass: rendezvoustest.TURNPassword},
		{name: "password of another user", user: "other", pass: rendezvoustest.TURNPassword},
	}
	for _, tt := range tests {
		for _, proto := range []string{"tcp", "udp"} {
			t.Run(tt.name+" "+proto, func(t *testing.T) {
				var alloc io.Closer
				var err error
				if proto == "tcp" {
					alloc, err = newTURNClient(t, s.TURNAddr(), tt.user, tt.pass).AllocateTCP()
				} else {
					alloc, err = newTURNClientUDP(t, s.TURNAddr(), tt.user, tt.pass).Allocate()
				}
				if !tt.ok {
					if err == nil {
						alloc.Close()
						t.Fatal("allocation granted with wrong credentials")
					}
					// RFC 8489 section 9.2.4; pion alone says 400 (see
					// turnpatch.go).
					if !strings.Contains(err.Error(), "error 401") {
						t.Errorf("error %q, want a 401 error response", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("allocate: %v", err)
				}
				alloc.Close()
			})
		}
	}
}

// newTURNClientUDP connects a pion TURN client to addr over UDP.
func newTURNClientUDP(t *testing.T, addr netip.AddrPort, user, pass string) *turn.Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr.String(),
		TURNServerAddr: addr.String(),
		Conn:           conn,
		Username:       user,
		Password:       pass,
		Realm:          rendezvous.DefaultRealm,
		LoggerFactory:  quietLogs(),
	})
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		conn.Close()
	})
	return client
}

// TestTURNCoturnClient runs coturn's turnutils_uclient -T against the
// embedded server: two clients take TCP allocations (RFC 6062), connect to
// each other's relayed address and echo messages over the relayed
// connections, each of which needs a ConnectionBind that coturn's client
// checks (MESSAGE-INTEGRITY, see turnpatch.go).
func TestTURNCoturnClient(t *testing.T) {
	bin := requireTool(t, "turnutils_uclient", "coturn")
	s := rendezvoustest.Start(t)
	a := s.TURNAddr()
	const msgs = 5
	_, out := runTool(t, bin, "-T", "-n", strconv.Itoa(msgs), "-z", "5",
		"-u", rendezvoustest.TURNUser, "-w", rendezvoustest.TURNPassword,
		"-p", strconv.Itoa(int(a.Port())), a.Addr().String())
	t.Logf("%s:\n%s", bin, out)
	for _, bad := range []string{"Wrong integrity", "cannot BIND", "Cannot complete Allocation", "ERROR"} {
		if strings.Contains(out, bad) {
			t.Errorf("turnutils_uclient says %q", bad)
		}
	}
	for _, want := range []string{
		fmt.Sprintf("tot_send_msgs=%d, tot_recv_msgs=%d", 2*msgs, 2*msgs),
		"Total lost packets 0 (0.000000%)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("turnutils_uclient output lacks %q", want)
		}
	}
}

// newTURNClient connects a pion TURN client to addr over TCP, the control
// connection RFC 6062 requires.
func newTURNClient(t *testing.T, addr netip.AddrPort, user, pass string) *turn.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr.String(), waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr.String(),
		TURNServerAddr: addr.String(),
		Conn:           turn.NewSTUNConn(conn),
		Username:       user,
		Password:       pass,
		Realm:          rendezvous.DefaultRealm,
		LoggerFactory:  quietLogs(),
	})
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		conn.Close()
	})
	return client
}

func quietLogs() logging.LoggerFactory {
	logs := logging.NewDefaultLoggerFactory()
	logs.DefaultLogLevel = logging.LogLevelDisabled
	return logs
}

// exchange sends random bytes both ways between the two ends of a relayed
// connection and checks they arrive intact.
func exchange(t *testing.T, a, b net.Conn) {
	t.Helper()
	for _, dir := range []struct {
		name     string
		from, to net.Conn
	}{{"client to peer", a, b}, {"peer to client", b, a}} {
		msg := make([]byte, 256<<10)
		rand.Read(msg)
		werr := make(chan error, 1)
		go func() {
			_, err := dir.from.Write(msg)
			werr <- err
		}()
		if err := dir.to.SetReadDeadline(time.Now().Add(waitLimit)); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(dir.to, got); err != nil {
			t.Fatalf("%s: read: %v", dir.name, err)
		}
		if err := <-werr; err != nil {
			t.Fatalf("%s: write: %v", dir.name, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("%s: bytes differ", dir.name)
		}
	}
}

// TestTURNBindingMappedAddress checks that the TURN address, which answers
// Binding requests when it shares the primary STUN address or there is no
// STUN server, sends MAPPED-ADDRESS beside XOR-MAPPED-ADDRESS too (pion
// alone does not; see turnpatch.go).
func TestTURNBindingMappedAddress(t *testing.T) {
	s, err := rendezvous.New(rendezvous.Config{MQTTListen: "127.0.0.1:0", TURNListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if got := s.STUNAddrs(); len(got) != 1 || got[0] != s.TURNAddr() {
		t.Fatalf("STUNAddrs() = %v, want TURN's %v alone", got, s.TURNAddr())
	}
	check := func(t *testing.T, resp *stun.Message, local netip.AddrPort) {
		t.Helper()
		if resp.Type != stun.BindingSuccess {
			t.Fatalf("got %v, want binding success", resp.Type)
		}
		if x, m := xorMapped(t, resp), mappedAddress(resp); x != local || m != local {
			t.Errorf("xor-mapped-address %v mapped-address %v, want both %v", x, m, local)
		}
		if err := stun.Fingerprint.Check(resp); err != nil {
			t.Errorf("fingerprint: %v", err)
		}
	}
	t.Run("udp", func(t *testing.T) {
		c := listenUDP(t, "127.0.0.1")
		resp, _ := udpExchange(t, c, s.TURNAddr(), bindingRequest(t))
		check(t, resp, c.LocalAddr().(*net.UDPAddr).AddrPort())
	})
	t.Run("tcp", func(t *testing.T) {
		c := dialTCP(t, "127.0.0.1", s.TURNAddr())
		c.Write(bindingRequest(t).Raw)
		check(t, readTCPMessage(t, c), c.LocalAddr().(*net.TCPAddr).AddrPort())
	})
}
