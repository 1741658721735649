package natlab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// vnetHdrLen is the size of struct virtio_net_hdr, which PACKET_VNET_HDR
	// puts before every frame. It carries the frame's offload state, so that
	// a frame whose checksum the sender left to the "hardware", or a TCP
	// super-frame the receiver is to segment (GSO), crosses intact. The
	// forwarder passes it through unread.
	vnetHdrLen = 10
	// bigBuf holds any frame: a virtio header and a GSO frame of up to 64
	// KiB plus headers.
	bigBuf = 1 << 17
	// smallBuf holds a 1500-byte MTU frame and its headers.
	smallBuf = 2048
	// maxQueued bounds the buffer bytes a direction holds back; beyond,
	// frames are dropped, as a router's full buffer does. 64 MiB hold 50 ms
	// at 10 Gbit/s.
	maxQueued = 64 << 20
	// sockBuf is the socket buffer size of each end, so that bursts wait in
	// the kernel rather than being dropped while the forwarder is busy.
	sockBuf = 4 << 20
)

// forwarder copies Ethernet frames both ways between two interfaces of one
// namespace, applying a Link: delay, jitter and loss. Each direction has a
// reader goroutine, which reads a frame, draws its fate and queues it, and a
// writer goroutine, which sends queued frames when they are due; so reading
// and writing, and the kernel's work behind each, overlap. Frame buffers are
// recycled; no goroutine is started per frame.
type forwarder struct {
	link atomic.Pointer[Link]
	dirs [2]*direction
	ends [2]*os.File // AF_PACKET sockets bound to the two interfaces
	stop chan struct{}
	wg   sync.WaitGroup
}

// startForwarder opens packet sockets on interfaces a and b of namespace ns
// and starts copying frames between them.
func startForwarder(ns, a, b string, l Link) (*forwarder, error) {
	f := &forwarder{stop: make(chan struct{})}
	f.link.Store(&l)
	err := doIn(filepath.Join(netnsDir, ns), func() error {
		for i, name := range []string{a, b} {
			end, err := packetSocket(name)
			if err != nil {
				return fmt.Errorf("packet socket on %s: %w", name, err)
			}
			f.ends[i] = end
		}
		return nil
	})
	var conns [2]syscall.RawConn
	for i, end := range f.ends {
		if end == nil {
			continue
		}
		var cerr error
		conns[i], cerr = end.SyscallConn()
		err = errors.Join(err, cerr)
	}
	if err != nil {
		for _, end := range f.ends {
			if end != nil {
				end.Close()
			}
		}
		return nil, err
	}
	f.dirs = [2]*direction{newDirection(f, conns[0], conns[1]), newDirection(f, conns[1], conns[0])}
	for _, d := range f.dirs {
		f.wg.Add(2)
		go d.read()
		go d.write()
	}
	return f, nil
}

// packetSocket opens a non-blocking AF_PACKET socket bound to the named
// interface of the calling thread's namespace, which receives every frame
// arriving there (not those it sends) with a virtio header before it.
func packetSocket(name string) (*os.File, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	// Protocol 0: receive nothing until bound to the interface.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	for _, o := range []struct{ level, opt, value int }{
		{unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1},
		{unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1},
		{unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, sockBuf},
		{unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sockBuf},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.value); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("setsockopt %d/%d: %w", o.level, o.opt, err)
		}
	}
	all := uint16(unix.ETH_P_ALL)
	sa := &unix.SockaddrLinklayer{Protocol: all<<8 | all>>8, Ifindex: ifi.Index} // network byte order
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind: %w", err)
	}
	// A non-blocking descriptor joins the runtime poller, so Close wakes a
	// goroutine blocked reading it.
	return os.NewFile(uintptr(fd), "packet:"+name), nil
}

func (f *forwarder) setLink(l Link) { f.link.Store(&l) }

// stats adds up both directions' counters.
func (f *forwarder) stats() LinkStats {
	var s LinkStats
	for _, d := range f.dirs {
		s.Frames += d.frames.Load()
		s.Bytes += d.bytes.Load()
		s.Lost += d.lost.Load()
		s.Overflow += d.overflow.Load()
	}
	return s
}

// close stops the forwarder and waits for its goroutines.
func (f *forwarder) close() {
	close(f.stop)
	for _, end := range f.ends {
		end.Close()
	}
	f.wg.Wait()
}

// frame is a frame held back until at; seq keeps equal times in order.
type frame struct {
	at  time.Time
	seq uint64
	buf []byte
}

// direction is one way through a forwarder.
type direction struct {
	f       *forwarder
	in, out syscall.RawConn
	rng     *rand.Rand // the reader's

	frames, bytes, lost, overflow atomic.Uint64 // see LinkStats

	mu     sync.Mutex
	queue  []frame // a min-heap by (at, seq)
	queued int     // capacity of the queued frames' buffers
	seq    uint64
	last   time.Time     // the latest send time given so far
	free   [2][][]byte   // recycled buffers: smallBuf, bigBuf
	wake   chan struct{} // the writer's: a new head was queued
}

