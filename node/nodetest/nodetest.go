// Package nodetest starts real reachd nodes for tests, on loopback, against
// a rendezvous from rendezvoustest.
package nodetest

import (
	"log/slog"
	"testing"
	"time"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/rendezvous"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// Option changes a node's Config before it starts.
type Option func(*node.Config)

// WithLogger sets the node's logger.
func WithLogger(l *slog.Logger) Option { return func(c *node.Config) { c.Logger = l } }

// WithMQTT replaces the broker list.
func WithMQTT(urls ...string) Option { return func(c *node.Config) { c.MQTT = urls } }

// Config is the config Start uses for a node against rv.
func Config(tb testing.TB, rv *rendezvous.Server) node.Config {
	var stun []string
	for _, a := range rv.STUNAddrs() {
		stun = append(stun, a.String())
	}
	return node.Config{
		DataDir: tb.TempDir(),
		MQTT:    []string{rendezvoustest.MQTTURL(rv)},
		STUN:    stun,
		TURN:    []string{rendezvoustest.TURNURL(rv)},
		NTP:     []string{"off"},
		// On loopback: no gateway of this machine is asked for a mapping.
		NoPortMap: true,
	}
}

// Start runs a node against rv, waits until it is ready and closes it in
// cleanup.
func Start(tb testing.TB, rv *rendezvous.Server, opts ...Option) *node.Node {
	tb.Helper()
	cfg := Config(tb, rv)
	for _, o := range opts {
		o(&cfg)
	}
	n, err := node.New(cfg)
	if err != nil {
		tb.Fatalf("nodetest: %v", err)
	}
	tb.Cleanup(func() { n.Close() })
	n.Start()
	select {
	case <-n.Ready():
	case <-time.After(30 * time.Second):
		tb.Fatalf("nodetest: node %s not ready after 30s", n.ID())
	}
	return n
}
