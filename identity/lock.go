package identity

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// LockFileName is the name of the lock file in the data dir.
const LockFileName = "reachd.lock"

// DataDirLock is the exclusive hold of one process on a data dir: two
// daemons on one data dir would share the node's identity (both answer its
// signaling, both accept its connections). Release it with Close.
type DataDirLock struct {
	f    *os.File
	path string
}

// LockDataDir takes the data dir's lock: an exclusive lock (flock on Unix,
// LockFileEx on Windows) on dir/reachd.lock, which holds the holder's process
// ID. It creates dir (mode 0700) if missing. When another process holds the
// lock it returns a *[LockedError] (matching [ErrDataDirLocked]) naming that
// process. The lock ends with Close or with the process, however it ends; the
// file stays. On systems without file locks it only records the process ID.
func LockDataDir(dir string) (*DataDirLock, error) {
	if dir == "" {
		return nil, errors.New("identity: data dir is empty")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("identity: create data dir: %w", err)
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("identity: open lock file: %w", err)
	}
	if err := lockFile(f); err != nil {
		defer f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, &LockedError{Dir: dir, PID: readPID(f)}
		}
		return nil, fmt.Errorf("identity: lock %s: %w", path, err)
	}
	// Ours now: record who holds it for the next one to name.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		_ = f.Sync()
	}
	return &DataDirLock{f: f, path: path}, nil
}

// Close releases the lock. It is safe to call more than once.
func (l *DataDirLock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	_ = f.Truncate(0) // no stale PID for the next one to name
	unlockFile(f)
	return f.Close()
}

// Path returns the lock file's path.
func (l *DataDirLock) Path() string { return l.path }

// readPID returns the process ID recorded in f, or 0.
func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
