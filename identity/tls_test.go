package identity_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reachd/reachd/identity"
)

func cert(t testing.TB, id *identity.Identity) tls.Certificate {
	t.Helper()
	c, err := id.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rawCert makes a self-signed (or parent-signed) certificate over pub.
func rawCert(t testing.TB, pub crypto.PublicKey, signer crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestTLSCertificate(t *testing.T) {
	id := mustIdentity(t)
	c := cert(t, id)
	if len(c.Certificate) != 1 || c.Leaf == nil {
		t.Fatalf("want one certificate with its leaf, got %d, leaf %v", len(c.Certificate), c.Leaf != nil)
	}
	if c.Leaf.Subject.CommonName != id.NodeID() {
		t.Errorf("CN = %q, want the node id", c.Leaf.Subject.CommonName)
	}
	if c.Leaf.NotAfter.Year() != 9999 || !c.Leaf.NotBefore.Before(time.Now()) {
		t.Errorf("validity %v .. %v, want from the past to 9999", c.Leaf.NotBefore, c.Leaf.NotAfter)
	}
	got, err := identity.NodeIDFromCert(c.Leaf)
	if err != nil || got != id.NodeID() {
		t.Fatalf("NodeIDFromCert(own cert) = %q, %v; want %s", got, err, id.NodeID())
	}
	if again := cert(t, id); string(again.Certificate[0]) != string(c.Certificate[0]) {
		t.Error("TLSCertificate made a new certificate on the second call")
	}
}

func TestVerifyPeer(t *testing.T) {
	alice, bob := mustIdentity(t), mustIdentity(t)
	aliceDER := cert(t, alice).Certificate[0]
	bobDER := cert(t, bob).Certificate[0]
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER := rawCert(t, ecKey.Public(), ecKey)

	// alice's key in a certificate signed by someone else.
	_, otherPriv, _ := ed25519GenerateKey(t)
	forgedDER := rawCert(t, alice.PublicKey(), otherPriv)

	tests := []struct {
		name     string
		expected string
		raw      [][]byte
		want     error
		msg      string
	}{
		{"any peer", "", [][]byte{aliceDER}, nil, ""},
		{"expected peer", alice.NodeID(), [][]byte{aliceDER}, nil, ""},
		{"other peer", alice.NodeID(), [][]byte{bobDER}, identity.ErrWrongPeer, "peer is node " + bob.NodeID() + ", want " + alice.NodeID()},
		{"no certificate", "", nil, identity.ErrBadPeerCert, "got 0 certificates"},
		{"two certificates", "", [][]byte{aliceDER, bobDER}, identity.ErrBadPeerCert, "got 2 certificates"},
		{"garbage", "", [][]byte{[]byte("nope")}, identity.ErrBadPeerCert, "bad peer certificate"},
		{"ecdsa key", "", [][]byte{ecDER}, identity.ErrBadPeerCert, "want ed25519"},
		{"not self-signed", alice.NodeID(), [][]byte{forgedDER}, identity.ErrBadPeerCert, "not self-signed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := identity.VerifyPeer(tt.expected)(tt.raw, nil)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.want, tt.msg)
			}
		})
	}
}

type handshakeResult struct {
	err    error
	peerID string
	state  tls.ConnectionState
}

// handshake runs a TLS handshake over net.Pipe. Each side's result includes
// the first read/write after the handshake, because in TLS 1.3 the client
// learns that the server refused its certificate only then.
func handshake(t *testing.T, clientCfg, serverCfg *tls.Config) (client, server handshakeResult) {
	t.Helper()
	c, s := net.Pipe()
	// net.Pipe has no buffer: when the client refuses the server, the server
	// is still writing its flight and the client's alert would block. Close
	// the client's end instead; Handshake still returns the verify error.
	clientCfg = clientCfg.Clone()
	verify := clientCfg.VerifyPeerCertificate
	clientCfg.VerifyPeerCertificate = func(raw [][]byte, chains [][]*x509.Certificate) error {
		err := verify(raw, chains)
		if err != nil {
			c.Close()
		}
		return err
	}
	// A safety net against a hung test, never reached when the code works.
	deadline := time.Now().Add(10 * time.Second)
	c.SetDeadline(deadline)
	s.SetDeadline(deadline)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer s.Close()
		ts := tls.Server(s, serverCfg)
		if server.err = ts.Handshake(); server.err != nil {
			return
		}
		server.state = ts.ConnectionState()
		server.peerID, server.err = identity.NodeIDFromCert(server.state.PeerCertificates[0])
		if server.err == nil {
			_, server.err = ts.Write([]byte("s"))
		}
	})
	func() {
		defer c.Close()
		tc := tls.Client(c, clientCfg)
		if client.err = tc.Handshake(); client.err != nil {
			return
		}
		client.state = tc.ConnectionState()
		client.peerID, client.err = identity.NodeIDFromCert(client.state.PeerCertificates[0])
		if client.err == nil {
			_, client.err = io.ReadFull(tc, make([]byte, 1))
		}
	}()
	wg.Wait()
	return client, server
}

