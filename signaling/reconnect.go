package signaling

import "errors"

// errReconnect is why a connection Reconnect dropped was lost.
var errReconnect = errors.New("dropped to reconnect: our address changed")

// Reconnect drops the connection to every connected broker and connects
// again at once. After the node's external address changed, a connection
// made through the old one is dead, but nothing says so until the MQTT
// keepalive (Config.KeepAlive) goes unanswered; meanwhile nothing sent to
// the node arrives. A broker already reconnecting is left to it.
func (c *Client) Reconnect() {
	if c.closed.Load() || !c.started.Load() {
		return
	}
	for _, e := range c.entries {
		for _, b := range e.brokers() {
			b.reconnect()
		}
	}
}

func (b *broker) reconnect() {
	b.life.Lock()
	defer b.life.Unlock()
	old := b.client()
	if b.stopped || !old.IsConnectionOpen() {
		return
	}
	old.Disconnect(disconnectQuiesce)
	b.lost(errReconnect, false)
	// A new paho client with a client ID of its own: the broker need not
	// take over the old session, which it may not know is dead (NATS
	// refuses the ID until it has ended that session, up to 4 s).
	next, err := b.newPaho()
	if err != nil {
		b.setErr(err)
		next = old
	}
	b.pahoMu.Lock()
	b.paho = next
	b.pahoMu.Unlock()
	next.Connect() // with ConnectRetry it keeps trying; onConnect subscribes
}
