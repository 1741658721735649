package network

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/reachd/reachd/signaling"
)

// MinSecretLen is the shortest secret accepted, in bytes. Everything a
// network is found and joined by derives from its secret, and the topic
// (which a broker sees) allows an offline guess: a short secret would be
// found quickly.
const MinSecretLen = 16

// MaxSecretLen bounds a secret.
const MaxSecretLen = 1024

// Keys are what a network's secret and name derive (HKDF-SHA256, the secret
// as input key material, salt "reachd network v1", info a label, NUL and
// the name):
//
//	topic: reachd/v1/net/ + hex(HKDF(secret, "topic")[:16])
//	seal:  HKDF(secret, "seal"), 32 bytes: the group key of membership messages
//	link:  HKDF(secret, "link"), 32 bytes: proves knowledge of the secret in a link's hello
//
// So the topic and every message and link depend on the secret: who knows
// only the name can neither find the topic nor read or forge a message.
type Keys struct {
	Topic string
	Seal  [32]byte
	Link  [32]byte
}

const hkdfSalt = "reachd network v1"

// Derive returns the keys of network name with secret.
func Derive(name, secret string) (Keys, error) {
	var k Keys
	topic, err := derive(secret, "topic", name, 16)
	if err != nil {
		return k, err
	}
	k.Topic = signaling.GroupTopicPrefix + hex.EncodeToString(topic)
	seal, err := derive(secret, "seal", name, 32)
	if err != nil {
		return k, err
	}
	link, err := derive(secret, "link", name, 32)
	if err != nil {
		return k, err
	}
	copy(k.Seal[:], seal)
	copy(k.Link[:], link)
	return k, nil
}

func derive(secret, label, name string, n int) ([]byte, error) {
	b, err := hkdf.Key(sha256.New, []byte(secret), []byte(hkdfSalt), label+"\x00"+name, n)
	if err != nil {
		return nil, fmt.Errorf("network: derive %s key: %w", label, err)
	}
	return b, nil
}

// proof is what a link's hello carries to show the sender knows the
// secret: HMAC-SHA256(link key, from NUL to), bound to the ordered pair so
// it is useless on any other link.
func (k *Keys) proof(from, to string) [32]byte {
	h := hmac.New(sha256.New, k.Link[:])
	h.Write([]byte(from))
	h.Write([]byte{0})
	h.Write([]byte(to))
	return [32]byte(h.Sum(nil))
}
