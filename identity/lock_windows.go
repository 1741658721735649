//go:build windows

package identity

import (
	"os"

	"golang.org/x/sys/windows"
)

var errWouldBlock = windows.ERROR_LOCK_VIOLATION

// lockRegion is the byte locked: far past the process ID, which a second
// process must still be able to read.
const lockRegion = 1 << 30

func lockFile(f *os.File) error {
	ol := &windows.Overlapped{Offset: lockRegion}
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
}

func unlockFile(f *os.File) {
	ol := &windows.Overlapped{Offset: lockRegion}
	_ = windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, ol)
}
