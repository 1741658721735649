package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base32"
	"fmt"

	"filippo.io/edwards25519"
)

// NodeIDLen is the length of a node ID: unpadded base32 of 32 bytes.
const NodeIDLen = 52

const nodeIDLen = NodeIDLen

var nodeIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NodeIDFromKey returns the node ID of an Ed25519 public key.
func NodeIDFromKey(pub ed25519.PublicKey) string {
	return nodeIDEncoding.EncodeToString(pub)
}

// KeyFromNodeID decodes a node ID. It accepts only the canonical text of a
// canonically encoded Ed25519 point that is not of small order, so every
// usable key has exactly one node ID. Errors wrap [ErrInvalidNodeID].
func KeyFromNodeID(id string) (ed25519.PublicKey, error) {
	key, _, err := decodeNodeID(id)
	return key, err
}

// ValidNodeID reports why id is not the node ID of a usable Ed25519 key, or
// nil. Errors wrap [ErrInvalidNodeID].
func ValidNodeID(id string) error {
	_, _, err := decodeNodeID(id)
	return err
}

// Verify reports whether sig is nodeID's Ed25519 signature of msg. It is
// false for an invalid node ID.
func Verify(nodeID string, msg, sig []byte) bool {
	key, err := KeyFromNodeID(nodeID)
	return err == nil && ed25519.Verify(key, msg, sig)
}

// BoxPublicKey returns the X25519 public key of a node for NaCl box: its
// Ed25519 public key mapped from Edwards to Montgomery form.
func BoxPublicKey(nodeID string) (*[32]byte, error) {
	_, p, err := decodeNodeID(nodeID)
	if err != nil {
		return nil, err
	}
	var k [32]byte
	copy(k[:], p.BytesMontgomery())
	return &k, nil
}

func decodeNodeID(id string) (ed25519.PublicKey, *edwards25519.Point, error) {
	invalid := func(reason string) (ed25519.PublicKey, *edwards25519.Point, error) {
		q := id
		if len(q) > 64 {
			q = q[:64] + "..."
		}
		return nil, nil, fmt.Errorf("%w %q: %s", ErrInvalidNodeID, q, reason)
	}
	if len(id) != nodeIDLen {
		return invalid(fmt.Sprintf("has %d characters, want %d", len(id), nodeIDLen))
	}
	b, err := nodeIDEncoding.DecodeString(id)
	if err != nil {
		return invalid("not lowercase base32 (a-z, 2-7)")
	}
	if len(b) != ed25519.PublicKeySize || nodeIDEncoding.EncodeToString(b) != id {
		return invalid("not canonical base32 (last character must be a or q)")
	}
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		return invalid("not an ed25519 public key (not a curve point)")
	}
	if !bytes.Equal(p.Bytes(), b) {
		return invalid("not an ed25519 public key (non-canonical point encoding)")
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return invalid("not an ed25519 public key (small-order point)")
	}
	return ed25519.PublicKey(b), p, nil
}
