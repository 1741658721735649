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
	// ErrKeyTooOpen means the key file may be read or written by users other
	// than its owner. It is refused, as ssh refuses such a private key.
	ErrKeyTooOpen = errors.New("key file is accessible by others")
	// ErrDataDirLocked means another process holds the data dir's lock.
	ErrDataDirLocked = errors.New("identity: data dir in use")
)

// LockedError reports a data dir whose lock another process holds.
type LockedError struct {
	Dir string // the data dir
	PID int    // the holder's process ID as it recorded it; 0 if unknown
}

func (e *LockedError) Error() string {
	holder := "another process"
	if e.PID > 0 {
		holder = fmt.Sprintf("another process (pid %d)", e.PID)
	}
	return fmt.Sprintf("identity: data dir %s is in use by %s, probably another reachd: stop it, or give this one its own --data-dir", e.Dir, holder)
}

func (e *LockedError) Is(target error) bool { return target == ErrDataDirLocked }

// KeyFileError reports a key file that could not be read, written or used.
// Err wraps the cause, which may be [ErrCorruptKey] or [ErrWrongKeyType].
type KeyFileError struct {
	Path string // the key file
	Op   string // "read", "check" (its mode), "parse" or "create"
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
