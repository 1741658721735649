package signaling

import (
	"context"
	"errors"
)

// enqueue hands a received payload to the workers without blocking.
func (c *Client) enqueue(b *broker, topic string, payload []byte) {
	if len(payload) > MaxMessageSize { // don't hold oversized payloads in the queue
		c.dropped(b, &DropError{Reason: DropOversized}, len(payload))
		return
	}
	select {
	case c.queue <- inbound{b: b, topic: topic, payload: payload}:
	default:
		c.dropped(b, &DropError{Reason: DropQueueFull}, len(payload))
	}
}

// work checks queued messages and dispatches them until Close.
func (c *Client) work() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case in := <-c.queue:
			c.receive(in)
		}
	}
}

func (c *Client) receive(in inbound) {
	if in.topic != c.topic {
		c.receiveGroup(in)
		return
	}
	now := c.cfg.Now()
	m, err := open(c.id, in.payload, Policy{Now: now, MaxSkew: c.cfg.MaxSkew, MaxTTL: c.cfg.MaxTTL}, c.keys.shared)
	if err != nil {
		c.dropped(in.b, err, len(in.payload))
		return
	}
	m.Broker, m.BrokerOffset = in.b.url, in.b.offset
	if r := c.replay.check(m.From, m.ID, m.Sent.UnixMilli(), m.Expires().UnixMilli(), now.UnixMilli()); r != "" {
		c.dropped(in.b, &DropError{Reason: r}, len(in.payload), "from", m.From, "id", m.ID)
		if r == DropReplayFull {
			c.refuseForLoad(m)
		}
		return
	}
	c.dispatch(in.b, m)
}

// refuseForLoad answers a request the replay cache had no room for with
// an error, so that its sender learns it at once instead of waiting out
// its timeout. Replies are not answered (no loops).
func (c *Client) refuseForLoad(m *Message) {
	if m.Re != "" || Error.Is(m) {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.TTL)
	defer cancel()
	if err := c.Reply(ctx, m, Error, ErrorBody{Reason: "busy: too many signaling messages at once"}); err != nil {
		c.log.Debug("refusal for load", "to", m.From, "err", err)
	}
}

// dispatch delivers m to the Request waiting for it, else to its type's
// handler.
func (c *Client) dispatch(b *broker, m *Message) {
	c.mu.Lock()
	var h Handler
	p, ok := c.pending[m.Re]
	if ok && m.Re != "" && p.answers(m) {
		delete(c.pending, m.Re)
	} else {
		p = nil
		h = c.handlers[m.Type]
	}
	c.mu.Unlock()

	switch {
	case p != nil:
		p.ch <- m // capacity 1, and the entry was removed: never blocks
	case h != nil:
		h(c.ctx, m)
	default:
		c.dropped(b, &DropError{Reason: DropUnhandled}, 0, "type", m.Type, "from", m.From, "id", m.ID)
	}
}

func (c *Client) dropped(b *broker, err error, size int, attrs ...any) {
	var de *DropError
	if !errors.As(err, &de) {
		de = &DropError{Reason: DropMalformed, Err: err}
	}
	if i, ok := dropIndex[de.Reason]; ok {
		c.drops[i].Add(1)
	}
	b.e.drops.Add(1)
	c.notify()
	c.log.Debug("drop", append([]any{"reason", de.Reason, "broker", b.url, "bytes", size, "err", err}, attrs...)...)
}

// handleEcho answers an echo with an echo_reply carrying the same body.
func (c *Client) handleEcho(ctx context.Context, m *Message) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.TTL)
	defer cancel()
	if err := c.Reply(ctx, m, EchoReply, m.Body); err != nil {
		c.log.Debug("echo reply", "to", m.From, "err", err)
	}
}
