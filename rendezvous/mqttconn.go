package rendezvous

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// lingerTimeout bounds how long a connection refused for an oversized
// packet is drained after its DISCONNECT, so that closing it with unread
// data does not reset it before the client reads the reason.
const lingerTimeout = time.Second

// errPacketTooLarge ends the read of a connection whose client announced a
// packet over the broker's maximum.
var errPacketTooLarge = errors.New("rendezvous: mqtt packet over the maximum size")

// mqttConn is a client connection as mochi sees it. It knows the address
// the client reached (a login is signed for it) and follows the MQTT
// framing of what the client sends: a packet header announcing more than
// the maximum packet size gets DISCONNECT 0x95 (MQTT 5) before the
// connection closes, where mochi would close it without a word. Reads
// happen on mochi's one reading goroutine per client, which also calls
// bind (from the OnConnect hook), so the framing state needs no lock.
type mqttConn struct {
	net.Conn
	local     netip.AddrPort // the address the client reached; invalid if unknown
	maxPacket int

	// set by bind once CONNECT is read
	disconnect func(packets.Code)
	v5         bool

	fr      framer
	linger  bool
	lingerN int64
}

func newMQTTConn(c net.Conn, local net.Addr, maxPacket int) *mqttConn {
	mc := &mqttConn{Conn: c, maxPacket: maxPacket}
	if a, ok := local.(*net.TCPAddr); ok {
		ap := a.AddrPort()
		mc.local = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return mc
}

// bind tells the connection how to disconnect its client, once mochi has
// read its CONNECT.
func (c *mqttConn) bind(disconnect func(packets.Code), v5 bool) {
	c.disconnect, c.v5 = disconnect, v5
}

func (c *mqttConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if size, over := c.fr.scan(p[:n], c.maxPacket); over {
		// The client is told (MQTT 5) and the connection closed; what it
		// sent before the oversized header in this read is dropped with it.
		c.linger, c.lingerN = true, int64(min(size, 2*c.maxPacket))
		if c.disconnect != nil && c.v5 {
			c.disconnect(packets.ErrPacketTooLarge)
		}
		return 0, errPacketTooLarge
	}
	return n, err
}

// Close closes the connection; after an oversized packet it first sends
// FIN and drains what the client still sends, for at most lingerTimeout.
func (c *mqttConn) Close() error {
	if tc, ok := c.Conn.(*net.TCPConn); ok && c.linger {
		_ = tc.CloseWrite()
		_ = tc.SetReadDeadline(time.Now().Add(lingerTimeout))
		_, _ = io.CopyN(io.Discard, tc, c.lingerN)
	}
	return c.Conn.Close()
}

// framer follows MQTT framing (RFC-style fixed header: a type byte, the
// remaining length as 1 to 4 bytes of 7 bits, then that many bytes).
type framer struct {
	state   int // 0: type byte next; 1: in the remaining length; 2: in the body; 3: lost
	length  int // remaining length decoded so far
	shift   uint
	lenSize int // bytes of the remaining length
	body    int // body bytes left
}

// scan consumes b and reports whether a header in it announced a packet
// (fixed header included) larger than maxPacket, and that packet's size.
// A malformed length stops the scan: mochi refuses it anyway.
func (f *framer) scan(b []byte, maxPacket int) (int, bool) {
	for len(b) > 0 {
		switch f.state {
		case 0:
			f.state, f.length, f.shift, f.lenSize = 1, 0, 0, 0
			b = b[1:]
		case 1:
			x := b[0]
			b = b[1:]
			f.length |= int(x&0x7f) << f.shift
			f.shift += 7
			f.lenSize++
			if x&0x80 != 0 {
				if f.lenSize == 4 {
					f.state = 3
				}
				continue
			}
			if size := 1 + f.lenSize + f.length; size > maxPacket {
				f.state = 3
				return size, true
			}
			f.state, f.body = 2, f.length
			if f.body == 0 {
				f.state = 0
			}
		case 2:
			k := min(f.body, len(b))
			f.body -= k
			b = b[k:]
			if f.body == 0 {
				f.state = 0
			}
		default:
			return 0, false
		}
	}
	return 0, false
}
