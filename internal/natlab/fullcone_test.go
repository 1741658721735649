//go:build linux

package natlab_test

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reachd/reachd/internal/natlab"
)

// reuse sets SO_REUSEADDR and SO_REUSEPORT, so that a listener and a
// dialling socket share a local port, as a punching node's do.
func reuse(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = errors.Join(
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1),
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1))
	})
	return errors.Join(err, serr)
}

// TestFullCone opens a mapping from a host to one WAN address and has the
// other WAN address reach it unasked: a FullCone router delivers (TCP to a
// listener sharing the mapped socket's port, UDP to the socket; IPv4 by
// its map, IPv6 by its firewall's), where an Easy router drops. Over IPv4
// the answer leaves through the same mapping.
func TestFullCone(t *testing.T) {
	lab := natlab.New(t, natlab.WithIPv6())
	wan := lab.WAN()
	cone, easy := lab.AddRouter(natlab.FullCone), lab.AddRouter(natlab.Easy)
	coneH, easyH := cone.AddHost(), easy.AddHost()
	wan4, wan6 := lab.WANAddrs(), lab.WANAddrs6()
	tests := []struct {
		name          string
		host          *natlab.Host
		v6            bool
		wantDelivered bool
	}{
		{"fullcone", coneH, false, true},
		{"fullcone_v6", coneH, true, true},
		{"easy", easyH, false, false},
		{"easy_v6", easyH, true, false},
	}
	for _, tt := range tests {
		first, second, local := wan4[0], wan4[1], tt.host.IP()
		if tt.v6 {
			first, second, local = wan6[0], wan6[1], tt.host.IP6()
		}
		t.Run(tt.name+"/tcp", func(t *testing.T) {
			t.Parallel()
			lc := net.ListenConfig{Control: reuse}
			var ln net.Listener
			if err := tt.host.Do(func() (err error) {
				ln, err = lc.Listen(t.Context(), "tcp", netip.AddrPortFrom(local, 0).String())
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			// The mapping: a connection from the listener's port to first.
			srv := listenAny(t, wan, netip.AddrPortFrom(first, 0))
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: ln.Addr(), Control: reuse}
			var c net.Conn
			if err := tt.host.Do(func() (err error) { c, err = d.Dial("tcp", srv.Addr().String()); return err }); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			mapped := addrPort(accept(t, srv).RemoteAddr())
			if want := addrPort(ln.Addr()).Port(); mapped.Port() != want {
				t.Errorf("mapped to %s, want the local port %d kept", mapped, want)
			}

			d = net.Dialer{Timeout: 500 * time.Millisecond, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(second, 0))}
			if tt.wantDelivered {
				d.Timeout = 5 * time.Second
			}
			var c2 net.Conn
			err := wan.Do(func() (err error) { c2, err = d.Dial("tcp", mapped.String()); return err })
			if c2 != nil {
				c2.Close()
			}
			if delivered := err == nil; delivered != tt.wantDelivered {
				t.Fatalf("dial the mapping %s from %s: delivered = %v (%v), want %v", mapped, second, delivered, err, tt.wantDelivered)
			}
			if !tt.wantDelivered {
				return
			}
			if got := addrPort(accept(t, ln).RemoteAddr()).Addr(); got != second {
				t.Errorf("host accepted a connection from %s, want %s", got, second)
			}
		})
		t.Run(tt.name+"/udp", func(t *testing.T) {
			t.Parallel()
			var pc, w1, w2 *net.UDPConn
			for _, s := range []struct {
				h    *natlab.Host
				addr netip.Addr
				c    **net.UDPConn
			}{{tt.host, local, &pc}, {wan, first, &w1}, {wan, second, &w2}} {
				if err := s.h.Do(func() (err error) {
					*s.c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.addr, 0)))
					return err
				}); err != nil {
					t.Fatal(err)
				}
				defer (*s.c).Close()
			}
			buf := make([]byte, 64)
			read := func(c *net.UDPConn, timeout time.Duration) (string, netip.AddrPort, error) {
				_ = c.SetReadDeadline(time.Now().Add(timeout))
				n, from, err := c.ReadFromUDPAddrPort(buf)
				return string(buf[:n]), netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), err
			}
			if _, err := pc.WriteToUDPAddrPort([]byte("open"), addrPort(w1.LocalAddr())); err != nil {
				t.Fatal(err)
			}
			_, mapped, err := read(w1, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w2.WriteToUDPAddrPort([]byte("unasked"), mapped); err != nil {
				t.Fatal(err)
			}
			wait := 500 * time.Millisecond
			if tt.wantDelivered {
				wait = 5 * time.Second
			}
			msg, from, err := read(pc, wait)
			if delivered := err == nil; delivered != tt.wantDelivered {
				t.Fatalf("datagram from %s to the mapping %s: delivered = %v (%q, %v), want %v", second, mapped, delivered, msg, err, tt.wantDelivered)
			}
			if !tt.wantDelivered {
				return
			}
			if msg != "unasked" || from.Addr() != second {
				t.Fatalf("host got %q from %s, want unasked from %s", msg, from, second)
			}
			// The answer leaves through the same mapping.
			if _, err := pc.WriteToUDPAddrPort([]byte("answer"), from); err != nil {
				t.Fatal(err)
			}
			if msg, from, err := read(w2, 5*time.Second); err != nil || msg != "answer" || from != mapped {
				t.Errorf("wan got %q from %s (%v), want answer from %s", msg, from, err, mapped)
			}
		})
	}
}

// listenAny opens a TCP listener on addr (either family) in h's namespace.
func listenAny(t *testing.T, h *natlab.Host, addr netip.AddrPort) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() (err error) { ln, err = net.Listen("tcp", addr.String()); return err }); err != nil {
		t.Fatalf("listen %s in %s: %v", addr, h.Name(), err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
