package rendezvous

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v4"

	"github.com/reachd/reachd/internal/acceptor"
	"github.com/reachd/reachd/natprobe"
)

// TCP connections to TURN carry framed messages (RFC 8656 section 12.5): a
// STUN message or a ChannelData message, until a ConnectionBind (RFC 6062)
// turns a data connection into a raw relayed stream. pion reads them with no
// timeout of its own, so these bound what a silent or stalled client holds:
var (
	// turnFirstByteTimeout is how long a new connection may stay silent; a
	// client sends its Allocate or ConnectionBind request at once.
	turnFirstByteTimeout = 10 * time.Second
	// turnMessageTimeout is how long the rest of a started message may take
	// to arrive (a client that sent part of a header and stopped is closed).
	// Between whole messages a connection may idle: allocations refresh
	// every few minutes, relayed streams idle as long as their ends like.
	turnMessageTimeout = 10 * time.Second
)

// connectionBindOK is the type of a ConnectionBind success response: after
// writing it, pion relays the connection's bytes as they come.
var connectionBindOK = stun.NewType(stun.MethodConnectionBind, stun.ClassSuccessResponse).Value()

// turnListener hands pion tracked connections: shutdown closes them all, and
// each stays entered in the tracker until pion itself closes it, which its
// per-connection goroutine does last.
type turnListener struct {
	*acceptor.Listener // waits out accept failures: pion stops accepting at the first error
	t                  tracker
	patch              *turnPatch
	dialBack           *dialBacker     // serves dial-back requests; nil: pion answers them (420)
	ctx                context.Context // the server's lifetime, for dial-backs
}

func (l *turnListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept() // fails only once closed
	if err != nil {
		return nil, err
	}
	tc := c.(*net.TCPConn)
	if !l.t.enter() {
		_ = tc.Close()
		return nil, net.ErrClosed
	}
	if !l.t.add(tc) {
		l.t.leave()
		return nil, net.ErrClosed
	}
	_ = tc.SetReadDeadline(time.Now().Add(turnFirstByteTimeout))
	conn := &turnConn{TCPConn: tc, t: &l.t, patch: l.patch, deadline: true, dialBack: l.dialBack, ctx: l.ctx}
	conn.frames.whole = func(msg []byte) { conn.patch.inspect(msg, &conn.verdicts) }
	return conn, nil
}

// turnConn is the connection pion gets: a *net.TCPConn, embedded so that
// every method but Read, Write and Close is the connection's own. It follows
// the framing of what it reads, keeps a read deadline while a message is
// incomplete, and applies turnPatch to pion's answers.
type turnConn struct {
	*net.TCPConn
	t        *tracker
	patch    *turnPatch
	verdicts turnVerdicts
	once     sync.Once
	raw      atomic.Bool // a ConnectionBind succeeded: no more framing, no deadline
	dialBack *dialBacker
	ctx      context.Context

	// Used by the reading goroutine only.
	frames   turnFramer
	deadline bool   // a read deadline is set
	started  bool   // serveDialBacks ran
	pending  []byte // read by serveDialBacks, for pion
}

func (c *turnConn) Read(p []byte) (n int, err error) {
	if !c.started {
		c.started = true
		if c.pending, err = c.serveDialBacks(); err != nil {
			return 0, err
		}
	}
	if len(c.pending) > 0 {
		n = copy(p, c.pending)
		c.pending = c.pending[n:]
	} else {
		n, err = c.TCPConn.Read(p)
	}
	if n == 0 || c.raw.Load() {
		return n, err
	}
	mid, started := c.frames.feed(p[:n])
	switch {
	case mid && started: // the rest of this message is due within turnMessageTimeout
		_ = c.TCPConn.SetReadDeadline(time.Now().Add(turnMessageTimeout))
		c.deadline = true
	case !mid && c.deadline:
		_ = c.TCPConn.SetReadDeadline(time.Time{})
		c.deadline = false
	}
	return n, err
}

