package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"
)

// connPair is two Conns over TLS 1.3 on loopback TCP, without nodes.
func connPair(t *testing.T) (a, b *Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rawA, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	rawB, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ta := tls.Client(rawA, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	tb := tls.Server(rawB, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	done := make(chan error, 1)
	go func() { done <- ta.Handshake() }()
	if err := tb.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	a = newConn(ta, rawA, "b", Outbound, StrategyDirect, nil, nil)
	b = newConn(tb, rawB, "a", Inbound, StrategyDirect, nil, nil)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// waitChunks waits until c holds want chunks, or fails.
func waitChunks(t *testing.T, c *Conn, want int32, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); c.chunks.Load() != want; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the connection holds %d chunks, want %d", what, c.chunks.Load(), want)
		}
	}
}

// An idle connection holds no read buffer: its reader waits for the next
// record without one, and what the consumer has read goes back to the
// pool.
func TestIdleConnHoldsNoChunk(t *testing.T) {
	a, b := connPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitChunks(t, b, 0, "before any data")
	for _, size := range []int{1, chunkSize - 1, chunkSize, 100 << 10} {
		data := make([]byte, size)
		if _, err := a.Write(data); err != nil {
			t.Fatal(err)
		}
		for b.Buffered() < size {
			time.Sleep(time.Millisecond)
		}
		if b.chunks.Load() == 0 {
			t.Fatalf("%d bytes arrived and unread, but the connection holds no chunk", size)
		}
		p := make([]byte, size)
		for n := 0; n < size; {
			m, err := b.ReadInto(ctx, p[n:])
			if err != nil {
				t.Fatal(err)
			}
			n += m
		}
		waitChunks(t, b, 0, fmt.Sprintf("idle after reading %d bytes", size))
	}
}
