package rendezvous_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/reachd/reachd/internal/syncbuf"
	"github.com/reachd/reachd/rendezvous"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// persistent returns a client with a persistent session (clean session off).
func persistent(url, id string) *paho.ClientOptions {
	return mqttOptions(url, id).SetCleanSession(false)
}

// The session flood of issue 12: clients connect with persistent sessions
// and leave, and the broker kept every session (with its queue) for an hour,
// with no cap. Now sessions, connected or kept, are capped: the next new
// client is refused while a kept session may still resume.
func TestMQTTSessionFloodRefused(t *testing.T) {
	const maxClients = 3
	s := rendezvoustest.Start(t, rendezvoustest.WithAnonymous(), func(c *rendezvous.Config) { c.MQTTMaxClients = maxClients })
	url := rendezvoustest.MQTTURL(s)
	for i := range maxClients {
		c := paho.NewClient(persistent(url, fmt.Sprint(t.Name(), "/kept-", i)))
		waitToken(t, c.Connect())
		waitToken(t, c.Subscribe("reachd/v1/flood", 1, nil))
		c.Disconnect(0) // the session stays
	}

	extra := paho.NewClient(mqttOptions(url, t.Name()+"/extra"))
	tok := extra.Connect()
	if !tok.WaitTimeout(waitLimit) {
		t.Fatal("connect timed out")
	}
	if tok.Error() == nil {
		extra.Disconnect(0)
		t.Fatalf("client %d was accepted with %d sessions kept, cap %d", maxClients+1, maxClients, maxClients)
	}
	t.Logf("extra client refused: %v", tok.Error())

	back := paho.NewClient(persistent(url, t.Name()+"/kept-0"))
	waitToken(t, back.Connect())
	back.Disconnect(0)
}

// A disconnected persistent session's queue: before, up to 1,024 messages
// of up to 128 KiB each were kept for an hour. Now MQTTMaxInflight caps it.
func TestMQTTOfflineSessionQueueCapped(t *testing.T) {
	const maxInflight = 5
	s := rendezvoustest.Start(t, rendezvoustest.WithAnonymous(), func(c *rendezvous.Config) { c.MQTTMaxInflight = maxInflight })
	url := rendezvoustest.MQTTURL(s)
	topic := "reachd/v1/offline"
	id := t.Name() + "/offline"

	off := paho.NewClient(persistent(url, id))
	waitToken(t, off.Connect())
	waitToken(t, off.Subscribe(topic, 1, nil))
	off.Disconnect(0)

	pub := connectMQTT(t, url, "pub")
	for i := range 4 * maxInflight {
		waitToken(t, pub.Publish(topic, 1, false, fmt.Sprint("queued ", i)))
	}
	// The PUBACK comes before the broker hands a message to subscribers; it
	// handles one client's packets in order, so once a later message from
	// pub has reached a subscriber, every queued one has been handed over.
	sync := subscribe(t, connectMQTT(t, url, "sync"), "reachd/v1/sync", 0)
	waitToken(t, pub.Publish("reachd/v1/sync", 0, false, "sync"))
	receive(t, sync)

	got := make(chan paho.Message, 8*maxInflight)
	back := paho.NewClient(persistent(url, id).SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { got <- m }))
	waitToken(t, back.Connect())
	t.Cleanup(func() { back.Disconnect(0) })
	// The broker resends what it kept right after CONNACK, in one burst.
	for range maxInflight {
		if m := receive(t, got); !strings.HasPrefix(string(m.Payload()), "queued ") {
			t.Fatalf("got %q, want a kept message", m.Payload())
		}
	}
	// Anything more it kept came in the same burst, before this marker
	// (QoS 0: not held, so not subject to the cap).
	waitToken(t, pub.Publish(topic, 0, false, "marker"))
	for {
		m := receive(t, got)
		if string(m.Payload()) == "marker" {
			break
		}
		t.Errorf("more than %d messages kept for the offline session: %q", maxInflight, m.Payload())
	}
}

