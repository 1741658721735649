package signaling_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/signaling"
)

func TestLogin(t *testing.T) {
	id, other := newIdentity(t), newIdentity(t)
	now := time.Unix(1_800_000_000, 0)
	const addr = "broker.example:1883"
	good := signaling.LoginPassword(id, addr, now)
	tests := []struct {
		name     string
		user     string
		password string
		at       time.Time // the broker's clock
		ok       bool
	}{
		{"valid", id.NodeID(), good, now, true},
		{"valid at the skew", id.NodeID(), good, now.Add(signaling.MaxLoginSkew), true},
		{"expired", id.NodeID(), good, now.Add(signaling.MaxLoginSkew + time.Second), false},
		{"from the future", id.NodeID(), good, now.Add(-signaling.MaxLoginSkew - time.Second), false},
		{"other node's key", id.NodeID(), signaling.LoginPassword(other, addr, now), now, false},
		{"other user", other.NodeID(), good, now, false},
		{"address changed", id.NodeID(), strings.Replace(good, addr, "broker.example:1884", 1), now, false},
		{"not normalized", id.NodeID(), strings.Replace(good, addr, "Broker.example:1883", 1), now, false},
		{"not a node ID", "alice", good, now, false},
		{"empty", id.NodeID(), "", now, false},
		{"other version", id.NodeID(), strings.Replace(good, "reachd1", "reachd2", 1), now, false},
		{"short signature", id.NodeID(), good[:len(good)-4], now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := signaling.ParseLogin(tt.user, []byte(tt.password))
			if err == nil {
				err = l.Verify(tt.at, signaling.MaxLoginSkew)
			}
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, signaling.ErrBadLogin) {
				t.Errorf("err = %v, does not wrap ErrBadLogin", err)
			}
			if tt.ok && (l.NodeID != id.NodeID() || l.Addr != addr || !l.Time.Equal(now)) {
				t.Errorf("login = %+v", l)
			}
		})
	}
}

func TestBrokerAddr(t *testing.T) {
	for in, want := range map[string]string{
		"mqtt://Broker.Example":          "broker.example:1883",
		"mqtts://b.example":              "b.example:8883",
		"ws://127.0.0.1:8080/mqtt":       "127.0.0.1:8080",
		"wss://b.example/mqtt":           "b.example:443",
		"mqtt://[::ffff:127.0.0.1]:1883": "127.0.0.1:1883",
		"mqtt://[0:0::1]:1883":           "[::1]:1883",
		"mqtt://user:pass@10.0.0.1:1884": "10.0.0.1:1884",
	} {
		got, err := signaling.BrokerAddr(in)
		if err != nil || got != want {
			t.Errorf("BrokerAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
