package signaling

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// subscribeFailed is the SUBACK return code for a refused subscription.
const subscribeFailed = 0x80

// disconnectQuiesce is how long Close lets a broker connection flush.
const disconnectQuiesce = 250 // ms

// BrokerStatus is one configured broker's state (for a cluster, of the
// members the node uses).
type BrokerStatus struct {
	URL       string   `json:"url"`                  // as configured: a cluster's members joined by '|'
	Offset    int      `json:"offset"`               // index in Config.Brokers
	Connected bool     `json:"connected"`            // connected and subscribed to our topic
	Members   []string `json:"members,omitempty"`    // of a cluster: the members connected and subscribed
	LastError string   `json:"last_error,omitempty"` // last connect, subscribe or publish error
	Connects  uint64   `json:"connects"`             // successful (re)subscriptions
	In        uint64   `json:"messages_in"`          // messages received on our topic
	Out       uint64   `json:"messages_out"`         // messages published (acknowledged or not)
	Drops     uint64   `json:"drops"`                // received messages dropped, any reason
}

// broker owns one paho client: the connection to one broker, or to one
// member of a cluster. Paho callbacks never block: OnConnect wakes run,
// which subscribes; messages go to the Client's bounded queue.
type broker struct {
	c      *Client
	e      *entry
	offset int    // of the entry
	url    string // of this broker or member
	log    *slog.Logger
	// newPaho makes a paho client with a client ID of its own; reconnect
	// replaces the client with a new one (client returns the current).
	newPaho func() (mqtt.Client, error)
	pahoMu  sync.Mutex
	paho    mqtt.Client   // pahoMu
	wake    chan struct{} // capacity 1: a connection came up

	life    sync.Mutex // orders reconnect against run's end
	stopped bool       // run ended: nothing connects again; life

	mu        sync.Mutex
	epoch     uint64 // bumped on every connect and every loss
	connected bool
	since     time.Time // when it was started or last lost its connection
	failed    bool      // a connect failed or the connection was lost since then
	ours      bool      // the connection was dropped by Reconnect and has not come back
	undialled bool      // the last connect attempt could not even dial (nothing listens)
	lastErr   string

	rtt atomic.Int64 // ns of the last SUBACK or PUBACK round trip
}

func newBroker(e *entry, raw string) (*broker, error) {
	c, offset := e.c, e.offset
	u, err := pahoURL(raw)
	if err != nil {
		return nil, err
	}
	b := &broker{
		c:      c,
		e:      e,
		offset: offset,
		url:    raw,
		log:    c.log.With("broker", raw),
		wake:   make(chan struct{}, 1),
		since:  time.Now(),
	}
	cfg := &c.cfg
	o := mqtt.NewClientOptions()
	o.Servers = append(o.Servers, u)
	o.SetCleanSession(true)
	o.SetResumeSubs(false)
	o.SetOrderMatters(false)
	o.SetAutoReconnect(true)
	o.SetConnectRetry(true)
	o.SetConnectRetryInterval(cfg.ConnectRetryInterval)
	o.SetMaxReconnectInterval(cfg.MaxReconnectInterval)
	o.SetConnectTimeout(cfg.ConnectTimeout)
	o.SetKeepAlive(cfg.KeepAlive)
	o.SetPingTimeout(min(cfg.KeepAlive/2, 10*time.Second))
	o.SetWriteTimeout(cfg.WriteTimeout)
	o.SetDialer(&net.Dialer{Timeout: cfg.ConnectTimeout})
	if cfg.TLSConfig != nil {
		o.SetTLSConfig(cfg.TLSConfig)
	}
	if u.User == nil {
		// Sign in with the node key, afresh on every (re)connection.
		addr, err := BrokerAddr(raw)
		if err != nil {
			return nil, err
		}
		o.SetCredentialsProvider(func() (string, string) {
			return c.id.NodeID(), LoginPassword(c.id, addr, cfg.Now())
		})
	}
	o.SetOnConnectHandler(func(mqtt.Client) { b.onConnect() })
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { b.onLost(err) })
	o.SetConnectionNotificationHandler(func(_ mqtt.Client, n mqtt.ConnectionNotification) {
		if f, ok := n.(mqtt.ConnectionNotificationFailed); ok {
			b.setErr(fmt.Errorf("connect: %w", f.Reason))
			b.mu.Lock()
			// After our own Reconnect a broker may refuse the client ID
			// until it has closed the session we left (NATS does, for up
			// to its 4 s JetStream timeout per subscription): only not
			// connecting within ConnectTimeout counts then.
			b.failed = b.failed || !b.ours
			var op *net.OpError
			b.undialled = errors.As(f.Reason, &op) && op.Op == "dial"
			b.mu.Unlock()
			e.wakeManager()
		}
	})
	b.newPaho = func() (mqtt.Client, error) {
		var rnd [4]byte
		if _, err := rand.Read(rnd[:]); err != nil {
			return nil, fmt.Errorf("signaling: client id: %w", err)
		}
		// 23 characters, the MQTT 3.1.1 limit every broker accepts; the
		// random part keeps two processes of one node from taking over
		// each other's session, and a reconnect from its old one.
		o.SetClientID("reachd-" + c.id.NodeID()[:8] + hex.EncodeToString(rnd[:]))
		return mqtt.NewClient(o), nil // NewClient copies the options
	}
	if b.paho, err = b.newPaho(); err != nil {
		return nil, err
	}
	return b, nil
}

