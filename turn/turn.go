// Package turn is the TURN side of reachd's relay strategy: a client of TURN
// TCP allocations (RFC 6062) built on github.com/pion/turn/v5.
//
// The initiator takes an allocation over a TCP control connection, learns its
// relayed address, sends it to the peer over signaling, grants the peer's IP
// addresses a permission and accepts. The peer dials the relayed address with
// plain outbound TCP; nothing TURN-specific runs on its side. The server
// announces the connection attempt on the control connection, Accept opens a
// data connection to the server and binds it (ConnectionBind), and from then
// on that data connection is a raw byte stream to the peer:
//
//	a, err := turn.Allocate(ctx, turn.Config{URL: "turn://user:pass@turn.example:3478"})
//	// send a.RelayedAddr() to the peer, learn its IP addresses
//	err = a.Permit(ctx, peerIPs...)
//	conn, err := a.Accept(ctx) // the peer ran net.Dial("tcp", relayedAddr)
//	a.Close()                  // no more peers; conn keeps the allocation
//
// Servers delete a relayed connection with its allocation, so Close, like a
// net.Listener's, leaves accepted connections working: the allocation is
// released when the last of them is closed.
//
// The package does not do signaling, does not authenticate the peer (the
// secure channel runs over the returned connection) and does not dial peers
// through the relay (RFC 6062 Connect).
package turn

import (
	"context"
	"log/slog"
	"net"
)

// Config configures Allocate. Only URL is required.
type Config struct {
	// URL is the TURN server and credential: turn://user:pass@host[:port]
	// (see ParseURL). Required.
	URL string

	// IPv6 requests an IPv6 relayed address (RFC 6156). Default false: an
	// IPv4 relayed address, whatever the family of the control connection.
	IPv6 bool

	// Dial opens TCP connections to the server: the control connection and
	// one data connection per accepted peer. The connections it returns must
	// be TCP connections (*net.TCPConn, or another type with CloseRead,
	// CloseWrite, SetLinger, SetKeepAlive and the other TCP methods).
	// Default: (&net.Dialer{}).DialContext.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)

	// Logger receives the client's and pion's logs. Default: discard.
	Logger *slog.Logger
}
