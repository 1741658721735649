package identity_test

import (
	"bytes"
	"crypto/rand"
	"testing"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"

	"github.com/reachd/reachd/identity"
)

func TestBoxKeysMatch(t *testing.T) {
	// The private key derived from the seed and the public key derived from
	// the Ed25519 point must be the two halves of one X25519 key pair.
	for range 5 {
		id := mustIdentity(t)
		priv := id.BoxPrivateKey()
		pub, err := identity.BoxPublicKey(id.NodeID())
		if err != nil {
			t.Fatal(err)
		}
		fromPriv, err := curve25519.X25519(priv[:], curve25519.Basepoint)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fromPriv, pub[:]) {
			t.Fatalf("X25519(BoxPrivateKey) = %x, BoxPublicKey = %x", fromPriv, pub[:])
		}
	}
}

func TestBoxSealOpen(t *testing.T) {
	alice, bob, eve := mustIdentity(t), mustIdentity(t), mustIdentity(t)
	bobPub, err := identity.BoxPublicKey(bob.NodeID())
	if err != nil {
		t.Fatal(err)
	}
	alicePub, err := identity.BoxPublicKey(alice.NodeID())
	if err != nil {
		t.Fatal(err)
	}
	var nonce [24]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		t.Fatal(err)
	}
	msg := []byte(`{"type":"punch","port":40001}`)
	sealed := box.Seal(nil, msg, &nonce, bobPub, alice.BoxPrivateKey())

	opened, ok := box.Open(nil, sealed, &nonce, alicePub, bob.BoxPrivateKey())
	if !ok || !bytes.Equal(opened, msg) {
		t.Fatalf("bob could not open alice's box: ok=%v %q", ok, opened)
	}
	if _, ok := box.Open(nil, sealed, &nonce, alicePub, eve.BoxPrivateKey()); ok {
		t.Fatal("eve opened a box sealed to bob")
	}
	evePub, _ := identity.BoxPublicKey(eve.NodeID())
	if _, ok := box.Open(nil, sealed, &nonce, evePub, bob.BoxPrivateKey()); ok {
		t.Fatal("box opened with the wrong sender key")
	}
}

func TestBoxPrivateKeyIsCopy(t *testing.T) {
	id := mustIdentity(t)
	k := id.BoxPrivateKey()
	want := *k
	k[0] ^= 0xff
	if *id.BoxPrivateKey() != want {
		t.Fatal("modifying the returned key changed the identity")
	}
}
