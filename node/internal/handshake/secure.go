package handshake

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/reachd/reachd/identity"
)

// ErrWrongPeer: the peer's key is not the node ID we expected.
var ErrWrongPeer = errors.New("peer presented another node's key")

// ALPN is the protocol a path's TLS negotiates.
const ALPN = "reachd/1"

// secure runs TLS 1.3 over a raw peer connection. Both sides present a
// self-signed certificate over their node key; expect, when set, is the
// node ID the peer must prove. It returns the TLS connection and the
// peer's node ID.
func secure(ctx context.Context, raw net.Conn, cert tls.Certificate, client bool, expect string) (*tls.Conn, string, error) {
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// The certificate is self-signed; VerifyPeerCertificate checks the
		// key against the node ID instead of a CA chain.
		InsecureSkipVerify:    true,
		ClientAuth:            tls.RequireAnyClientCert,
		VerifyPeerCertificate: identity.VerifyPeer(expect),
		NextProtos:            []string{ALPN},
	}
	var tc *tls.Conn
	if client {
		tc = tls.Client(raw, cfg)
	} else {
		tc = tls.Server(raw, cfg)
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		if expect != "" && errors.Is(err, identity.ErrWrongPeer) {
			return nil, "", fmt.Errorf("%w: want %s: %v", ErrWrongPeer, expect, err)
		}
		return nil, "", fmt.Errorf("tls handshake: %w", err)
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		tc.Close()
		return nil, "", errors.New("tls handshake: peer sent no certificate")
	}
	peer, err := identity.NodeIDFromCert(certs[0])
	if err != nil {
		tc.Close()
		return nil, "", fmt.Errorf("tls handshake: %w", err)
	}
	return tc, peer, nil
}
