package rendezvous

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/signaling"
)

// nodeAuth admits only reachd nodes to the broker. A client signs in with
// its node ID as user name and a signaling.Login password signed for an
// address of this broker, within the allowed skew of our clock. A signed-in
// node may subscribe to its own topic and to group topics (exact names,
// which cannot hold wildcards), and publish to any node's or group's topic;
// $SYS and every other topic are closed to it. A password seen on the wire
// can be replayed to this broker until its time is skew old (use TLS in
// front of the broker where the path is not trusted), but not to another
// broker.
type nodeAuth struct {
	mqtt.HookBase
	names map[string]bool // normalized host:port
	skew  time.Duration
	now   func() time.Time
	log   *slog.Logger
}

var _ mqtt.Hook = (*nodeAuth)(nil)

func newNodeAuth(cfg Config, log *slog.Logger) (*nodeAuth, error) {
	h := &nodeAuth{names: make(map[string]bool), skew: cfg.MQTTLoginSkew, now: time.Now, log: log}
	if h.skew == 0 {
		h.skew = signaling.MaxLoginSkew
	}
	for _, n := range cfg.MQTTNames {
		a, err := signaling.NormalizeAddr(n)
		if err != nil {
			return nil, fmt.Errorf("%w: mqtt name %q: %v", ErrInvalidConfig, n, err)
		}
		h.names[a] = true
	}
	return h, nil
}

func (h *nodeAuth) ID() string { return "reachd-node-auth" }

func (h *nodeAuth) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

// OnConnectAuthenticate checks the login; mochi refuses the client with
// CONNACK "bad user name or password" when it fails.
func (h *nodeAuth) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	l, err := signaling.ParseLogin(string(pk.Connect.Username), pk.Connect.Password)
	if err == nil && !h.reached(cl, l.Addr) {
		err = fmt.Errorf("login is for broker %s", l.Addr)
	}
	if err == nil {
		err = l.Verify(h.now(), h.skew)
	}
	if err != nil {
		h.log.Debug("mqtt client refused", "reason", "login", "remote", cl.Net.Remote, "err", err)
		return false
	}
	return true
}

// reached reports whether addr is an address of ours the client could have
// dialled: the one its connection reached, localhost for a loopback one,
// or a configured name.
func (h *nodeAuth) reached(cl *mqtt.Client, addr string) bool {
	if h.names[addr] {
		return true
	}
	mc, ok := cl.Net.Conn.(*mqttConn)
	if !ok || !mc.local.IsValid() {
		return false
	}
	if addr == mc.local.String() {
		return true
	}
	return mc.local.Addr().IsLoopback() && addr == "localhost:"+strconv.Itoa(int(mc.local.Port()))
}

// OnACLCheck lets a node write to node, group and service topics and read
// its own topic and group topics. mochi also asks, with write false, before it
// delivers a message to a subscriber.
func (h *nodeAuth) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if signaling.ValidGroupTopic(topic) == nil {
		return true
	}
	if signaling.ValidServiceTopic(topic) == nil {
		return write // a service's requests are for the broker alone
	}
	rest, ok := strings.CutPrefix(topic, signaling.TopicPrefix)
	if !ok {
		return false
	}
	if write {
		return identity.ValidNodeID(rest) == nil
	}
	return rest == string(cl.Properties.Username)
}
