//go:build linux

package tap_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/tap"
	"golang.org/x/sys/unix"
)

// TestPumpAcrossNamespaces: two TAP devices in two namespaces, pumped over
// loopback TCP with Framers, form one Ethernet: ARP and ping work across,
// so do IPv6 neighbour discovery and ping6, and 64 MiB sent by TCP between
// the TAP addresses arrive intact.
func TestPumpAcrossNamespaces(t *testing.T) {
	requireTAP(t)
	l := newLAN(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("ping", func(t *testing.T) {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		rtt, err := ping(pctx, l.a, l.ipB)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("ping a -> b: %v", rtt)
		if rtt, err = ping(pctx, l.b, l.ipA); err != nil {
			t.Fatal(err)
		}
		t.Logf("ping b -> a: %v", rtt)
	})
	t.Run("ping6", func(t *testing.T) {
		// Neighbour discovery (multicast frames) must cross the pumps; the
		// first tries may fail while duplicate address detection runs.
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		rtt, err := ping(pctx, l.a, l.ip6B)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("ping6 a -> b: %v", rtt)
	})
	t.Run("tcp 64 MiB", func(t *testing.T) {
		const size = 64 << 20
		start := time.Now()
		sent, got, err := l.transfer(ctx, size)
		if err != nil {
			t.Fatal(err)
		}
		if sent != got {
			t.Fatalf("SHA-256 sent %x, received %x", sent, got)
		}
		d := time.Since(start)
		t.Logf("64 MiB intact in %v (%.0f Mbit/s); a: %+v", d, size*8/d.Seconds()/1e6, l.devA.Stats())
	})
	if s := l.devA.Stats(); s.FramesOut == 0 || s.FramesIn == 0 || s.DroppedTooLarge != 0 {
		t.Errorf("device a stats %+v", s)
	}
}

// pipePump pumps dev over one end of a net.Pipe and returns a Framer on the
// other end for the test to play the peer, and Pump's result.
func pipePump(ctx context.Context, dev *tap.Device) (*tap.Framer, net.Conn, <-chan error) {
	ours, theirs := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- tap.Pump(ctx, dev, tap.NewFramer(ours)) }()
	return tap.NewFramer(theirs), theirs, done
}

// drain reads and discards what the device sends (IPv6 router
// solicitations and the like), so the pipe never blocks Pump.
func drain(f *tap.Framer) {
	buf := make([]byte, tap.MaxFrameLen)
	for {
		if _, err := f.ReadFrame(buf); err != nil && !errors.Is(err, tap.ErrFrameTooLarge) {
			return
		}
	}
}

func ethFrame(size int, vlan bool) []byte {
	f := make([]byte, size)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1})
	if vlan {
		copy(f[12:], []byte{0x81, 0x00, 0x00, 0x07, 0x88, 0xb5})
	} else {
		copy(f[12:], []byte{0x88, 0xb5}) // local experimental EtherType
	}
	return f
}

