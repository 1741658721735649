package punch

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// fdRoom is how many more descriptors the process may open: its soft
// RLIMIT_NOFILE less those open now.
func fdRoom() (int, error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("file limit: %w", err)
	}
	open, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, fmt.Errorf("count open files: %w", err)
	}
	if lim.Cur > 1<<30 {
		lim.Cur = 1 << 30
	}
	return int(lim.Cur) - len(open), nil
}
