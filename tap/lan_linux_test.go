//go:build linux

package tap_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/reachd/reachd/tap"
)

// lan is two TAP devices in two network namespaces, a and b, pumped to each
// other through Framers over one loopback TCP connection in the root
// namespace, as two peers' daemons would over a session.
type lan struct {
	a, b       *ns
	devA, devB *tap.Device
	ipA, ipB   netip.Addr
	ip6A, ip6B netip.Addr
	done       chan error // each Pump's result
	stop       context.CancelFunc
}

func newLAN(t testing.TB, mtu int) *lan {
	t.Helper()
	l := &lan{a: newNS(t), b: newNS(t), done: make(chan error, 2),
		ipA: netip.MustParseAddr("10.99.9.1"), ipB: netip.MustParseAddr("10.99.9.2"),
		ip6A: netip.MustParseAddr("fd00:99:9::1"), ip6B: netip.MustParseAddr("fd00:99:9::2")}
	if mtu == 0 || mtu >= tap.MinMTUIPv6 {
		l.devA = l.a.newTAP(t, tap.Config{Name: "reacha0", MTU: mtu,
			Addrs: []netip.Prefix{netip.PrefixFrom(l.ipA, 24), netip.PrefixFrom(l.ip6A, 64)}})
		l.devB = l.b.newTAP(t, tap.Config{Name: "reachb0", MTU: mtu,
			Addrs: []netip.Prefix{netip.PrefixFrom(l.ipB, 24), netip.PrefixFrom(l.ip6B, 64)}})
	} else {
		l.devA = l.a.newTAP(t, tap.Config{Name: "reacha0", Addrs: []netip.Prefix{netip.PrefixFrom(l.ipA, 24)}, MTU: mtu})
		l.devB = l.b.newTAP(t, tap.Config{Name: "reachb0", Addrs: []netip.Prefix{netip.PrefixFrom(l.ipB, 24)}, MTU: mtu})
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ca, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cb, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.stop = cancel
	go func() { l.done <- tap.Pump(ctx, l.devA, tap.NewFramer(ca)) }()
	go func() { l.done <- tap.Pump(ctx, l.devB, tap.NewFramer(cb)) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-l.done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Pump: %v", err)
			}
		}
	})
	return l
}

// ping sends ICMP (or ICMPv6) echo requests from inside n to dst until one
// is answered or ctx ends, and returns the round trip time.
func ping(ctx context.Context, n *ns, dst netip.Addr) (time.Duration, error) {
	network, echoRequest, echoReply := "ip4:icmp", byte(8), byte(0)
	if dst.Is6() {
		// The kernel fills in ICMPv6 checksums on raw sockets.
		network, echoRequest, echoReply = "ip6:ipv6-icmp", 128, 129
	}
	var c net.PacketConn
	if err := n.do(func() (err error) {
		c, err = net.ListenPacket(network, "")
		return err
	}); err != nil {
		return 0, err
	}
	defer c.Close()
	context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	id := uint16(rand.Uint32())
	buf := make([]byte, 1500)
	for seq := uint16(1); ; seq++ {
		req := []byte{echoRequest, 0, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq), 'r', 'e', 'a', 'c', 'h'}
		if dst.Is4() {
			binary.BigEndian.PutUint16(req[2:], icmpChecksum(req))
		}
		sent := time.Now()
		if _, err := c.WriteTo(req, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return 0, fmt.Errorf("ping %s: %w", dst, err)
		}
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				if ctx.Err() != nil {
					return 0, fmt.Errorf("ping %s: no reply: %w", dst, ctx.Err())
				}
				break // this one timed out: send the next
			}
			if n >= 8 && buf[0] == echoReply && binary.BigEndian.Uint16(buf[4:]) == id &&
				from.(*net.IPAddr).IP.Equal(dst.AsSlice()) {
				return time.Since(sent), nil
			}
		}
	}
}

func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// transfer sends size pseudo-random bytes by TCP from namespace a to b's
// address over the TAP LAN and returns the SHA-256 of what was sent and of
// what arrived.
func (l *lan) transfer(ctx context.Context, size int64) (sent, got [32]byte, err error) {
	var ln net.Listener
	if err := l.b.do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(l.ipB, 0).String())
		return err
	}); err != nil {
		return sent, got, err
	}
	defer ln.Close()
	recv := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			recv <- err
			return
		}
		defer c.Close()
		context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
		h := sha256.New()
		n, err := io.Copy(h, c)
		if err == nil && n != size {
			err = fmt.Errorf("received %d bytes, want %d", n, size)
		}
		h.Sum(got[:0])
		recv <- err
	}()

	var c net.Conn
	if err := l.a.do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp4", ln.Addr().String())
		return err
	}); err != nil {
		return sent, got, err
	}
	context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	h := sha256.New()
	src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{'t', 'a', 'p'}), size), h)
	_, werr := io.Copy(c, src)
	c.(*net.TCPConn).CloseWrite()
	h.Sum(sent[:0])
	rerr := <-recv
	c.Close()
	return sent, got, errors.Join(werr, rerr)
}
