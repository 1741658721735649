package identity_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/reachd/reachd/identity"
)

func mustIdentity(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestCreateThenLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "reachd")
	first, err := identity.LoadOrCreate(dir)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if n := len(first.NodeID()); n != 52 {
		t.Errorf("node id %q has %d chars, want 52", first.NodeID(), n)
	}
	if first.NodeID() != identity.NodeIDFromKey(first.PublicKey()) {
		t.Error("NodeID() does not match PublicKey()")
	}

	path := filepath.Join(dir, identity.KeyFileName)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode = %v, want 0600", mode)
	}
	dst, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if mode := dst.Mode().Perm(); mode != 0o700 {
		t.Errorf("data dir mode = %v, want 0700", mode)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Errorf("key file is not PKCS#8 PEM:\n%s", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only %s", len(entries), identity.KeyFileName)
	}

	second, err := identity.LoadOrCreate(dir)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if second.NodeID() != first.NodeID() {
		t.Fatalf("loaded node id %s, created %s", second.NodeID(), first.NodeID())
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, b) {
		t.Error("loading rewrote the key file")
	}
	msg := []byte("hello")
	if !identity.Verify(first.NodeID(), msg, second.Sign(msg)) {
		t.Error("signature of the loaded key does not verify against the created node id")
	}
}

func TestExistingDirKeepsMode(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := identity.LoadOrCreate(dir); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(dir)
	if st.Mode().Perm() != 0o750 {
		t.Errorf("existing dir mode changed to %v", st.Mode().Perm())
	}
}

func TestDistinctKeys(t *testing.T) {
	a, b := mustIdentity(t), mustIdentity(t)
	if a.NodeID() == b.NodeID() {
		t.Fatal("two data dirs got the same key")
	}
}

func TestConcurrentCreateAgrees(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id, err := identity.LoadOrCreate(dir)
			errs[i] = err
			if err == nil {
				ids[i] = id.NodeID()
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("caller %d got node %s, caller 0 got %s", i, ids[i], ids[0])
		}
	}
	loaded, err := identity.LoadOrCreate(dir)
	if err != nil || loaded.NodeID() != ids[0] {
		t.Fatalf("key on disk is %v (%v), callers use %s", loaded, err, ids[0])
	}
}

func pemFile(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestBadKeyFile(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edKey)

	tests := []struct {
		name    string
		content []byte
		want    error
		msg     string
	}{
		{"empty file", nil, identity.ErrCorruptKey, "file is empty"},
		{"not pem", []byte("this is not a key\n"), identity.ErrCorruptKey, "no PEM block"},
		{"wrong pem type", pemFile("EC PRIVATE KEY", edDER), identity.ErrCorruptKey, `"EC PRIVATE KEY"`},
		{"garbage der", pemFile("PRIVATE KEY", []byte{0x30, 0x03, 1, 2, 3}), identity.ErrCorruptKey, "corrupt key file"},
		{"truncated pem", pemFile("PRIVATE KEY", edDER)[:40], identity.ErrCorruptKey, "no PEM block"},
		{"trailing data", append(pemFile("PRIVATE KEY", edDER), "junk"...), identity.ErrCorruptKey, "data after"},
		{"ecdsa key", pemFile("PRIVATE KEY", ecDER), identity.ErrWrongKeyType, "ecdsa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, identity.KeyFileName)
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			id, err := identity.LoadOrCreate(dir)
			if err == nil {
				t.Fatalf("loaded %s from a bad key file", id.NodeID())
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.want)
			}
			var kfe *identity.KeyFileError
			if !errors.As(err, &kfe) || kfe.Path != path {
				t.Errorf("err = %v, want a *KeyFileError for %s", err, path)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q does not name the file and %q", msg, tt.msg)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(after, tt.content) {
				t.Error("the bad key file was modified")
			}
		})
	}
}

func TestUnreadableKeyFile(t *testing.T) {
	t.Run("directory in its place", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, identity.KeyFileName)
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := identity.LoadOrCreate(dir)
		var kfe *identity.KeyFileError
		if !errors.As(err, &kfe) || kfe.Path != path || kfe.Op != "read" {
			t.Fatalf("err = %v, want a read *KeyFileError for %s", err, path)
		}
		if st, serr := os.Stat(path); serr != nil || !st.IsDir() {
			t.Error("the unreadable entry was replaced")
		}
	})
	t.Run("no permission", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads files whatever their mode")
		}
		dir := t.TempDir()
		path := filepath.Join(dir, identity.KeyFileName)
		if err := os.WriteFile(path, []byte("x"), 0o000); err != nil {
			t.Fatal(err)
		}
		_, err := identity.LoadOrCreate(dir)
		var kfe *identity.KeyFileError
		if !errors.As(err, &kfe) || kfe.Path != path || !errors.Is(err, os.ErrPermission) {
			t.Fatalf("err = %v, want a permission *KeyFileError for %s", err, path)
		}
	})
	t.Run("data dir is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := identity.LoadOrCreate(file)
		if err == nil || !strings.Contains(err.Error(), file) {
			t.Fatalf("err = %v, want an error naming %s", err, file)
		}
	})
	t.Run("empty data dir name", func(t *testing.T) {
		if _, err := identity.LoadOrCreate(""); err == nil {
			t.Fatal("LoadOrCreate(\"\") succeeded")
		}
	})
}
