// Package sessiontest has fixtures for tests of the session layer: pairs
// of links, paths of every kind (net.Pipe, loopback TCP, TLS over
// loopback TCP) and paths that fail on demand.
package sessiontest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/reachd/reachd/session"
)

// Pair returns two links, a the initiator, closed at the test's end.
func Pair(tb testing.TB, cfg session.Config) (a, b *session.Link) {
	tb.Helper()
	a, err := session.New(cfg, true)
	if err != nil {
		tb.Fatal(err)
	}
	b, err = session.New(cfg, false)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}

// PathMaker makes the two ends of a new path.
type PathMaker func(tb testing.TB) (io.ReadWriteCloser, io.ReadWriteCloser)

// Pipe makes a net.Pipe path.
func Pipe(tb testing.TB) (io.ReadWriteCloser, io.ReadWriteCloser) {
	x, y := net.Pipe()
	return x, y
}

// TCP makes a loopback TCP path.
func TCP(tb testing.TB) (io.ReadWriteCloser, io.ReadWriteCloser) {
	tb.Helper()
	x, y := tcpPair(tb)
	return x, y
}

func tcpPair(tb testing.TB) (net.Conn, net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	x, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		tb.Fatal(r.err)
	}
	return x, r.c
}

var (
	certOnce sync.Once
	cert     tls.Certificate
)

func testCert(tb testing.TB) tls.Certificate {
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), DNSNames: []string{"reachd"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		cert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	})
	return cert
}

// TLSPair returns both ends of TLS 1.3 over loopback TCP, handshaken (as
// the node's secured paths are).
func TLSPair(tb testing.TB) (*tls.Conn, *tls.Conn) {
	tb.Helper()
	x, y := tcpPair(tb)
	c := testCert(tb)
	srv := tls.Server(y, &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS13})
	cli := tls.Client(x, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		tb.Fatal(err)
	}
	if err := <-errc; err != nil {
		tb.Fatal(err)
	}
	return cli, srv
}

// TLS makes a TLS-over-loopback-TCP path.
func TLS(tb testing.TB) (io.ReadWriteCloser, io.ReadWriteCloser) {
	x, y := TLSPair(tb)
	return x, y
}

// Attach attaches the two ends of one new path to a and b at once and
// fails the test when either side fails.
func Attach(tb testing.TB, a, b *session.Link, pa, pb io.ReadWriteCloser) {
	tb.Helper()
	ea, eb := AttachErr(a, b, pa, pb)
	if ea != nil || eb != nil {
		tb.Fatalf("attach: %v / %v", ea, eb)
	}
}

// AttachErr attaches the two ends of a path at once and returns both
// sides' errors.
func AttachErr(a, b *session.Link, pa, pb io.ReadWriteCloser) (ea, eb error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Attach(ctx, pb) }()
	ea = a.Attach(ctx, pa)
	eb = <-done
	return ea, eb
}

// Connect makes a path with mk, attaches it on both sides and returns its
// ends.
func Connect(tb testing.TB, a, b *session.Link, mk PathMaker) (pa, pb io.ReadWriteCloser) {
	tb.Helper()
	pa, pb = mk(tb)
	Attach(tb, a, b, pa, pb)
	return pa, pb
}

// Blackhole wraps a path that can be cut: after Cut, writes succeed
// without delivering and reads wait until Close, as on a path whose
// middle silently dropped everything.
type Blackhole struct {
	io.ReadWriteCloser
	once sync.Once
	cut  chan struct{}
	done chan struct{}
	mu   sync.Mutex
	shut bool
}

// NewBlackhole wraps rw.
func NewBlackhole(rw io.ReadWriteCloser) *Blackhole {
	return &Blackhole{ReadWriteCloser: rw, cut: make(chan struct{}), done: make(chan struct{})}
}

// Cut makes the path drop everything from now on.
func (b *Blackhole) Cut() { b.once.Do(func() { close(b.cut) }) }

func (b *Blackhole) Read(p []byte) (int, error) {
	select {
	case <-b.cut:
		<-b.done
		return 0, net.ErrClosed
	default:
	}
	// Read from the inner path; a cut discards what arrives.
	n, err := b.ReadWriteCloser.Read(p)
	select {
	case <-b.cut:
		<-b.done
		return 0, net.ErrClosed
	default:
	}
	return n, err
}

func (b *Blackhole) Write(p []byte) (int, error) {
	select {
	case <-b.cut:
		return len(p), nil
	case <-b.done:
		return 0, net.ErrClosed
	default:
	}
	return b.ReadWriteCloser.Write(p)
}

// Close closes the path.
func (b *Blackhole) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.shut {
		b.shut = true
		close(b.done)
	}
	return b.ReadWriteCloser.Close()
}
