package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
)

// Generate returns a new identity kept in memory only: for a process
// that signs for the length of its run (the rendezvous's name service)
// and for tests.
func Generate() (*Identity, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generate: %w", err)
	}
	return newIdentity(priv), nil
}
