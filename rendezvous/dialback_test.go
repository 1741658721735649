package rendezvous_test

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/reachd/reachd/natprobe"
	"github.com/reachd/reachd/rendezvous"
)

// dialBackTCP sends one dial-back request over a TCP connection to srv
// and returns the decoded response.
func dialBackTCP(t *testing.T, c net.Conn, req natprobe.DialBackRequest) *stun.Message {
	t.Helper()
	m, err := stun.Build(stun.TransactionID, stun.BindingRequest, req, stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(m.Raw); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	if _, err := io.ReadFull(c, buf[:20]); err != nil {
		t.Fatalf("read response: %v", err)
	}
	n := int(binary.BigEndian.Uint16(buf[2:4]))
	if _, err := io.ReadFull(c, buf[20:20+n]); err != nil {
		t.Fatalf("read response: %v", err)
	}
	resp := new(stun.Message)
	if err := stun.Decode(buf[:20+n], resp); err != nil {
		t.Fatal(err)
	}
	if resp.TransactionID != m.TransactionID {
		t.Fatal("response to another transaction")
	}
	return resp
}

func dialBackError(t *testing.T, m *stun.Message) stun.ErrorCode {
	t.Helper()
	if m.Type != stun.BindingError {
		t.Fatalf("response %v, want a binding error", m.Type)
	}
	var e stun.ErrorCodeAttribute
	if err := e.GetFrom(m); err != nil {
		t.Fatal(err)
	}
	return e.Code
}

// preambleListener answers the first four bytes of every connection with
// "O", like a reachd node that expects the session.
func preambleListener(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			var b [4]byte
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, b[:]); err == nil && string(b[:]) == natprobe.DialBackMagic {
				c.Write([]byte("O"))
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

func TestDialBack(t *testing.T) {
	srv, err := rendezvous.NewSTUNServer(rendezvous.STUNConfig{Listen: []string{"127.0.0.1:0"}, DialBackBurst: 3, DialBackEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	stunAddr := srv.Addrs()[0].String()
	listener := preambleListener(t)
	ln, _ := net.Listen("tcp4", "127.0.0.1:0")
	closed := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	data := []byte("RCHD\x02session and node id")

	c, err := net.Dial("tcp4", stunAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	result := func(t *testing.T, m *stun.Message) natprobe.DialBackResult {
		t.Helper()
		if m.Type != stun.BindingSuccess {
			t.Fatalf("response %v, want success", m.Type)
		}
		var r natprobe.DialBackResult
		if err := r.GetFrom(m); err != nil {
			t.Fatalf("no dial-back result: %v", err)
		}
		var xa stun.XORMappedAddress
		if err := xa.GetFrom(m); err != nil || !xa.IP.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("mapped address %v (%v), want the source", xa, err)
		}
		return r
	}

	t.Run("reachable", func(t *testing.T) {
		r := result(t, dialBackTCP(t, c, natprobe.DialBackRequest{Target: listener, Data: data}))
		if r.Outcome != natprobe.DialBackAnswered || string(r.Answer) != "O" {
			t.Errorf("result %+v, want answered with O", r)
		}
	})
	t.Run("unspecified means the source", func(t *testing.T) {
		target := netip.AddrPortFrom(netip.IPv4Unspecified(), listener.Port())
		r := result(t, dialBackTCP(t, c, natprobe.DialBackRequest{Target: target, Data: data}))
		if r.Outcome != natprobe.DialBackAnswered {
			t.Errorf("result %+v, want answered", r)
		}
	})
	t.Run("closed port", func(t *testing.T) {
		r := result(t, dialBackTCP(t, c, natprobe.DialBackRequest{Target: closed, Data: data}))
		if r.Outcome != natprobe.DialBackRefused {
			t.Errorf("result %+v, want refused", r)
		}
	})
	t.Run("another ip is forbidden", func(t *testing.T) {
		other := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), listener.Port())
		if code := dialBackError(t, dialBackTCP(t, c, natprobe.DialBackRequest{Target: other, Data: data})); code != stun.CodeForbidden {
			t.Errorf("code %d, want 403", code)
		}
	})
	t.Run("rate limited", func(t *testing.T) {
		// The burst of 3 went to the first three; the 403 did not count.
		if code := dialBackError(t, dialBackTCP(t, c, natprobe.DialBackRequest{Target: listener, Data: data})); code != natprobe.CodeRateLimited {
			t.Errorf("code %d, want 429", code)
		}
	})
	t.Run("not over udp", func(t *testing.T) {
		uc, err := net.Dial("udp4", stunAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer uc.Close()
		m, _ := stun.Build(stun.TransactionID, stun.BindingRequest, natprobe.DialBackRequest{Target: listener, Data: data}, stun.Fingerprint)
		uc.SetDeadline(time.Now().Add(5 * time.Second))
		uc.Write(m.Raw)
		buf := make([]byte, 1500)
		n, err := uc.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		resp := new(stun.Message)
		if err := stun.Decode(buf[:n], resp); err != nil {
			t.Fatal(err)
		}
		if code := dialBackError(t, resp); code != stun.CodeBadRequest {
			t.Errorf("code %d, want 400", code)
		}
	})
	t.Run("plain binding still works", func(t *testing.T) {
		m, _ := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
		c.Write(m.Raw)
		buf := make([]byte, 1500)
		if _, err := io.ReadFull(c, buf[:20]); err != nil {
			t.Fatal(err)
		}
		n := int(binary.BigEndian.Uint16(buf[2:4]))
		io.ReadFull(c, buf[20:20+n])
		resp := new(stun.Message)
		if err := stun.Decode(buf[:20+n], resp); err != nil || resp.Type != stun.BindingSuccess || resp.Contains(natprobe.AttrDialBackResult) {
			t.Errorf("response %v (%v), want a plain success", resp, err)
		}
	})
}
