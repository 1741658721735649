package identity_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/reachd/reachd/identity"
)

func ExampleLoadOrCreate() {
	dir, err := os.MkdirTemp("", "reachd-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	id, err := identity.LoadOrCreate(dir) // creates dir/node.key
	if err != nil {
		log.Fatal(err)
	}
	again, err := identity.LoadOrCreate(dir) // loads it
	if err != nil {
		log.Fatal(err)
	}
	sig := id.Sign([]byte("hello"))
	fmt.Println(len(id.NodeID()), again.NodeID() == id.NodeID(), identity.Verify(id.NodeID(), []byte("hello"), sig))
	// Output: 52 true true
}

// Outbound peer connections pin the peer's node ID; inbound ones accept any
// valid node key and read it from the handshake with NodeIDFromCert.
func ExampleVerifyPeer() {
	dir, err := os.MkdirTemp("", "reachd-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	id, err := identity.LoadOrCreate(dir)
	if err != nil {
		log.Fatal(err)
	}
	cert, err := id.TLSCertificate()
	if err != nil {
		log.Fatal(err)
	}
	peer := "5ta3lbzh6pyswmmuranj5s454czizz5sa4rq3dutb7q3zz26evwa"
	client := &tls.Config{
		MinVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{cert},
		InsecureSkipVerify:    true, // no CA: VerifyPeer checks the key instead
		VerifyPeerCertificate: identity.VerifyPeer(peer),
	}
	server := &tls.Config{
		MinVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{cert},
		ClientAuth:            tls.RequireAnyClientCert,
		VerifyPeerCertificate: identity.VerifyPeer(""),
	}
	fmt.Println(client.MinVersion == tls.VersionTLS13, server.ClientAuth)
	// Output: true RequireAnyClientCert
}

// A daemon locks its data dir before loading the key, and holds the lock
// until it exits; a second one on the same dir is refused.
func ExampleLockDataDir() {
	dir, err := os.MkdirTemp("", "reachd-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	lock, err := identity.LockDataDir(dir)
	if err != nil {
		log.Fatal(err) // e.g. "identity: data dir ... is in use by another process (pid 4242), ..."
	}
	defer lock.Close()
	id, err := identity.LoadOrCreate(dir)
	if err != nil {
		log.Fatal(err)
	}

	_, err = identity.LockDataDir(dir) // a second daemon
	fmt.Println(len(id.NodeID()), errors.Is(err, identity.ErrDataDirLocked))
	// Output: 52 true
}