func newDirection(f *forwarder, in, out syscall.RawConn) *direction {
	return &direction{
		f: f, in: in, out: out,
		rng:  rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		wake: make(chan struct{}, 1),
	}
}

// read receives frames until the forwarder closes.
func (d *direction) read() {
	defer d.f.wg.Done()
	scratch := make([]byte, bigBuf)
	for {
		var n int
		var rerr error
		err := d.in.Read(func(fd uintptr) bool {
			n, rerr = unix.Read(int(fd), scratch)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			return // closed
		}
		if rerr != nil || n <= vnetHdrLen {
			// ENETDOWN while an interface is down, or an empty read:
			// nothing to forward.
			select {
			case <-d.f.stop:
				return
			default:
				continue
			}
		}
		d.frames.Add(1)
		d.bytes.Add(uint64(n - vnetHdrLen))
		l := d.f.link.Load()
		if l.Loss > 0 && d.rng.Float64() < l.Loss {
			d.lost.Add(1)
			continue
		}
		at := time.Now().Add(l.Delay)
		if l.Jitter > 0 {
			at = at.Add(time.Duration(d.rng.Int64N(int64(2*l.Jitter)+1)) - l.Jitter)
		}
		d.mu.Lock()
		if !l.Reorder && at.Before(d.last) {
			at = d.last
		}
		if at.After(d.last) {
			d.last = at
		}
		buf := d.alloc(n)
		if d.queued+cap(buf) > maxQueued {
			d.recycle(buf)
			d.mu.Unlock()
			d.overflow.Add(1) // tail drop
			continue
		}
		d.queued += cap(buf)
		buf = buf[:copy(buf[:n], scratch[:n])]
		d.seq++
		d.push(frame{at: at, seq: d.seq, buf: buf})
		head := d.queue[0].seq == d.seq
		d.mu.Unlock()
		if head {
			select {
			case d.wake <- struct{}{}:
			default:
			}
		}
	}
}

// write sends queued frames when they are due, until the forwarder closes.
func (d *direction) write() {
	defer d.f.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		if len(d.queue) == 0 {
			d.mu.Unlock()
			select {
			case <-d.wake:
				continue
			case <-d.f.stop:
				return
			}
		}
		if wait := time.Until(d.queue[0].at); wait > 0 {
			d.mu.Unlock()
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-d.wake: // a new head, due sooner
			case <-d.f.stop:
				return
			}
			continue
		}
		fr := d.pop()
		d.mu.Unlock()

		d.send(fr.buf)

		d.mu.Lock()
		d.queued -= cap(fr.buf)
		d.recycle(fr.buf)
		d.mu.Unlock()
	}
}

// alloc returns a buffer for an n-byte frame, recycled if one is free;
// d.mu is held.
func (d *direction) alloc(n int) []byte {
	class, size := 0, smallBuf
	if n > smallBuf {
		class, size = 1, bigBuf
	}
	free := d.free[class]
	if k := len(free); k > 0 {
		buf := free[k-1]
		d.free[class] = free[:k-1]
		return buf
	}
	return make([]byte, size)
}

// recycle keeps buf for alloc; d.mu is held.
func (d *direction) recycle(buf []byte) {
	class := 0
	if cap(buf) == bigBuf {
		class = 1
	}
	d.free[class] = append(d.free[class], buf[:cap(buf)])
}

// send writes one frame (virtio header first) to the outgoing interface. A
// frame the kernel will not take (ENOBUFS, or the interface is down) is
// lost, as on a congested wire.
func (d *direction) send(b []byte) {
	_ = d.out.Write(func(fd uintptr) bool {
		_, err := unix.Write(int(fd), b)
		return err != unix.EAGAIN
	})
}

// push adds fr to the heap; d.mu is held.
func (d *direction) push(fr frame) {
	q := append(d.queue, fr)
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q[i].before(q[p]) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
	d.queue = q
}

// pop removes the earliest frame from the heap; d.mu is held.
func (d *direction) pop() frame {
	q := d.queue
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q[last] = frame{}
	q = q[:last]
	for i := 0; ; {
		c := 2*i + 1
		if c >= len(q) {
			break
		}
		if c+1 < len(q) && q[c+1].before(q[c]) {
			c++
		}
		if !q[c].before(q[i]) {
			break
		}
		q[i], q[c] = q[c], q[i]
		i = c
	}
	d.queue = q
	return top
}

func (a frame) before(b frame) bool {
	if a.at.Equal(b.at) {
		return a.seq < b.seq
	}
	return a.at.Before(b.at)
}
