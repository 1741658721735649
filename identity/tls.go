package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// Certificates never expire in practice: peers are authenticated by key,
// not by a CA or the clock, and VerifyPeer ignores the validity period.
var (
	certNotBefore = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	certNotAfter  = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC) // RFC 5280 "no expiry"
)

// TLSCertificate returns a self-signed certificate over the node key, for
// both sides of a TLS 1.3 peer connection. It is made once and reused;
// callers must not modify it.
func (id *Identity) TLSCertificate() (tls.Certificate, error) {
	id.certOnce.Do(func() { id.cert, id.certErr = id.makeCert() })
	return id.cert, id.certErr
}

func (id *Identity) makeCert() (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("identity: certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: id.nodeID},
		NotBefore:             certNotBefore,
		NotAfter:              certNotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, id.pub, id.priv)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("identity: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("identity: parse own certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: id.priv, Leaf: leaf}, nil
}

// NodeIDFromCert returns the node ID of a peer certificate: it must carry an
// Ed25519 key that is a valid node ID and be signed by that key. Errors wrap
// [ErrBadPeerCert]. The validity period is not checked.
func NodeIDFromCert(cert *x509.Certificate) (string, error) {
	if cert == nil {
		return "", fmt.Errorf("%w: no certificate", ErrBadPeerCert)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return "", fmt.Errorf("%w: key is %T, want ed25519", ErrBadPeerCert, cert.PublicKey)
	}
	nodeID := NodeIDFromKey(pub)
	if err := ValidNodeID(nodeID); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadPeerCert, err)
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return "", fmt.Errorf("%w: not self-signed by its key: %w", ErrBadPeerCert, err)
	}
	return nodeID, nil
}

// VerifyPeer returns a tls.Config.VerifyPeerCertificate callback that
// accepts exactly one certificate valid for [NodeIDFromCert] and, unless
// expected is "", requires its node ID to be expected (else the error wraps
// [ErrWrongPeer]). Use it with InsecureSkipVerify on the client and
// ClientAuth tls.RequireAnyClientCert on the server: the TLS handshake
// proves the peer holds the certificate's key, this callback pins the key.
func VerifyPeer(expected string) func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
	return func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		if len(rawCerts) != 1 {
			return fmt.Errorf("%w: got %d certificates, want 1", ErrBadPeerCert, len(rawCerts))
		}
		cert, err := x509.ParseCertificate(rawCerts[0])
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadPeerCert, err)
		}
		got, err := NodeIDFromCert(cert)
		if err != nil {
			return err
		}
		if expected != "" && got != expected {
			return fmt.Errorf("%w: peer is node %s, want %s", ErrWrongPeer, got, expected)
		}
		return nil
	}
}
