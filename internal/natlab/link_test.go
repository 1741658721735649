//go:build linux

package natlab_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// slack is how much longer than configured a typical round trip may take:
// the forwarder's timers, the scheduler of a busy two-core machine and the
// race detector. Less than the smallest delay tested, so a delay applied
// twice fails. A round trip is never shorter than configured; a busy machine
// may make a few much longer, so the upper bounds hold for the median (and
// the best), not for every sample.
const slack = 25 * time.Millisecond

// quantile returns the q-quantile (0 to 1) of ds, which it sorts.
func quantile(ds []time.Duration, q float64) time.Duration {
	slices.Sort(ds)
	return ds[int(q*float64(len(ds)-1)+0.5)]
}

// connectRTT returns how long a TCP connect from h to addr takes: one round
// trip, SYN to SYN/ACK.
func connectRTT(t *testing.T, h *natlab.Host, addr netip.AddrPort) time.Duration {
	t.Helper()
	var rtt time.Duration
	err := h.Do(func() error {
		start := time.Now()
		c, err := net.DialTimeout("tcp4", addr.String(), 5*time.Second)
		rtt = time.Since(start)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err != nil {
		t.Fatalf("connect %s from %s: %v", addr, h.Name(), err)
	}
	return rtt
}

// acceptAll accepts and closes connections on ln until the test ends.
func acceptAll(t *testing.T, ln net.Listener) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
}

func durations(ds []time.Duration) string {
	ms := make([]string, len(ds))
	for i, d := range ds {
		ms[i] = fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprint(ms) + " ms"
}

// TestLinkDelay connects hosts across routers with delayed links: a TCP
// connect takes twice the sum of both routers' one-way delays, no less and
// not much more.
func TestLinkDelay(t *testing.T) {
	lab := natlab.New(t)
	slow := lab.AddRouter(natlab.Public, natlab.Link{Delay: 50 * time.Millisecond}).AddHost()
	plain := lab.AddRouter(natlab.Public).AddHost()
	nat := lab.AddRouter(natlab.Easy, natlab.Link{Delay: 20 * time.Millisecond}).AddHost()
	zero := lab.AddRouter(natlab.Public, natlab.Link{}).AddHost()

	tests := []struct {
		name     string
		from, to *natlab.Host
		want     time.Duration // the round trip the links add
	}{
		{"50ms_to_plain", slow, plain, 100 * time.Millisecond},
		{"plain_to_50ms", plain, slow, 100 * time.Millisecond},
		{"nat_20ms_to_plain", nat, plain, 40 * time.Millisecond},
		{"nat_20ms_to_50ms", nat, slow, 140 * time.Millisecond},
		{"zero_link_to_plain", zero, plain, 0},
		{"plain_to_plain_through_wan", plain, lab.WAN(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := listen(t, tt.to, netip.AddrPortFrom(tt.to.IP(), 0).String())
			acceptAll(t, ln)
			addr := addrPort(ln.Addr())
			connectRTT(t, tt.from, addr) // resolves ARP on the way, across the links
			var rtts []time.Duration
			for range 7 {
				rtts = append(rtts, connectRTT(t, tt.from, addr))
			}
			t.Logf("want %v: connects took %s", tt.want, durations(rtts))
			for _, rtt := range rtts {
				if rtt < tt.want {
					t.Errorf("connect took %v, want at least %v", rtt, tt.want)
				}
			}
			if best, med := quantile(rtts, 0), quantile(rtts, 0.5); best > tt.want+slack || med > tt.want+slack {
				t.Errorf("connects took %v at best, %v in the median, want at most %v", best, med, tt.want+slack)
			}
		})
	}
}

// udpEcho echoes every datagram on a UDP socket in h until the test ends,
// and returns its address.
func udpEcho(t *testing.T, h *natlab.Host) netip.AddrPort {
	t.Helper()
	pc := listenUDP(t, h)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return addrPort(pc.LocalAddr())
}

func listenUDP(t *testing.T, h *natlab.Host) *net.UDPConn {
	t.Helper()
	var pc *net.UDPConn
	err := h.Do(func() (err error) {
		pc, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(h.IP(), 0)))
		if err != nil {
			return err
		}
		// Room for every datagram a test sends, beyond rmem_max: what
		// is lost is lost on the link, not in this socket.
		rc, err := pc.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		err = rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 8<<20)
		})
		return errors.Join(err, serr)
	})
	if err != nil {
		t.Fatalf("listen udp in %s: %v", h.Name(), err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// dialUDP returns a UDP socket in h connected to addr.
func dialUDP(t *testing.T, h *natlab.Host, addr netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := h.Do(func() (err error) { c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(addr)); return err }); err != nil {
		t.Fatalf("dial udp %s from %s: %v", addr, h.Name(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echoRTTs sends n datagrams one at a time to an echo server and returns
// each round trip.
func echoRTTs(t *testing.T, c *net.UDPConn, n int) []time.Duration {
	t.Helper()
	var rtts []time.Duration
	buf := make([]byte, 64)
	for i := range n {
		msg := binary.BigEndian.AppendUint32(nil, uint32(i))
		start := time.Now()
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			k, err := c.Read(buf)
			if err != nil {
				t.Fatalf("echo %d: %v", i, err)
			}
			if k == 4 && binary.BigEndian.Uint32(buf) == uint32(i) {
				break
			}
		}
		rtts = append(rtts, time.Since(start))
	}
	return rtts
}

// TestLinkJitter measures the round trips of spaced-out datagrams through a
// link with 50ms ±20ms one-way: each is the sum of two delays from 30 to
// 70ms, and they spread over much of that range.
func TestLinkJitter(t *testing.T) {
	lab := natlab.New(t)
	link := natlab.Link{Delay: 50 * time.Millisecond, Jitter: 20 * time.Millisecond}
	a := lab.AddRouter(natlab.Public, link).AddHost()
	b := lab.AddRouter(natlab.Public).AddHost()
	c := dialUDP(t, a, udpEcho(t, b))
	echoRTTs(t, c, 1) // ARP
	rtts := echoRTTs(t, c, 40)
	lo, hi := 2*(link.Delay-link.Jitter), 2*(link.Delay+link.Jitter)
	for _, rtt := range rtts {
		if rtt < lo {
			t.Errorf("round trip %v, want at least %v", rtt, lo)
		}
	}
	p10, med, p90 := quantile(rtts, 0.1), quantile(rtts, 0.5), quantile(rtts, 0.9)
	t.Logf("%s: 40 round trips: min %v, p10 %v, median %v, p90 %v, max %v", link,
		rtts[0], p10, med, p90, rtts[len(rtts)-1])
	if p90 > hi+slack {
		t.Errorf("p90 round trip %v, want at most %v", p90, hi+slack)
	}
	// The sum of two delays uniform in 30 to 70ms: p10 is about 78ms, p90
	// about 122ms. Without jitter they would be within a few ms.
	if p90-p10 < 20*time.Millisecond {
		t.Errorf("round trips from p10 %v to p90 %v, want at least 20ms apart: %s", p10, p90, durations(rtts))
	}
}

// sendBurst sends n numbered datagrams from c, a few at a time, and returns
// the numbers that arrived at pc, in arrival order.
func sendBurst(t *testing.T, c *net.UDPConn, pc *net.UDPConn, n int, idle time.Duration) []uint32 {
	t.Helper()
	got := make(chan []uint32, 1)
	go func() {
		var seqs []uint32
		buf := make([]byte, 64)
		for {
			_ = pc.SetReadDeadline(time.Now().Add(idle))
			k, err := pc.Read(buf)
			if err != nil {
				got <- seqs
				return
			}
			if k == 4 {
				seqs = append(seqs, binary.BigEndian.Uint32(buf))
			}
		}
	}()
	for i := range n {
		if _, err := c.Write(binary.BigEndian.AppendUint32(nil, uint32(i))); err != nil {
			t.Fatal(err)
		}
		if i%20 == 19 {
			time.Sleep(time.Millisecond) // keep queues short: loss is the link's alone
		}
	}
	return <-got
}

// TestLinkLoss sends datagrams through links with loss: the share lost is
// within binomial bounds of the configured rate, and nothing is lost on a
// link without.
func TestLinkLoss(t *testing.T) {
	lab := natlab.New(t)
	dst := lab.AddRouter(natlab.Public).AddHost()
	pc := listenUDP(t, dst)
	to := addrPort(pc.LocalAddr())
	const n = 2000
	for _, loss := range []float64{0, 0.2} {
		t.Run(fmt.Sprintf("loss_%g", loss), func(t *testing.T) {
			r := lab.AddRouter(natlab.Public, natlab.Link{Loss: loss})
			src := r.AddHost()
			c := dialUDP(t, src, to)
			// Resolve ARP on the way before counting.
			if err := src.Do(func() error {
				c, err := net.DialTimeout("tcp4", netip.AddrPortFrom(dst.IP(), 9).String(), 5*time.Second)
				if err == nil {
					c.Close()
				}
				if errors.Is(err, syscall.ECONNREFUSED) {
					return nil // reset by dst, which has no port 9: the path works
				}
				return err
			}); err != nil {
				t.Fatalf("warm up: %v", err)
			}
			before := r.LinkStats()
			seqs := sendBurst(t, c, pc, n, 500*time.Millisecond)
			dropped := r.LinkStats().Lost - before.Lost
			lost := n - len(seqs)
			// Five standard deviations either side of the mean.
			mean, sd := n*loss, math.Sqrt(n*loss*(1-loss))
			lo, hi := int(math.Floor(mean-5*sd)), int(math.Ceil(mean+5*sd))
			t.Logf("loss %g: %d of %d datagrams lost (%.1f%%), want %d to %d", loss, lost, n, 100*float64(lost)/n, lo, hi)
			if lost < lo || lost > hi {
				t.Errorf("%d of %d datagrams lost, want %d to %d", lost, n, lo, hi)
			}
			// The link may have dropped other frames too, but no datagram
			// may be lost elsewhere.
			if uint64(lost) > dropped {
				t.Errorf("%d datagrams lost, but the link dropped only %d frames", lost, dropped)
			}
		})
	}
}

// TestLinkOrder sends bursts of datagrams through a link whose jitter
// (±20ms) far exceeds their spacing: they arrive in order, unless the link
// allows reordering. It also changes a router's link with SetLink.
func TestLinkOrder(t *testing.T) {
	lab := natlab.New(t)
	dst := lab.AddRouter(natlab.Public).AddHost()
	r := lab.AddRouter(natlab.Public, natlab.Link{})
	src := r.AddHost()
	pc := listenUDP(t, dst)
	c := dialUDP(t, src, addrPort(pc.LocalAddr()))
	// Warm up (ARP, the forwarder): a loaded machine may take more than
	// one try's wait before the first datagram gets through.
	for try := 1; len(sendBurst(t, c, pc, 1, 200*time.Millisecond)) != 1; try++ {
		if try == 10 {
			t.Fatal("warm-up datagram: none arrived in 10 tries")
		}
	}
	const n = 300
	for _, reorder := range []bool{false, true} {
		t.Run(fmt.Sprintf("reorder_%v", reorder), func(t *testing.T) {
			link := natlab.Link{Delay: 20 * time.Millisecond, Jitter: 20 * time.Millisecond, Reorder: reorder}
			r.SetLink(link)
			seqs := sendBurst(t, c, pc, n, 500*time.Millisecond)
			if len(seqs) != n {
				t.Fatalf("%d of %d datagrams arrived", len(seqs), n)
			}
			overtaken := 0
			for i := 1; i < len(seqs); i++ {
				if seqs[i] < seqs[i-1] {
					overtaken++
				}
			}
			t.Logf("%s: %d of %d datagrams arrived before one sent earlier", link, overtaken, n)
			if reorder && overtaken == 0 {
				t.Errorf("no datagram overtook another, want some with Reorder")
			}
			if !reorder && overtaken > 0 {
				t.Errorf("%d datagrams overtook others, want none without Reorder", overtaken)
			}
		})
	}
	r.SetLink(natlab.Link{})
	ln := listen(t, dst, netip.AddrPortFrom(dst.IP(), 0).String())
	acceptAll(t, ln)
	var rtts []time.Duration
	for range 3 {
		rtts = append(rtts, connectRTT(t, src, addrPort(ln.Addr())))
	}
	if best := quantile(rtts, 0); best > slack {
		t.Errorf("after SetLink(Link{}) connects took %s, want one under %v", durations(rtts), slack)
	}
}