// serveDialBacks answers the dial-back requests a new connection opens
// with (a node checking its reachability sends one Binding request with
// DIAL-BACK on a connection of its own), which pion would refuse with 420
// as it does not know the attribute. It returns the first bytes of
// anything else, which are pion's to read.
func (c *turnConn) serveDialBacks() ([]byte, error) {
	if c.dialBack == nil {
		return nil, nil
	}
	local := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr()
	remote := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(c.TCPConn, hdr[:1]); err != nil {
			return nil, err
		}
		// A message started: the rest of it is due within turnMessageTimeout.
		_ = c.TCPConn.SetReadDeadline(time.Now().Add(turnMessageTimeout))
		if _, err := io.ReadFull(c.TCPConn, hdr[1:4]); err != nil {
			return nil, err
		}
		size := int(binary.BigEndian.Uint16(hdr[2:4]))
		if hdr[0]&0xc0 != 0 || stunHeaderSize+size > turnMaxInspect {
			return hdr[:], nil // ChannelData, or too large: pion's to read or refuse
		}
		msg := make([]byte, stunHeaderSize+size)
		copy(msg, hdr[:])
		if _, err := io.ReadFull(c.TCPConn, msg[4:]); err != nil {
			return nil, err
		}
		var m stun.Message
		if stun.Decode(msg, &m) != nil || m.Type != stun.BindingRequest || !m.Contains(natprobe.AttrDialBack) {
			return msg, nil
		}
		ans, err := c.dialBack.answer(c.ctx, &m, remote, local)
		if err != nil {
			return nil, err
		}
		if _, err := c.TCPConn.Write(ans); err != nil {
			return nil, err
		}
		_ = c.TCPConn.SetReadDeadline(time.Now().Add(turnFirstByteTimeout))
	}
}

func (c *turnConn) Write(p []byte) (int, error) {
	if c.raw.Load() {
		return c.TCPConn.Write(p)
	}
	if len(p) >= 2 && binary.BigEndian.Uint16(p) == connectionBindOK {
		// pion writes this on the goroutine that reads, then relays.
		c.raw.Store(true)
		_ = c.TCPConn.SetReadDeadline(time.Time{})
	}
	if _, err := c.TCPConn.Write(c.patch.rewrite(p, &c.verdicts)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *turnConn) Close() error {
	err := c.TCPConn.Close()
	c.once.Do(func() {
		c.t.remove(c.TCPConn)
		c.t.leave()
	})
	return err
}

// turnFramer follows message boundaries in a TURN TCP stream: a STUN message
// (its length at bytes 2-3 counts what follows the 20-byte header) or a
// ChannelData message (first two bits 01; 4-byte header, length at bytes 2-3,
// padded to 4 over TCP). pion ends the connection on anything else. It
// hands each whole STUN message of up to turnMaxInspect bytes to whole.
type turnFramer struct {
	hdr  [4]byte
	nhdr int // header bytes of the current message seen so far
	left int // bytes of the current message still to come after its first 4

	whole func(msg []byte) // nil: nothing collected
	msg   []byte           // the STUN message being collected
	stun  bool             // the current message is a STUN message collected in msg
}

// turnMaxInspect is the largest STUN message a turnFramer collects: pion
// reads messages into buffers of 1600 bytes and drops longer ones.
const turnMaxInspect = 1600

// feed consumes b and reports whether it ends inside a message, and if so
// whether that message started in b.
func (f *turnFramer) feed(b []byte) (mid, started bool) {
	for len(b) > 0 {
		if f.nhdr == 0 {
			started = true
		}
		if f.nhdr < len(f.hdr) {
			k := copy(f.hdr[f.nhdr:], b)
			f.nhdr += k
			b = b[k:]
			if f.nhdr < len(f.hdr) {
				return true, started
			}
			size := int(binary.BigEndian.Uint16(f.hdr[2:4]))
			if f.hdr[0]&0xc0 == 0 { // STUN
				f.left = stunHeaderSize - len(f.hdr) + size
				f.stun = f.whole != nil && stunHeaderSize+size <= turnMaxInspect
				f.msg = append(f.msg[:0], f.hdr[:]...)
			} else { // ChannelData
				f.left = (size + 3) &^ 3
				f.stun = false
			}
		}
		k := min(f.left, len(b))
		if f.stun {
			f.msg = append(f.msg, b[:k]...)
		}
		f.left -= k
		b = b[k:]
		if f.left == 0 {
			if f.stun {
				f.whole(f.msg)
			}
			f.nhdr, started = 0, false
		}
	}
	return f.nhdr != 0, started
}
