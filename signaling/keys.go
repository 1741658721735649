package signaling

import (
	"sync"

	"github.com/reachd/reachd/identity"
)

// maxSharedKeys bounds the shared-key cache.
const maxSharedKeys = 1024

// keyCache remembers the NaCl box key shared with each peer: computing it is
// an X25519 scalar multiplication, about half the CPU cost of a message.
// Keys are added only for senders whose signature verified and for
// recipients we chose; when full, an arbitrary entry makes room.
type keyCache struct {
	compute sharedKeyFunc
	mu      sync.Mutex
	keys    map[string]*[32]byte
}

func newKeyCache(self *identity.Identity) *keyCache {
	return &keyCache{compute: uncachedShared(self), keys: make(map[string]*[32]byte)}
}

func (c *keyCache) shared(peer string) (*[32]byte, error) {
	c.mu.Lock()
	k, ok := c.keys[peer]
	c.mu.Unlock()
	if ok {
		return k, nil
	}
	k, err := c.compute(peer)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.keys) >= maxSharedKeys {
		for p := range c.keys {
			delete(c.keys, p)
			break
		}
	}
	c.keys[peer] = k
	return k, nil
}