// client is the current paho client.
func (b *broker) client() mqtt.Client {
	b.pahoMu.Lock()
	defer b.pahoMu.Unlock()
	return b.paho
}

// run connects, keeps the subscription in place on every (re)connection and
// disconnects when ctx ends. Paho does the reconnecting.
func (b *broker) run(ctx context.Context) {
	b.client().Connect() // with ConnectRetry the token completes only once connected; not waited on
	defer func() {
		b.life.Lock()
		b.stopped = true
		b.client().Disconnect(disconnectQuiesce)
		b.life.Unlock()
		b.mu.Lock()
		b.connected = false
		b.epoch++
		b.mu.Unlock()
		b.c.notify()
	}()

	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
		case <-retry:
		}
		retry = nil
		if !b.subscribe(ctx) && b.client().IsConnectionOpen() {
			t := time.NewTimer(b.c.cfg.ConnectRetryInterval)
			retry = t.C
		}
	}
}

// subscribe subscribes to our topic on the current connection and reports
// whether the broker is now usable. The state turns connected only if no
// connect or loss happened meanwhile.
func (b *broker) subscribe(ctx context.Context) bool {
	b.mu.Lock()
	epoch := b.epoch
	b.mu.Unlock()

	sent := time.Now()
	tok := b.client().Subscribe(b.c.topic, 1, b.onMessage)
	t := time.NewTimer(b.c.cfg.ConnectTimeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		b.setErr(fmt.Errorf("subscribe %s: no SUBACK within %v", b.c.topic, b.c.cfg.ConnectTimeout))
		return false
	case <-tok.Done():
	}
	err := tok.Error()
	if err == nil {
		b.rtt.Store(int64(time.Since(sent)))
		if st, ok := tok.(*mqtt.SubscribeToken); ok && st.Result()[b.c.topic] == subscribeFailed {
			err = fmt.Errorf("refused by broker")
		}
	}
	if err != nil {
		b.setErr(fmt.Errorf("subscribe %s: %w", b.c.topic, err))
		return false
	}

	b.mu.Lock()
	ok := b.epoch == epoch && b.client().IsConnectionOpen()
	if ok {
		b.connected = true
		b.failed = false
		b.lastErr = ""
	}
	b.mu.Unlock()
	if ok {
		b.e.connects.Add(1)
		b.log.Info("subscribed", "topic", b.c.topic)
		for _, topic := range b.c.groupTopics() {
			b.subscribeGroup(topic)
		}
		b.c.notify()
	}
	return ok
}

func (b *broker) onConnect() {
	b.mu.Lock()
	b.epoch++
	b.ours = false
	b.undialled = false
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

func (b *broker) onLost(err error) { b.lost(err, true) }

// lost records the loss of the connection; failed says whether it counts
// against the broker (a cluster then takes another member), which a
// connection we dropped ourselves (Reconnect) does not, nor do the
// connect failures that follow it until it connects again.
func (b *broker) lost(err error, failed bool) {
	b.mu.Lock()
	b.epoch++
	was := b.connected
	b.connected = false
	b.since = time.Now()
	b.failed = b.failed || failed
	b.ours = !failed
	if err != nil {
		b.lastErr = "connection lost: " + err.Error()
	}
	b.mu.Unlock()
	b.log.Info("connection lost", "err", err)
	b.e.wakeManager() // to give up on it, or to time how long it may take
	if was {
		b.c.notify()
	}
}

// onMessage runs on a paho goroutine; it must not block.
func (b *broker) onMessage(_ mqtt.Client, m mqtt.Message) {
	b.e.in.Add(1)
	b.c.enqueue(b, m.Topic(), m.Payload())
}

func (b *broker) setErr(err error) {
	b.mu.Lock()
	b.lastErr = err.Error()
	b.mu.Unlock()
	b.log.Debug("broker error", "err", err)
}

func (b *broker) isConnected() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.connected
}

func (b *broker) state() (connected bool, lastErr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.connected, b.lastErr
}

// unreachable reports whether the last connect attempt could not dial.
func (b *broker) unreachable() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.undialled
}

func (b *broker) lastError() string {
	_, err := b.state()
	return err
}

// down reports whether the broker is to be given up on at now: not
// connected, and it failed or has not connected for stuck. Otherwise wait
// is how long until it would be for being stuck (0: it is connected).
func (b *broker) down(now time.Time, stuck time.Duration) (down bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.connected {
		return false, 0
	}
	left := b.since.Add(stuck).Sub(now)
	return b.failed || left <= 0, max(left, time.Millisecond)
}

// publish hands payload to the broker for topic at QoS 1 and returns the
// token that completes on PUBACK.
func (b *broker) publish(topic string, payload []byte) mqtt.Token {
	b.e.out.Add(1)
	return b.client().Publish(topic, 1, false, payload)
}
