// Package identity holds a node's Ed25519 key and everything derived from
// it: the node ID (the public key in lowercase unpadded base32, 52
// characters), signatures, the X25519 keys used to seal signaling messages
// (NaCl box), the self-signed TLS 1.3 certificate presented on every peer
// connection and the check of a peer's certificate against a node ID. It
// also derives the machine ID of the host.
//
// The key is created on first start in the data dir (file node.key, PKCS#8
// PEM, mode 0600) and loaded afterwards. A key file that cannot be read or
// parsed, or that others may read, is an error; it is never replaced. A
// daemon holds the data dir's lock (LockDataDir) so that no second process
// runs as the same node.
//
// The package does not run TLS or seal messages itself; callers do, with
// crypto/tls and golang.org/x/crypto/nacl/box.
package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// KeyFileName is the name of the key file in the data dir.
const KeyFileName = "node.key"

const pemType = "PRIVATE KEY"

// Identity is a node's key pair. It is safe for concurrent use.
type Identity struct {
	priv   ed25519.PrivateKey
	pub    ed25519.PublicKey
	nodeID string

	certOnce sync.Once
	cert     tls.Certificate
	certErr  error
}

// LoadOrCreate loads the node key from dir/node.key, or creates it (and dir,
// mode 0700, if missing) when there is no such file. An unreadable, corrupt
// or non-Ed25519 key file is a *[KeyFileError] naming the file, and so is
// (except on Windows) one that group or others may access ([ErrKeyTooOpen]).
//
// It does not lock dir: a daemon takes LockDataDir first.
func LoadOrCreate(dir string) (*Identity, error) {
	if dir == "" {
		return nil, errors.New("identity: data dir is empty")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("identity: create data dir: %w", err)
	}
	path := filepath.Join(dir, KeyFileName)
	b, err := readKeyFile(path)
	switch {
	case err == nil:
		return parseKeyFile(path, b)
	case errors.Is(err, fs.ErrNotExist):
		return create(path)
	default:
		return nil, err
	}
}

// readKeyFile reads the key file after checking, on the open file, that
// only its owner may access it.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, &KeyFileError{Path: path, Op: "read", Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &KeyFileError{Path: path, Op: "read", Err: err}
	}
	if perm := st.Mode().Perm(); runtime.GOOS != "windows" && st.Mode().IsRegular() && perm&0o077 != 0 {
		return nil, &KeyFileError{Path: path, Op: "check", Err: fmt.Errorf(
			"%w: permissions %04o for '%s' are too open; run: chmod 600 %s", ErrKeyTooOpen, perm, path, path)}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, &KeyFileError{Path: path, Op: "read", Err: err}
	}
	return b, nil
}

func parseKeyFile(path string, b []byte) (*Identity, error) {
	corrupt := func(format string, args ...any) error {
		return &KeyFileError{Path: path, Op: "parse", Err: fmt.Errorf("%w: "+format, append([]any{ErrCorruptKey}, args...)...)}
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, corrupt("file is empty")
	}
	block, rest := pem.Decode(b)
	if block == nil {
		return nil, corrupt("no PEM block")
	}
	if block.Type != pemType {
		return nil, corrupt("PEM block is %q, want %q", block.Type, pemType)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, corrupt("data after the PEM block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, corrupt("%v", err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, &KeyFileError{Path: path, Op: "parse", Err: fmt.Errorf("%w: found %T", ErrWrongKeyType, key)}
	}
	return newIdentity(priv), nil
}

// create writes a new key to a temporary file and links it into place, so a
// crash never leaves a half-written node.key and a key created meanwhile by
// another process is kept (and used) rather than overwritten.
func create(path string) (*Identity, error) {
	fail := func(err error) (*Identity, error) {
		return nil, &KeyFileError{Path: path, Op: "create", Err: err}
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fail(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fail(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der})

	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".node.key.tmp-*") // mode 0600
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	err = os.Link(tmp.Name(), path)
	if errors.Is(err, fs.ErrExist) {
		b, rerr := os.ReadFile(path)
		if rerr != nil {
			return nil, &KeyFileError{Path: path, Op: "read", Err: rerr}
		}
		return parseKeyFile(path, b)
	}
	if err != nil {
		// No hard links on this file system: create the file exclusively.
		if err := writeExclusive(path, data); err != nil {
			return fail(err)
		}
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // make the new name durable; best effort
		d.Close()
	}
	return newIdentity(priv), nil
}

func writeExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func newIdentity(priv ed25519.PrivateKey) *Identity {
	pub := priv.Public().(ed25519.PublicKey)
	return &Identity{priv: priv, pub: pub, nodeID: NodeIDFromKey(pub)}
}

// NodeID returns the node ID: the public key in lowercase unpadded base32.
func (id *Identity) NodeID() string { return id.nodeID }

// PublicKey returns the Ed25519 public key. Callers must not modify it.
func (id *Identity) PublicKey() ed25519.PublicKey { return id.pub }

// Sign signs msg with the node key (pure Ed25519).
func (id *Identity) Sign(msg []byte) []byte { return ed25519.Sign(id.priv, msg) }

// BoxPrivateKey returns the X25519 private key for NaCl box, derived from
// the Ed25519 seed as RFC 8032 and libsodium do (clamped SHA-512 of the
// seed). Its public half is BoxPublicKey(id.NodeID()). Each call returns a
// fresh copy.
func (id *Identity) BoxPrivateKey() *[32]byte {
	h := sha512.Sum512(id.priv.Seed())
	var k [32]byte
	copy(k[:], h[:32])
	k[0] &= 248
	k[31] &= 127
	k[31] |= 64
	clear(h[:])
	return &k
}
