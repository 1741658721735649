package signaling

import (
	"sync"
	"time"
)

// Round trips the client has seen, so that a strategy that needs the
// signaling round trip to a peer (a punch's meeting time) can size it
// without an echo of its own: the last echo to each peer, and each
// broker's own round trip (SUBACK, PUBACK).

// maxPeerRTTs bounds the peers whose last echo the client remembers.
const maxPeerRTTs = 4096

// peerRTTAge is how long an echo's round trip stands for the peer's.
const peerRTTAge = 10 * time.Minute

type rttSample struct {
	rtt time.Duration
	at  time.Time
}

// rttCache keeps the last echo round trip to each peer.
type rttCache struct {
	mu    sync.Mutex
	peers map[string]rttSample
}

func (c *rttCache) put(peer string, rtt time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.peers == nil {
		c.peers = make(map[string]rttSample)
	}
	if _, ok := c.peers[peer]; !ok && len(c.peers) >= maxPeerRTTs {
		for k := range c.peers { // forget one at random
			delete(c.peers, k)
			break
		}
	}
	c.peers[peer] = rttSample{rtt, time.Now()}
}

func (c *rttCache) get(peer string) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.peers[peer]
	if !ok || time.Since(s.at) > peerRTTAge {
		return 0, false
	}
	return s.rtt, true
}

// PeerRTT is the round trip of the last echo to the peer with node ID
// peer (Echo), when there was one within the last 10 minutes.
func (c *Client) PeerRTT(peer string) (time.Duration, bool) { return c.rtts.get(peer) }

// NoteRTT records rtt as a signaling round trip to peer, measured by a
// request the caller timed (one the peer answers without delay).
func (c *Client) NoteRTT(peer string, rtt time.Duration) {
	if rtt > 0 {
		c.rtts.put(peer, rtt)
	}
}

// BrokerRTT is the shortest round trip to a connected broker, from its
// last SUBACK or PUBACK; false before any.
func (c *Client) BrokerRTT() (time.Duration, bool) {
	var best time.Duration
	for _, e := range c.entries {
		for _, b := range e.brokers() {
			if !b.isConnected() {
				continue
			}
			if r := time.Duration(b.rtt.Load()); r > 0 && (best == 0 || r < best) {
				best = r
			}
		}
	}
	return best, best > 0
}
