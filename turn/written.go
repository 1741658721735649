package turn

import (
	"net"
	"sync"
)

// writtenConn is the control connection, telling who waits when the next
// request has been written to it: Permit's sent, which lets a caller tell
// the peer to connect once the permission is on its way to the server
// (ahead of anything the peer does after hearing of it), not answered.
type writtenConn struct {
	net.Conn

	mu      sync.Mutex
	writes  uint64
	written chan struct{} // closed and replaced after each write
}

func newWrittenConn(c net.Conn) *writtenConn {
	return &writtenConn{Conn: c, written: make(chan struct{})}
}

func (c *writtenConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.writes++
	close(c.written)
	c.written = make(chan struct{})
	c.mu.Unlock()
	return n, err
}

// mark returns the count of writes so far and a channel closed at the
// next one.
func (c *writtenConn) mark() (uint64, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes, c.written
}