// TestPumpDropsBadFrames: frames from the peer longer than MTU+14 (+4 with a
// VLAN tag) or shorter than an Ethernet header are dropped and counted while
// the frames around them pass; a malformed length prefix ends Pump with an
// error naming it; the device stays.
func TestPumpDropsBadFrames(t *testing.T) {
	requireTAP(t)
	n := newNS(t)
	const mtu = 1400
	dev := n.newTAP(t, tap.Config{MTU: mtu})
	peer, raw, done := pipePump(context.Background(), dev)
	defer raw.Close()
	go drain(peer)

	frames := []struct {
		frame []byte
		what  string
	}{
		{ethFrame(mtu+14, false), "full size"},
		{ethFrame(mtu+15, false), "one byte over"},
		{ethFrame(mtu+18, true), "full size with VLAN tag"},
		{ethFrame(mtu+19, true), "one byte over with VLAN tag"},
		{ethFrame(9000, false), "jumbo"},
		{make([]byte, 10), "runt"},
		{ethFrame(60, false), "minimum size"},
	}
	for _, f := range frames {
		if err := peer.WriteFrame(f.frame); err != nil {
			t.Fatalf("write %s frame: %v", f.what, err)
		}
	}
	if _, err := raw.Write([]byte{0, 1, 0x11, 0x70}); err != nil { // 70000
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, tap.ErrMalformedFrame) || !strings.Contains(err.Error(), "70000") {
			t.Fatalf("Pump = %v, want a malformed prefix error naming 70000", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Pump did not end on a malformed prefix")
	}
	s := dev.Stats()
	if s.FramesIn != 3 || s.DroppedTooLarge != 3 || s.DroppedInvalid != 1 {
		t.Errorf("stats %+v: want 3 in, 3 too large, 1 invalid", s)
	}
	if _, err := n.nl.LinkByName(dev.Name()); err != nil {
		t.Errorf("device gone after Pump: %v", err)
	}
}

// TestPumpDropsOversizedFromDevice: a frame the device emits beyond the MTU
// it was created with (someone raised the MTU behind our back) is dropped
// and counted, and the next frame passes.
func TestPumpDropsOversizedFromDevice(t *testing.T) {
	requireTAP(t)
	n := newNS(t)
	dev := n.newTAP(t, tap.Config{MTU: 1500})
	link, err := n.nl.LinkByName(dev.Name())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.nl.LinkSetMTU(link, 3000); err != nil {
		t.Fatal(err)
	}
	var fd int
	if err := n.do(func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	send := func(frame []byte) {
		t.Helper()
		to := &unix.SockaddrLinklayer{Ifindex: link.Attrs().Index, Protocol: 0xb588}
		if err := unix.Sendto(fd, frame, 0, to); err != nil {
			t.Fatalf("send %d-byte frame: %v", len(frame), err)
		}
	}

	peer, raw, done := pipePump(context.Background(), dev)
	send(ethFrame(2000, false))
	send(ethFrame(1514, false))
	buf := make([]byte, tap.MaxFrameLen)
	for {
		raw.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := peer.ReadFrame(buf)
		if err != nil {
			t.Fatalf("no frame from the device: %v", err)
		}
		if n == 1514 && buf[12] == 0x88 && buf[13] == 0xb5 {
			break // ours; others are the kernel's own (IPv6 ND, MLD)
		}
		if n > 1514 {
			t.Fatalf("a %d-byte frame passed", n)
		}
	}
	if s := dev.Stats(); s.DroppedTooLarge != 1 {
		t.Errorf("stats %+v: want 1 too large", s)
	}
	raw.Close()
	if err := <-done; err != nil {
		t.Errorf("Pump after the peer closed: %v", err)
	}
}

// TestPumpEnds: Pump ends cleanly (nil) when the peer ends or the device is
// closed, with ctx.Err() when cancelled; it never closes the device, which
// can be pumped again afterwards.
func TestPumpEnds(t *testing.T) {
	requireTAP(t)
	n := newNS(t)
	before := runtime.NumGoroutine()
	defer func() {
		// Pump's goroutines are gone when it returns; allow the runtime a
		// moment for the test's own helpers (drain) to see their pipes close.
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if after := runtime.NumGoroutine(); after > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines before, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
		}
	}()
	wait := func(t *testing.T, done <-chan error) error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Pump did not end")
			return nil
		}
	}
	t.Run("peer ends", func(t *testing.T) {
		dev := n.newTAP(t, tap.Config{})
		_, raw, done := pipePump(context.Background(), dev)
		raw.Close()
		if err := wait(t, done); err != nil {
			t.Fatalf("Pump = %v, want nil", err)
		}
		if _, err := n.nl.LinkByName(dev.Name()); err != nil {
			t.Fatalf("device gone: %v", err)
		}
	})
	t.Run("device closed", func(t *testing.T) {
		dev := n.newTAP(t, tap.Config{})
		peer, raw, done := pipePump(context.Background(), dev)
		defer raw.Close()
		go drain(peer)
		time.Sleep(50 * time.Millisecond) // let Pump block in its reads
		dev.Close()
		if err := wait(t, done); err != nil {
			t.Fatalf("Pump = %v, want nil", err)
		}
	})
	t.Run("cancelled then pumped again", func(t *testing.T) {
		dev := n.newTAP(t, tap.Config{})
		ctx, cancel := context.WithCancel(context.Background())
		peer, raw, done := pipePump(ctx, dev)
		go drain(peer)
		time.Sleep(50 * time.Millisecond)
		cancel()
		if err := wait(t, done); !errors.Is(err, context.Canceled) {
			t.Fatalf("Pump = %v, want context.Canceled", err)
		}
		raw.Close()

		peer, raw, done = pipePump(context.Background(), dev)
		defer raw.Close()
		go drain(peer)
		if err := peer.WriteFrame(ethFrame(100, false)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for dev.Stats().FramesIn == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if s := dev.Stats(); s.FramesIn != 1 {
			t.Fatalf("second Pump: stats %+v, want 1 frame in", s)
		}
		raw.Close()
		if err := wait(t, done); err != nil {
			t.Fatalf("second Pump = %v", err)
		}
	})
}