func configs(t *testing.T, client, server *identity.Identity, clientExpects, serverExpects string) (*tls.Config, *tls.Config) {
	cc := &tls.Config{
		MinVersion:            tls.VersionTLS13,
		InsecureSkipVerify:    true, // VerifyPeer pins the key instead
		VerifyPeerCertificate: identity.VerifyPeer(clientExpects),
	}
	if client != nil {
		cc.Certificates = []tls.Certificate{cert(t, client)}
	}
	sc := &tls.Config{
		MinVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{cert(t, server)},
		ClientAuth:            tls.RequireAnyClientCert,
		VerifyPeerCertificate: identity.VerifyPeer(serverExpects),
	}
	return cc, sc
}

func TestTLSHandshake(t *testing.T) {
	alice, bob, eve := mustIdentity(t), mustIdentity(t), mustIdentity(t)

	t.Run("mutual", func(t *testing.T) {
		cc, sc := configs(t, alice, bob, bob.NodeID(), "")
		client, server := handshake(t, cc, sc)
		if client.err != nil || server.err != nil {
			t.Fatalf("client: %v, server: %v", client.err, server.err)
		}
		if client.state.Version != tls.VersionTLS13 {
			t.Errorf("version %x, want TLS 1.3", client.state.Version)
		}
		if client.peerID != bob.NodeID() || server.peerID != alice.NodeID() {
			t.Errorf("client sees %s (want bob %s), server sees %s (want alice %s)",
				client.peerID, bob.NodeID(), server.peerID, alice.NodeID())
		}
	})
	t.Run("client refuses wrong server", func(t *testing.T) {
		cc, sc := configs(t, alice, bob, eve.NodeID(), "")
		client, server := handshake(t, cc, sc)
		if !errors.Is(client.err, identity.ErrWrongPeer) {
			t.Fatalf("client err = %v, want ErrWrongPeer", client.err)
		}
		if msg := client.err.Error(); !strings.Contains(msg, bob.NodeID()) || !strings.Contains(msg, eve.NodeID()) {
			t.Errorf("client err %q does not name both nodes", msg)
		}
		if server.err == nil {
			t.Error("server completed a connection the client refused")
		}
	})
	t.Run("server refuses wrong client", func(t *testing.T) {
		cc, sc := configs(t, alice, bob, bob.NodeID(), eve.NodeID())
		client, server := handshake(t, cc, sc)
		if !errors.Is(server.err, identity.ErrWrongPeer) {
			t.Fatalf("server err = %v, want ErrWrongPeer", server.err)
		}
		if client.err == nil || !strings.Contains(client.err.Error(), "bad certificate") {
			t.Errorf("client err = %v, want a bad certificate alert", client.err)
		}
	})
	t.Run("server refuses client without certificate", func(t *testing.T) {
		cc, sc := configs(t, nil, bob, bob.NodeID(), "")
		client, server := handshake(t, cc, sc)
		if server.err == nil || client.err == nil {
			t.Fatalf("client: %v, server: %v; want both to fail", client.err, server.err)
		}
	})
	t.Run("client refuses ecdsa server", func(t *testing.T) {
		ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		cc, sc := configs(t, alice, bob, "", "")
		sc.Certificates = []tls.Certificate{{Certificate: [][]byte{rawCert(t, ecKey.Public(), ecKey)}, PrivateKey: ecKey}}
		client, _ := handshake(t, cc, sc)
		if !errors.Is(client.err, identity.ErrBadPeerCert) {
			t.Fatalf("client err = %v, want ErrBadPeerCert", client.err)
		}
	})
}

func ed25519GenerateKey(t testing.TB) (crypto.PublicKey, crypto.Signer, error) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv, nil
}
