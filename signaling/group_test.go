package signaling_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/signaling"
)

func TestGroupSealOpen(t *testing.T) {
	self := newIdentity(t)
	const topic = signaling.GroupTopicPrefix + "0123456789abcdef"
	key := [32]byte{1, 2, 3}
	now := time.Now()
	m := &signaling.Message{Type: "announce", ID: newMsgID(t), To: topic, Sent: now, TTL: time.Minute, Body: []byte(`{"x":1}`)}
	data, err := signaling.SealGroup(self, key, m, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := signaling.Policy{Now: now}
	got, err := signaling.OpenGroup(topic, key, data, p)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if got.From != self.NodeID() || string(got.Body) != `{"x":1}` || got.Type != "announce" {
		t.Errorf("opened %+v", got)
	}

	tests := []struct {
		name  string
		topic string
		key   [32]byte
		data  []byte
		want  signaling.DropReason
	}{
		{"wrong key", topic, [32]byte{9}, data, signaling.DropUndecryptable},
		{"other topic", signaling.GroupTopicPrefix + "ffff", key, data, signaling.DropNotForUs},
		{"forged sender", topic, key, rewrite(t, data, newIdentity(t), func(e *signaling.Envelope) {}), signaling.DropBadSignature},
		{"node message", topic, key, seal(t, self, newIdentity(t).NodeID(), "announce", now, time.Minute, 1), signaling.DropMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := signaling.OpenGroup(tt.topic, tt.key, tt.data, p)
			var de *signaling.DropError
			if !errors.As(err, &de) || de.Reason != tt.want {
				t.Fatalf("err = %v, want drop %s", err, tt.want)
			}
		})
	}
	if _, err := signaling.SealGroup(self, key, &signaling.Message{Type: "a", ID: newMsgID(t), To: "reachd/v1/x", Sent: now, TTL: time.Second}, rand.Reader); err == nil {
		t.Error("sealed to a topic outside the group prefix")
	}
}

func TestValidGroupTopic(t *testing.T) {
	for topic, ok := range map[string]bool{
		signaling.GroupTopicPrefix + "abc0": true,
		signaling.GroupTopicPrefix:          false,
		signaling.GroupTopicPrefix + "a/b":  false,
		signaling.GroupTopicPrefix + "#":    false,
		"reachd/v1/abc":                     false,
		signaling.GroupTopicPrefix + "ABC":  false,
	} {
		if err := signaling.ValidGroupTopic(topic); (err == nil) != ok {
			t.Errorf("ValidGroupTopic(%q) = %v, want ok=%v", topic, err, ok)
		}
	}
}

// TestGroup: members of a group hear each other's messages, not their
// own; a client with another key hears nothing it can open; after Leave
// nothing more arrives.
func TestGroup(t *testing.T) {
	checkLeaks(t)
	url := rendezvoustest.MQTTURL(rendezvoustest.Start(t))
	const topic = signaling.GroupTopicPrefix + "abcdef"
	key := [32]byte{7}
	type got struct {
		who  int
		from string
		body string
	}
	ch := make(chan got, 16)
	var clients []*signaling.Client
	var groups []*signaling.Group
	for i := range 3 {
		c := startClient(t, newIdentity(t), []string{url})
		k := key
		if i == 2 {
			k = [32]byte{8} // knows the topic, not the key
		}
		g, err := c.JoinGroup(topic, k, func(_ context.Context, m *signaling.Message) {
			ch <- got{i, m.From, string(m.Body)}
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.JoinGroup(topic, k, func(context.Context, *signaling.Message) {}); !errors.Is(err, signaling.ErrGroupJoined) {
			t.Errorf("second join: %v", err)
		}
		clients = append(clients, c)
		groups = append(groups, g)
	}
	time.Sleep(300 * time.Millisecond) // SUBACKs are not waited on
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := groups[0].Publish(ctx, msgHello, "zero"); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-ch:
		if g.who != 1 || g.from != clients[0].ID() || g.body != `"zero"` {
			t.Errorf("got %+v", g)
		}
	case <-ctx.Done():
		t.Fatal("member 1 heard nothing")
	}
	select {
	case g := <-ch:
		t.Errorf("unexpected %+v", g)
	case <-time.After(500 * time.Millisecond):
	}
	if n := clients[2].Drops()[signaling.DropUndecryptable]; n != 1 {
		t.Errorf("the client without the key counted %d undecryptable, want 1", n)
	}
	groups[1].Leave()
	time.Sleep(200 * time.Millisecond)
	if err := groups[0].Publish(ctx, msgHello, "again"); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-ch:
		t.Errorf("after leave: %+v", g)
	case <-time.After(500 * time.Millisecond):
	}
}
