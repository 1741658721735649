package rendezvous_test

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/rendezvous"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/signaling"
)

const waitLimit = 5 * time.Second // bound on every wait in these tests

func TestMQTTPublishSubscribe(t *testing.T) {
	s := rendezvoustest.Start(t, rendezvoustest.WithAnonymous())
	tcp, ws := rendezvoustest.MQTTURL(s), rendezvoustest.MQTTWSURL(s)
	tests := []struct {
		name     string
		sub, pub string
		qos      byte
	}{
		{name: "tcp", sub: tcp, pub: tcp, qos: 1},
		{name: "websocket", sub: ws, pub: ws, qos: 1},
		{name: "tcp to websocket", sub: ws, pub: tcp, qos: 0},
		{name: "websocket to tcp", sub: tcp, pub: ws, qos: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := "reachd/v1/" + t.Name()
			sub := connectMQTT(t, tt.sub, "sub")
			pub := connectMQTT(t, tt.pub, "pub")
			got := subscribe(t, sub, topic, tt.qos)

			// Larger than one WebSocket read and than paho's buffers,
			// with every byte value.
			payload := make([]byte, 64<<10)
			rand.Read(payload)
			waitToken(t, pub.Publish(topic, tt.qos, false, payload))

			m := receive(t, got)
			if m.Topic() != topic {
				t.Errorf("topic = %q, want %q", m.Topic(), topic)
			}
			if !bytes.Equal(m.Payload(), payload) {
				t.Errorf("payload differs: got %d bytes, want %d", len(m.Payload()), len(payload))
			}
		})
	}
}

func TestMQTTLimits(t *testing.T) {
	s := rendezvoustest.Start(t, rendezvoustest.WithAnonymous())
	url := rendezvoustest.MQTTURL(s)

	t.Run("oversized packet disconnects the publisher", func(t *testing.T) {
		topic := "reachd/v1/big"
		sub := connectMQTT(t, url, "sub")
		got := subscribe(t, sub, topic, 1)

		lost := make(chan error, 1)
		opts := mqttOptions(url, "big-pub").SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
		pub := paho.NewClient(opts)
		waitToken(t, pub.Connect())
		t.Cleanup(func() { pub.Disconnect(0) })

		pub.Publish(topic, 0, false, make([]byte, rendezvous.DefaultMQTTMaxPacket))
		select {
		case err := <-lost:
			t.Logf("publisher disconnected: %v", err)
		case <-time.After(waitLimit):
			t.Fatal("publisher of an oversized packet was not disconnected")
		}

		// Anything the broker accepted from the publisher was delivered
		// before it dropped the connection; the marker comes after.
		marker := connectMQTT(t, url, "marker")
		waitToken(t, marker.Publish(topic, 1, false, "marker"))
		if m := receive(t, got); string(m.Payload()) != "marker" {
			t.Fatalf("received %d bytes before the marker; oversized packet was delivered", len(m.Payload()))
		}
	})

	t.Run("largest packet is delivered", func(t *testing.T) {
		topic := "reachd/v1/max"
		sub := connectMQTT(t, url, "sub")
		got := subscribe(t, sub, topic, 1)
		pub := connectMQTT(t, url, "pub")
		// PUBLISH: fixed header (1 + 3 length bytes), topic (2 + len),
		// packet ID (2).
		payload := make([]byte, rendezvous.DefaultMQTTMaxPacket-4-2-len(topic)-2)
		waitToken(t, pub.Publish(topic, 1, false, payload))
		if m := receive(t, got); len(m.Payload()) != len(payload) {
			t.Fatalf("received %d bytes, want %d", len(m.Payload()), len(payload))
		}
	})

	t.Run("retained publish refused and not stored", func(t *testing.T) {
		topic := "reachd/v1/retained"
		lost := make(chan error, 1)
		pub := paho.NewClient(mqttOptions(url, t.Name()+"/pub").SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err }))
		waitToken(t, pub.Connect())
		t.Cleanup(func() { pub.Disconnect(0) })
		// MQTT 3.1.1 cannot say "retain not available": the broker closes
		// the connection, as mosquitto does.
		tok := pub.Publish(topic, 1, true, "retained")
		tok.WaitTimeout(waitLimit)
		if tok.Error() == nil {
			t.Error("a RETAIN publish was acknowledged")
		}
		select {
		case <-lost:
		case <-time.After(waitLimit):
			t.Fatal("a RETAIN publisher was not disconnected")
		}

		sub := connectMQTT(t, url, "sub")
		got := subscribe(t, sub, topic, 1)
		live := connectMQTT(t, url, "live")
		waitToken(t, live.Publish(topic, 1, false, "live"))
		if m := receive(t, got); string(m.Payload()) != "live" {
			t.Fatalf("first message = %q, want %q (no retained message)", m.Payload(), "live")
		}
	})
}

func mqttOptions(url, id string) *paho.ClientOptions {
	return paho.NewClientOptions().
		AddBroker(url).
		SetClientID(id).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(waitLimit)
}

// connectMQTT connects a paho client (client ID unique per test), signed
// in as a new node, and disconnects it when the test ends.
func connectMQTT(t *testing.T, url, id string) paho.Client {
	t.Helper()
	c, _ := connectNode(t, url, id)
	return c
}

// connectNode is connectMQTT that also returns the node's identity.
func connectNode(t *testing.T, url, id string) (paho.Client, *identity.Identity) {
	t.Helper()
	nid := newIdentity(t)
	c := paho.NewClient(withLogin(t, mqttOptions(url, t.Name()+"/"+id), url, nid))
	waitToken(t, c.Connect())
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nid
}

// withLogin makes o sign in as nid, as nodes do.
func withLogin(t *testing.T, o *paho.ClientOptions, url string, nid *identity.Identity) *paho.ClientOptions {
	t.Helper()
	addr, err := signaling.BrokerAddr(url)
	if err != nil {
		t.Fatal(err)
	}
	return o.SetCredentialsProvider(func() (string, string) {
		return nid.NodeID(), signaling.LoginPassword(nid, addr, time.Now())
	})
}

func newIdentity(t *testing.T) *identity.Identity {
	t.Helper()
	id, err := identity.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func subscribe(t *testing.T, c paho.Client, topic string, qos byte) <-chan paho.Message {
	t.Helper()
	got := make(chan paho.Message, 16)
	waitToken(t, c.Subscribe(topic, qos, func(_ paho.Client, m paho.Message) { got <- m }))
	return got
}

func receive(t *testing.T, got <-chan paho.Message) paho.Message {
	t.Helper()
	select {
	case m := <-got:
		return m
	case <-time.After(waitLimit):
		t.Fatal("no message received")
		return nil
	}
}

func waitToken(t *testing.T, tok paho.Token) {
	t.Helper()
	if !tok.WaitTimeout(waitLimit) {
		t.Fatal("mqtt: timed out")
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("mqtt: %v", err)
	}
}
