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
	// maxFrame bounds a frame read from a link: a virtio header and a frame
	// of up to 64 KiB, should one arrive segmentation-offloaded after all.
	maxFrame = vnetHdrLen + 1<<16
	// vnetHdrLen is the size of struct virtio_net_hdr, which PACKET_VNET_HDR
	// puts before every frame. It carries the checksum offload state, so a
	// frame whose checksum the sender left to the "hardware" crosses
	// intact. The forwarder passes it through unread.
	vnetHdrLen = 10
	// bufSize is the size of the recycled frame buffers: a 1500-byte MTU
	// frame and its headers fit.
	bufSize = 2048
	// maxQueue is how many frames a direction holds back at most; beyond,
	// frames are dropped, as a router's full buffer does. 16384 frames of
	// 1514 bytes are 50 ms at 4 Gbit/s.
	maxQueue = 16384
	// sockBuf is the socket buffer size of each end, so that bursts wait in
	// the kernel rather than being dropped while the forwarder is busy.
	sockBuf = 4 << 20
)

// forwarder copies Ethernet frames both ways between two interfaces of one
// namespace, applying a Link: delay, jitter and loss. Each direction has a
// reader goroutine, which reads a frame, draws its fate and queues it, and a
// writer goroutine, which sends queued frames when they are due. A frame due
// at once, with nothing queued ahead of it, is sent by the reader itself.
type forwarder struct {
	link atomic.Pointer[Link]
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
	for _, d := range []*direction{
		newDirection(f, conns[0], conns[1]),
		newDirection(f, conns[1], conns[0]),
	} {
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

	mu      sync.Mutex
	queue   []frame // a min-heap by (at, seq)
	seq     uint64
	last    time.Time // the latest send time given so far
	writing bool      // the writer sends a frame it took from the queue
	free    [][]byte  // recycled buffers of bufSize
	wake    chan struct{}
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
	scratch := make([]byte, maxFrame)
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
		l := d.f.link.Load()
		if l.Loss > 0 && d.rng.Float64() < l.Loss {
			continue
		}
		now := time.Now()
		at := now.Add(l.Delay)
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
		if len(d.queue) == 0 && !d.writing && !at.After(now) {
			// Due now and nothing ahead: send it from here. The writer
			// finds the queue empty and stays asleep; no frame arrives
			// meanwhile, since this goroutine is the only one queueing.
			d.mu.Unlock()
			d.send(scratch[:n])
			continue
		}
		if len(d.queue) >= maxQueue {
			d.mu.Unlock()
			continue // tail drop
		}
		var buf []byte
		if k := len(d.free); k > 0 && n <= bufSize {
			buf, d.free = d.free[k-1], d.free[:k-1]
		} else {
			buf = make([]byte, max(n, bufSize))
		}
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
		d.writing = true
		d.mu.Unlock()

		d.send(fr.buf)

		d.mu.Lock()
		d.writing = false
		if cap(fr.buf) == bufSize {
			d.free = append(d.free, fr.buf[:bufSize])
		}
		d.mu.Unlock()
	}
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
