package rendezvous_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/reachd/reachd/rendezvous"
)

const stunTestTimeout = 2 * time.Second

func startSTUN(t *testing.T, cfg rendezvous.STUNConfig) *rendezvous.STUNServer {
	t.Helper()
	s, err := rendezvous.NewSTUNServer(cfg)
	if err != nil {
		t.Fatalf("NewSTUNServer(%v): %v", cfg.Listen, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// changeRequest is a CHANGE-REQUEST attribute (RFC 5780 section 7.2).
type changeRequest struct{ ip, port bool }

func (c changeRequest) AddTo(m *stun.Message) error {
	var v [4]byte
	if c.ip {
		v[3] |= 0x04
	}
	if c.port {
		v[3] |= 0x02
	}
	m.Add(stun.AttrChangeRequest, v[:])
	return nil
}

func bindingRequest(t *testing.T, extra ...stun.Setter) *stun.Message {
	t.Helper()
	setters := append([]stun.Setter{stun.TransactionID, stun.BindingRequest}, extra...)
	m, err := stun.Build(append(setters, stun.Fingerprint)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// udpExchange sends req from c to dst and returns the answer and the
// address it came from.
func udpExchange(t *testing.T, c *net.UDPConn, dst netip.AddrPort, req *stun.Message) (*stun.Message, netip.AddrPort) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(req.Raw, dst); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(stunTestTimeout))
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("read answer from %s: %v", dst, err)
		}
		resp := new(stun.Message)
		if err := stun.Decode(buf[:n], resp); err != nil {
			t.Fatalf("decode answer: %v", err)
		}
		if resp.TransactionID != req.TransactionID {
			continue // a late answer to an earlier request
		}
		if err := stun.Fingerprint.Check(resp); err != nil {
			t.Fatalf("answer fingerprint: %v", err)
		}
		return resp, from
	}
}

func listenUDP(t *testing.T, ip string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(ip+":0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func xorMapped(t *testing.T, m *stun.Message) netip.AddrPort {
	t.Helper()
	var a stun.XORMappedAddress
	if err := a.GetFrom(m); err != nil {
		t.Fatalf("xor-mapped-address: %v", err)
	}
	return apFrom(a.IP, a.Port)
}

func apFrom(ip net.IP, port int) netip.AddrPort {
	a, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a.Unmap(), uint16(port))
}

func otherAddress(m *stun.Message) netip.AddrPort {
	var a stun.OtherAddress
	if a.GetFrom(m) != nil {
		return netip.AddrPort{}
	}
	return apFrom(a.IP, a.Port)
}

func responseOrigin(m *stun.Message) netip.AddrPort {
	var a stun.ResponseOrigin
	if a.GetFrom(m) != nil {
		return netip.AddrPort{}
	}
	return apFrom(a.IP, a.Port)
}

func errorCode(m *stun.Message) stun.ErrorCode {
	var e stun.ErrorCodeAttribute
	if e.GetFrom(m) != nil {
		return 0
	}
	return e.Code
}

func TestSTUNSingleAddress(t *testing.T) {
	s := startSTUN(t, rendezvous.STUNConfig{Listen: []string{"127.0.0.1:0"}})
	addrs := s.Addrs()
	if len(addrs) != 1 || addrs[0].Addr() != netip.MustParseAddr("127.0.0.1") || addrs[0].Port() == 0 {
		t.Fatalf("Addrs() = %v, want one 127.0.0.1 address with a port", addrs)
	}
	c := listenUDP(t, "127.0.0.1")
	local := c.LocalAddr().(*net.UDPAddr).AddrPort()

	t.Run("binding", func(t *testing.T) {
		resp, from := udpExchange(t, c, addrs[0], bindingRequest(t))
		if resp.Type != stun.BindingSuccess {
			t.Fatalf("type = %v, want binding success", resp.Type)
		}
		if got := xorMapped(t, resp); got != local {
			t.Errorf("xor-mapped-address = %v, want %v", got, local)
		}
		if from != addrs[0] || responseOrigin(resp) != addrs[0] {
			t.Errorf("answered from %v, response-origin %v, want %v", from, responseOrigin(resp), addrs[0])
		}
		if o := otherAddress(resp); o.IsValid() {
			t.Errorf("other-address = %v, want none with one address", o)
		}
	})
	t.Run("change request unsupported", func(t *testing.T) {
		resp, _ := udpExchange(t, c, addrs[0], bindingRequest(t, changeRequest{port: true}))
		if resp.Type != stun.BindingError || errorCode(resp) != stun.CodeUnknownAttribute {
			t.Fatalf("got %v code %d, want binding error 420", resp.Type, errorCode(resp))
		}
		var unknown stun.UnknownAttributes
		if err := unknown.GetFrom(resp); err != nil || len(unknown) != 1 || unknown[0] != stun.AttrChangeRequest {
			t.Errorf("unknown-attributes = %v (%v), want [CHANGE-REQUEST]", unknown, err)
		}
	})
	t.Run("garbage ignored", func(t *testing.T) {
		garbage := [][]byte{
			{},
			{0x00},
			[]byte("GET / HTTP/1.1\r\n\r\n"),
			// Valid header, length beyond the datagram.
			{0x00, 0x01, 0x00, 0x40, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
			// A Binding success: not a request.
			stun.MustBuild(stun.TransactionID, stun.BindingSuccess).Raw,
		}
		for _, g := range garbage {
			if _, err := c.WriteToUDPAddrPort(g, addrs[0]); err != nil {
				t.Fatal(err)
			}
		}
		// Answered in order on one socket: the next answer is to the
		// valid request, so nothing above was answered.
		req := bindingRequest(t)
		if _, err := c.WriteToUDPAddrPort(req.Raw, addrs[0]); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(stunTestTimeout))
		buf := make([]byte, 1500)
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		var resp stun.Message
		if err := stun.Decode(buf[:n], &resp); err != nil || resp.TransactionID != req.TransactionID {
			t.Fatalf("first answer after garbage is not for the valid request (err %v)", err)
		}
	})
}

func TestSTUNChangeRequest(t *testing.T) {
	s := startSTUN(t, rendezvous.STUNConfig{Listen: []string{"127.0.0.1:0", "127.0.0.2:0"}})
	addrs := s.Addrs()
	if len(addrs) != 2 {
		t.Fatalf("Addrs() = %v, want 2", addrs)
	}
	a, b := addrs[0], addrs[1]
	if a.Addr() != netip.MustParseAddr("127.0.0.1") || b.Addr() != netip.MustParseAddr("127.0.0.2") || a.Port() == b.Port() {
		t.Fatalf("Addrs() = %v, want 127.0.0.1 and 127.0.0.2 with different ports", addrs)
	}
	ab := netip.AddrPortFrom(a.Addr(), b.Port()) // ip1, p2
	ba := netip.AddrPortFrom(b.Addr(), a.Port()) // ip2, p1
	c := listenUDP(t, "127.0.0.1")
	local := c.LocalAddr().(*net.UDPAddr).AddrPort()

	tests := []struct {
		name      string
		to        netip.AddrPort
		change    *changeRequest
		wantFrom  netip.AddrPort
		wantOther netip.AddrPort
	}{
		{"primary", a, nil, a, b},
		{"other", b, nil, b, a},
		{"ip1 p2", ab, nil, ab, ba},
		{"ip2 p1", ba, nil, ba, ab},
		{"primary no change", a, &changeRequest{}, a, b},
		{"primary change port", a, &changeRequest{port: true}, ab, b},
		{"primary change ip", a, &changeRequest{ip: true}, ba, b},
		{"primary change both", a, &changeRequest{ip: true, port: true}, b, b},
		{"other change port", b, &changeRequest{port: true}, ba, a},
		{"other change ip", b, &changeRequest{ip: true}, ab, a},
		{"other change both", b, &changeRequest{ip: true, port: true}, a, a},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req *stun.Message
			if tt.change != nil {
				req = bindingRequest(t, *tt.change)
			} else {
				req = bindingRequest(t)
			}
			resp, from := udpExchange(t, c, tt.to, req)
			if resp.Type != stun.BindingSuccess {
				t.Fatalf("type = %v (code %d), want success", resp.Type, errorCode(resp))
			}
			if got := xorMapped(t, resp); got != local {
				t.Errorf("xor-mapped-address = %v, want %v", got, local)
			}
			if from != tt.wantFrom {
				t.Errorf("answered from %v, want %v", from, tt.wantFrom)
			}
			if got := responseOrigin(resp); got != tt.wantFrom {
				t.Errorf("response-origin = %v, want %v", got, tt.wantFrom)
			}
			if got := otherAddress(resp); got != tt.wantOther {
				t.Errorf("other-address = %v, want %v", got, tt.wantOther)
			}
		})
	}
}