func TestMQTTPacketOverMaxRefused(t *testing.T) {
	const maxPacket = 1024
	s := rendezvoustest.Start(t, rendezvoustest.WithAnonymous(), func(c *rendezvous.Config) { c.MQTTMaxPacket = maxPacket })
	url := rendezvoustest.MQTTURL(s)
	topic := "reachd/v1/max"
	sub := connectMQTT(t, url, "sub")
	got := subscribe(t, sub, topic, 1)

	lost := make(chan error, 1)
	big := paho.NewClient(mqttOptions(url, t.Name()+"/big").SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err }))
	waitToken(t, big.Connect())
	t.Cleanup(func() { big.Disconnect(0) })
	big.Publish(topic, 0, false, make([]byte, maxPacket))
	select {
	case <-lost:
	case <-time.After(waitLimit):
		t.Fatal("a publisher of a packet over MQTTMaxPacket was not disconnected")
	}

	pub := connectMQTT(t, url, "pub")
	payload := make([]byte, maxPacket-4-2-len(topic)-2) // the largest that fits
	waitToken(t, pub.Publish(topic, 1, false, payload))
	if m := receive(t, got); len(m.Payload()) != len(payload) {
		t.Fatalf("received %d bytes, want %d (the oversized one must not arrive)", len(m.Payload()), len(payload))
	}
}

func TestMQTTLimitsInvalid(t *testing.T) {
	tests := []struct {
		name string
		edit func(*rendezvous.Config)
	}{
		{"negative clients", func(c *rendezvous.Config) { c.MQTTMaxClients = -1 }},
		{"inflight beyond 65535", func(c *rendezvous.Config) { c.MQTTMaxInflight = 1 << 16 }},
		{"packet too small", func(c *rendezvous.Config) { c.MQTTMaxPacket = 10 }},
		{"packet beyond mqtt", func(c *rendezvous.Config) { c.MQTTMaxPacket = 1 << 29 }},
		{"expiry below a second", func(c *rendezvous.Config) { c.MQTTSessionExpiry = time.Millisecond }},
		{"negative queue", func(c *rendezvous.Config) { c.MQTTMaxQueued = -5 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := rendezvous.Config{MQTTListen: "127.0.0.1:0", TURNListen: "127.0.0.1:0"}
			tt.edit(&cfg)
			s, err := rendezvous.New(cfg)
			if err == nil {
				s.Close()
				t.Fatal("New accepted the config")
			}
			if !errors.Is(err, rendezvous.ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
		})
	}
}

// mochi logs a whole packet, payload included, when a client breaks a rule;
// the logs carry its size instead.
func TestMQTTLogsPacketSizeNotPayload(t *testing.T) {
	var out syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := rendezvoustest.Start(t, rendezvoustest.WithAnonymous(), rendezvoustest.WithLogger(log))

	c, err := net.DialTimeout("tcp", s.MQTTAddr(), waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	connect := []byte{0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x01, 'x'}
	if _, err := c.Write(connect); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		t.Fatalf("connack: %v", err)
	}
	// PUBLISH QoS 0 to "a/#": a wildcard is not a valid topic name.
	const secret = "SECRET-PAYLOAD"
	publish := append([]byte{0x30, byte(2 + 3 + len(secret)), 0x00, 0x03, 'a', '/', '#'}, secret...)
	if _, err := c.Write(publish); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(c); err != nil { // the broker ends the connection
		t.Fatalf("read until the broker closes: %v", err)
	}
	rendezvoustest.MQTTURL(s) // nothing: keeps the server alive until here
	// The log line may follow the close by a moment: close the server,
	// which waits for its goroutines.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	logs := out.String()
	if strings.Contains(logs, secret) {
		t.Errorf("the payload was logged:\n%s", logs)
	}
	if !strings.Contains(logs, fmt.Sprintf("payload_bytes=%d", len(secret))) {
		t.Errorf("the packet's size was not logged:\n%s", logs)
	}
}
