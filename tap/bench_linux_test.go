//go:build linux

package tap_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"testing"

	"github.com/reachd/reachd/tap"
	"golang.org/x/sys/unix"
)

// BenchmarkTCPGoodput compares TCP goodput through two TAP devices pumped
// over loopback TCP (tap/mtu=N; switch/mtu=1500 with a Switch of one port
// on each side instead of Pump) with TCP over the loopback itself (raw), in
// the same run. Each op moves 1 MiB over one long-lived connection.
func BenchmarkTCPGoodput(b *testing.B) {
	requireTAP(b)
	b.Run("raw", func(b *testing.B) {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		benchGoodput(b, ln, func() (net.Conn, error) { return net.Dial("tcp4", ln.Addr().String()) })
	})
	for _, mtu := range []int{1500, 9000, tap.MaxMTU} {
		b.Run(fmt.Sprintf("tap/mtu=%d", mtu), func(b *testing.B) {
			l := newLAN(b, mtu)
			var ln net.Listener
			if err := l.b.do(func() (err error) {
				ln, err = net.Listen("tcp4", l.ipB.String()+":0")
				return err
			}); err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			benchGoodput(b, ln, func() (c net.Conn, err error) {
				err = l.a.do(func() (err error) {
					c, err = net.Dial("tcp4", ln.Addr().String())
					return err
				})
				return c, err
			})
		})
	}
	b.Run("switch/mtu=1500", func(b *testing.B) {
		x, y := newMember(b, "x", "10.99.12.1"), newMember(b, "y", "10.99.12.2")
		link(b, x, y)
		var ln net.Listener
		if err := y.ns.do(func() (err error) {
			ln, err = net.Listen("tcp4", y.ip.String()+":0")
			return err
		}); err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		benchGoodput(b, ln, func() (c net.Conn, err error) {
			err = x.ns.do(func() (err error) {
				c, err = net.Dial("tcp4", ln.Addr().String())
				return err
			})
			return c, err
		})
		var dropped uint64
		for _, m := range []*member{x, y} {
			for _, p := range m.sw.Ports() {
				dropped += p.Dropped
			}
		}
		b.ReportMetric(float64(dropped)/float64(b.N), "drops/op")
	})
}

func benchGoodput(b *testing.B, ln net.Listener, dial func() (net.Conn, error)) {
	const chunk = 1 << 20
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- 0
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		got <- n
	}()
	c, err := dial()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, chunk)
	b.SetBytes(chunk)
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	c.(*net.TCPConn).CloseWrite()
	n := <-got
	b.StopTimer()
	if want := int64(b.N) * chunk; n != want {
		b.Fatalf("received %d bytes, want %d", n, want)
	}
	b.ReportMetric(float64(n)*8/b.Elapsed().Seconds()/1e6, "Mbit/s")
}

// BenchmarkPumpFrame measures the cost of one 1514-byte frame through Pump,
// and its allocations: each op sends a frame out of the device (an
// AF_PACKET socket transmits it on the TAP), the peer reads it from a
// Framer over loopback TCP and sends it back, and it arrives on the device.
// That is two frames through Pump per op; allocs/frame counts every
// allocation in the process during the run, divided by frames.
func BenchmarkPumpFrame(b *testing.B) {
	requireTAP(b)
	n := newNS(b)
	dev := n.newTAP(b, tap.Config{})
	link, err := n.nl.LinkByName(dev.Name())
	if err != nil {
		b.Fatal(err)
	}
	const out, back = 0x88b5, 0x88b6 // EtherTypes of each direction
	var tx, rx *os.File
	if err := n.do(func() (err error) {
		if tx, err = packetSocket(link.Attrs().Index, out); err != nil {
			return err
		}
		rx, err = packetSocket(link.Attrs().Index, back)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	defer rx.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	ca, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	cb, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tap.Pump(ctx, dev, tap.NewFramer(ca)) }()
	defer func() { cancel(); <-done; cb.Close() }()
	peer := tap.NewFramer(cb)

	frame := ethFrame(1514, false)
	rbuf := make([]byte, tap.MaxFrameLen)
	pbuf := make([]byte, tap.MaxFrameLen)
	roundTrip := func() {
		if _, err := tx.Write(frame); err != nil {
			b.Fatal(err)
		}
		for {
			n, err := peer.ReadFrame(pbuf)
			if err != nil {
				b.Fatal(err)
			}
			if n == len(frame) && binary.BigEndian.Uint16(pbuf[12:]) == out {
				binary.BigEndian.PutUint16(pbuf[12:], back)
				if err := peer.WriteFrame(pbuf[:n]); err != nil {
					b.Fatal(err)
				}
				break
			} // else the kernel's own traffic (IPv6 ND, MLD): skip it
		}
		if n, err := rx.Read(rbuf); err != nil || n != len(frame) {
			b.Fatalf("read back %d bytes: %v", n, err)
		}
	}
	roundTrip() // warm up: buffers grown, ARP-free path primed
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.SetBytes(2 * int64(len(frame)))
	b.ResetTimer()
	for b.Loop() {
		roundTrip()
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(2*b.N), "allocs/frame")
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(2*b.N), "ns/frame")
}

// packetSocket opens an AF_PACKET socket bound to one interface and
// EtherType: it receives that EtherType's frames arriving there, and what
// is written to it is transmitted there. It is non-blocking, read and
// written through the runtime poller like the device (a blocking read
// would hold a P until sysmon notices, distorting the measure).
func packetSocket(ifindex int, etherType uint16) (*os.File, error) {
	proto := int(htons(etherType))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex, Protocol: htons(etherType)}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "packet"), nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