// TestSTUNSameIPTwoPorts checks a server with one IP and two ports: it
// changes ports but never sends OTHER-ADDRESS (RFC 5780 forbids it to a
// server with one IP), over UDP or TCP.
func TestSTUNSameIPTwoPorts(t *testing.T) {
	s := startSTUN(t, rendezvous.STUNConfig{Listen: []string{"127.0.0.1:0", "127.0.0.1:0"}})
	addrs := s.Addrs()
	if len(addrs) != 2 || addrs[0].Addr() != addrs[1].Addr() || addrs[0].Port() == addrs[1].Port() {
		t.Fatalf("Addrs() = %v, want one IP, two ports", addrs)
	}
	c := listenUDP(t, "127.0.0.1")

	for _, dst := range addrs {
		resp, _ := udpExchange(t, c, dst, bindingRequest(t))
		if o := otherAddress(resp); resp.Type != stun.BindingSuccess || o.IsValid() {
			t.Errorf("udp to %v: %v other-address %v, want success without other-address", dst, resp.Type, o)
		}
		tc := dialTCP(t, "127.0.0.1", dst)
		tc.Write(bindingRequest(t).Raw)
		if resp := readTCPMessage(t, tc); resp.Type != stun.BindingSuccess || otherAddress(resp).IsValid() {
			t.Errorf("tcp to %v: %v other-address %v, want success without other-address", dst, resp.Type, otherAddress(resp))
		}
	}
	resp, from := udpExchange(t, c, addrs[0], bindingRequest(t, changeRequest{port: true}))
	if resp.Type != stun.BindingSuccess || from != addrs[1] || responseOrigin(resp) != addrs[1] || otherAddress(resp).IsValid() {
		t.Errorf("change port: %v from %v origin %v other %v, want success from %v, no other-address",
			resp.Type, from, responseOrigin(resp), otherAddress(resp), addrs[1])
	}
	for _, ch := range []changeRequest{{ip: true}, {ip: true, port: true}} {
		resp, _ = udpExchange(t, c, addrs[0], bindingRequest(t, ch))
		if resp.Type != stun.BindingError || errorCode(resp) != stun.CodeUnknownAttribute {
			t.Errorf("%+v: %v code %d, want error 420", ch, resp.Type, errorCode(resp))
		}
	}
}

