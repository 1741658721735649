package identity

import (
	"errors"
	"fmt"
)

var (
	// ErrCorruptKey means the key file exists but does not hold a PKCS#8
	// PEM private key. It is never replaced automatically.
	ErrCorruptKey = errors.New("corrupt key file")
	// ErrWrongKeyType means the key file holds a valid key that is not Ed25519.
	ErrWrongKeyType = errors.New("key is not ed25519")
	// ErrInvalidNodeID means a string is not a node ID of a usable Ed25519 key.
	ErrInvalidNodeID = errors.New("identity: invalid node id")
	// ErrBadPeerCert means a peer's certificate is not a single valid
	// self-signed Ed25519 certificate.
	ErrBadPeerCert = errors.New("identity: bad peer certificate")
	// ErrWrongPeer means a peer's key is not the node ID that was expected.
	ErrWrongPeer = errors.New("identity: peer is not the expected node")
)

// KeyFileError reports a key file that could not be read, written or used.
// Err wraps the cause, which may be [ErrCorruptKey] or [ErrWrongKeyType].
type KeyFileError struct {
	Path string // the key file
	Op   string // "read", "parse" or "create"
	Err  error
}

func (e *KeyFileError) Error() string {
	msg := fmt.Sprintf("identity: %s key file %s: %v", e.Op, e.Path, e.Err)
	if e.Op == "parse" {
		msg += " (refusing to replace it: move it away to create a new identity)"
	}
	return msg
}

func (e *KeyFileError) Unwrap() error { return e.Err }
