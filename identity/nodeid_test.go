package identity_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strings"
	"testing"

	"github.com/reachd/reachd/identity"
)

func TestNodeIDKnownAnswer(t *testing.T) {
	// Ed25519 key from a fixed seed; node ID computed with encoding/base32.
	seed := sha256.Sum256([]byte("alice"))
	pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
	const want = "2w7uup6m44l3aoelzqtut26bjcwzs2nsh5c64g3al7kyo6cxnlca"
	if got := identity.NodeIDFromKey(pub); got != want {
		t.Fatalf("NodeIDFromKey = %s, want %s", got, want)
	}
	std := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(pub))
	if std != want {
		t.Fatalf("test vector disagrees with encoding/base32: %s", std)
	}
	key, err := identity.KeyFromNodeID(want)
	if err != nil || !key.Equal(pub) {
		t.Fatalf("KeyFromNodeID = %x, %v; want %x", key, err, pub)
	}
}

func TestInvalidNodeIDs(t *testing.T) {
	good := mustIdentity(t).NodeID()
	enc := func(b []byte) string {
		return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
	}
	identityPoint := make([]byte, 32)
	identityPoint[0] = 1 // (0, 1), the neutral element: small order
	notOnCurve := make([]byte, 32)
	notOnCurve[0] = 2 // y = 2 has no x on edwards25519
	nonCanonical := make([]byte, 32)
	for i := range nonCanonical {
		nonCanonical[i] = 0xff
	}
	nonCanonical[0] = 0xee // y = 2^255-19+1 ≡ 1 (mod p), non-canonical encoding
	nonCanonical[31] = 0x7f

	tests := []struct {
		name, id, reason string
	}{
		{"empty", "", "has 0 characters"},
		{"short", good[:51], "has 51 characters"},
		{"uppercase", strings.ToUpper(good), "not lowercase base32"},
		{"bad char", "1" + good[1:], "not lowercase base32"},
		{"newline", good[:51] + "\n", "not"},
		{"trailing bits", good[:51] + "b", "not canonical base32"},
		{"small order", enc(identityPoint), "small-order"},
		{"not on curve", enc(notOnCurve), "not a curve point"},
		{"non-canonical point", enc(nonCanonical), "non-canonical point"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := identity.ValidNodeID(tt.id)
			if !errors.Is(err, identity.ErrInvalidNodeID) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("ValidNodeID(%q) = %v, want ErrInvalidNodeID with %q", tt.id, err, tt.reason)
			}
			if _, err := identity.KeyFromNodeID(tt.id); !errors.Is(err, identity.ErrInvalidNodeID) {
				t.Errorf("KeyFromNodeID = %v", err)
			}
			if _, err := identity.BoxPublicKey(tt.id); !errors.Is(err, identity.ErrInvalidNodeID) {
				t.Errorf("BoxPublicKey = %v", err)
			}
			if identity.Verify(tt.id, []byte("m"), make([]byte, 64)) {
				t.Error("Verify accepted a signature for an invalid node id")
			}
		})
	}
	if err := identity.ValidNodeID(good); err != nil {
		t.Fatalf("ValidNodeID(own id) = %v", err)
	}
}

func TestSignVerify(t *testing.T) {
	a, b := mustIdentity(t), mustIdentity(t)
	msg := []byte("punch at 12:00:00.000")
	sig := a.Sign(msg)
	tests := []struct {
		name   string
		nodeID string
		msg    []byte
		sig    []byte
		want   bool
	}{
		{"valid", a.NodeID(), msg, sig, true},
		{"other node", b.NodeID(), msg, sig, false},
		{"changed message", a.NodeID(), []byte("punch at 12:00:00.001"), sig, false},
		{"short signature", a.NodeID(), msg, sig[:63], false},
		{"no signature", a.NodeID(), msg, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := identity.Verify(tt.nodeID, tt.msg, tt.sig); got != tt.want {
				t.Fatalf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}