func dialTCP(t *testing.T, local string, dst netip.AddrPort) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: stunTestTimeout}
	if local != "" {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.MustParseAddrPort(local + ":0"))
	}
	c, err := d.Dial("tcp4", dst.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(stunTestTimeout))
	return c.(*net.TCPConn)
}

func readTCPMessage(t *testing.T, c net.Conn) *stun.Message {
	t.Helper()
	hdr := make([]byte, 20)
	if _, err := io.ReadFull(c, hdr); err != nil {
		t.Fatalf("read header: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr[2:4]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatalf("read body: %v", err)
	}
	m := new(stun.Message)
	if err := stun.Decode(append(hdr, body...), m); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return m
}

// expectClosed checks that the server closes c.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(stunTestTimeout))
	var b [1]byte
	if _, err := c.Read(b[:]); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("read = %v, want the server to close the connection", err)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

func TestSTUNTCP(t *testing.T) {
	s := startSTUN(t, rendezvous.STUNConfig{Listen: []string{"127.0.0.1:0", "127.0.0.2:0"}})
	a, b := s.Addrs()[0], s.Addrs()[1]
	ba := netip.AddrPortFrom(b.Addr(), a.Port())

	t.Run("stream of requests", func(t *testing.T) {
		c := dialTCP(t, "127.0.0.1", a)
		local := c.LocalAddr().(*net.TCPAddr).AddrPort()
		var reqs []*stun.Message
		var stream []byte
		for range 3 {
			r := bindingRequest(t)
			reqs = append(reqs, r)
			stream = append(stream, r.Raw...)
		}
		// All in one write; the server must frame them itself.
		if _, err := c.Write(stream); err != nil {
			t.Fatal(err)
		}
		for i, r := range reqs {
			resp := readTCPMessage(t, c)
			if resp.TransactionID != r.TransactionID || resp.Type != stun.BindingSuccess {
				t.Fatalf("answer %d: %v for another transaction, want success for request %d", i, resp.Type, i)
			}
			if got := xorMapped(t, resp); got != local {
				t.Errorf("xor-mapped-address = %v, want %v", got, local)
			}
			if got := responseOrigin(resp); got != a {
				t.Errorf("response-origin = %v, want %v", got, a)
			}
			if got := otherAddress(resp); got != b {
				t.Errorf("other-address = %v, want %v", got, b)
			}
		}
	})
	t.Run("every address answers", func(t *testing.T) {
		for _, dst := range []netip.AddrPort{a, b, netip.AddrPortFrom(a.Addr(), b.Port()), ba} {
			c := dialTCP(t, "127.0.0.1", dst)
			c.Write(bindingRequest(t).Raw)
			if resp := readTCPMessage(t, c); resp.Type != stun.BindingSuccess || responseOrigin(resp) != dst {
				t.Errorf("%v: %v response-origin %v", dst, resp.Type, responseOrigin(resp))
			}
		}
	})
	t.Run("change request refused", func(t *testing.T) {
		// RFC 5780 section 6.1: over TCP the answer cannot come from
		// elsewhere; 420 names the attribute. The connection goes on.
		c := dialTCP(t, "127.0.0.1", a)
		for _, ch := range []changeRequest{{port: true}, {ip: true}, {ip: true, port: true}} {
			c.Write(bindingRequest(t, ch).Raw)
			resp := readTCPMessage(t, c)
			if resp.Type != stun.BindingError || errorCode(resp) != stun.CodeUnknownAttribute {
				t.Fatalf("%+v: got %v code %d, want error 420", ch, resp.Type, errorCode(resp))
			}
			var unknown stun.UnknownAttributes
			if err := unknown.GetFrom(resp); err != nil || len(unknown) != 1 || unknown[0] != stun.AttrChangeRequest {
				t.Errorf("%+v: unknown-attributes = %v (%v), want [CHANGE-REQUEST]", ch, unknown, err)
			}
		}
	})
	t.Run("garbage closes", func(t *testing.T) {
		c := dialTCP(t, "127.0.0.1", a)
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		expectClosed(t, c)
	})
	t.Run("oversized closes", func(t *testing.T) {
		c := dialTCP(t, "127.0.0.1", a)
		hdr := []byte{0x00, 0x01, 0xff, 0xfc, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
		c.Write(hdr)
		expectClosed(t, c)
	})
}

func TestSTUNTCPLimits(t *testing.T) {
	t.Run("idle timeout", func(t *testing.T) {
		s := startSTUN(t, rendezvous.STUNConfig{Listen: []string{"127.0.0.1:0"}, IdleTimeout: 100 * time.Millisecond})
		c := dialTCP(t, "", s.Addrs()[0])
		c.Write(bindingRequest(t).Raw[:10]) // half a header, then silence
		expectClosed(t, c)
	})
	t.Run("connection limit", func(t *testing.T) {
		s := startSTUN(t, rendezvous.STUNConfig{Listen: []string{"127.0.0.1:0"}, MaxTCPConns: 2})
		for range 2 {
			c := dialTCP(t, "", s.Addrs()[0])
			c.Write(bindingRequest(t).Raw)
			readTCPMessage(t, c) // accepted and served
		}
		expectClosed(t, dialTCP(t, "", s.Addrs()[0]))
	})
	t.Run("close ends connections", func(t *testing.T) {
		s, err := rendezvous.NewSTUNServer(rendezvous.STUNConfig{Listen: []string{"127.0.0.1:0"}})
		if err != nil {
			t.Fatal(err)
		}
		c := dialTCP(t, "", s.Addrs()[0])
		c.Write(bindingRequest(t).Raw)
		readTCPMessage(t, c)
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		expectClosed(t, c)
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

func TestSTUNConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		listen []string
	}{
		{"none", nil},
		{"three", []string{"127.0.0.1:0", "127.0.0.2:0", "127.0.0.3:0"}},
		{"no port", []string{"127.0.0.1"}},
		{"bad port", []string{"127.0.0.1:70000"}},
		{"hostname", []string{"localhost:0"}},
		{"two with wildcard", []string{":0", "127.0.0.2:0"}},
		{"mixed families", []string{"127.0.0.1:0", "[::1]:0"}},
		{"same fixed port", []string{"127.0.0.1:3478", "127.0.0.2:3478"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := rendezvous.NewSTUNServer(rendezvous.STUNConfig{Listen: tt.listen})
			if err == nil {
				s.Close()
				t.Fatalf("NewSTUNServer(%q) succeeded, want an error", tt.listen)
			}
		})
	}
}

func TestSTUNPortInUse(t *testing.T) {
	first := startSTUN(t, rendezvous.STUNConfig{Listen: []string{"127.0.0.1:0"}})
	_, err := rendezvous.NewSTUNServer(rendezvous.STUNConfig{Listen: []string{first.Addrs()[0].String()}})
	if err == nil {
		t.Fatal("second server on the same port succeeded, want an error")
	}
}
