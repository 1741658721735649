// Package rendezvoustest starts a rendezvous server on loopback for tests:
// every service on a free 127.0.0.1 port, one TURN user, closed by the test's
// cleanup. It is for tests only.
package rendezvoustest

import (
	"log/slog"
	"net/netip"
	"testing"

	"github.com/reachd/reachd/rendezvous"
)

// The TURN credential every server started by Start accepts.
const (
	TURNUser     = "test"
	TURNPassword = "secret"
)

// Option changes the configuration Start uses.
type Option func(*rendezvous.Config)

// WithTURNUser adds a TURN credential.
func WithTURNUser(user, password string) Option {
	return func(c *rendezvous.Config) { c.TURNUsers[user] = password }
}

// WithPublicIP sets the address TURN relays advertise.
func WithPublicIP(ip netip.Addr) Option {
	return func(c *rendezvous.Config) { c.PublicIP = ip }
}

// WithAnonymous opens the broker to any client (Config.MQTTAnonymous), for
// tests of MQTT itself with clients that are not nodes.
func WithAnonymous() Option {
	return func(c *rendezvous.Config) { c.MQTTAnonymous = true }
}

// WithLogger sends the server's logs to log.
func WithLogger(log *slog.Logger) Option {
	return func(c *rendezvous.Config) { c.Logger = log }
}

// Start starts a rendezvous server on loopback and closes it when the test
// ends. Without options it serves MQTT over TCP and WebSocket, STUN on two
// addresses (RFC 5780, port changes only) and TURN with the user
// TURNUser/TURNPassword, each on a free 127.0.0.1 port. Its broker admits
// only nodes, signed in with their node key, as by default. It fails the test if
// the server does not start or Close reports an error.
func Start(tb testing.TB, opts ...Option) *rendezvous.Server {
	tb.Helper()
	cfg := rendezvous.Config{
		MQTTListen:   "127.0.0.1:0",
		MQTTWSListen: "127.0.0.1:0",
		STUNListen:   []string{"127.0.0.1:0", "127.0.0.1:0"},
		TURNListen:   "127.0.0.1:0",
		TURNUsers:    map[string]string{TURNUser: TURNPassword},
	}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := rendezvous.New(cfg)
	if err != nil {
		tb.Fatalf("rendezvoustest: start: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("rendezvoustest: close: %v", err)
		}
	})
	return s
}

// MQTTURL returns the broker's TCP URL, mqtt://host:port.
func MQTTURL(s *rendezvous.Server) string { return "mqtt://" + s.MQTTAddr() }

// MQTTWSURL returns the broker's WebSocket URL, ws://host:port/mqtt, or ""
// when WebSocket is off.
func MQTTWSURL(s *rendezvous.Server) string {
	if s.MQTTWSAddr() == "" {
		return ""
	}
	return "ws://" + s.MQTTWSAddr() + "/mqtt"
}

// TURNURL returns the TURN server as reachd's --turn flag takes it,
// turn://TURNUser:TURNPassword@host:port.
func TURNURL(s *rendezvous.Server) string {
	return "turn://" + TURNUser + ":" + TURNPassword + "@" + s.TURNAddr().String()
}
