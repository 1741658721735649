package acceptortest

import (
	"errors"
	"os"
	"syscall"
)

// FillFileTable lowers the process's RLIMIT_NOFILE to limit and opens
// /dev/null until no descriptor is left; release closes them again (the
// limit stays). Run it in a child process: it starves the whole process.
func FillFileTable(limit uint64) (release func(), err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil, err
	}
	lim.Cur = limit
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil, err
	}
	var held []*os.File
	release = func() {
		for _, f := range held {
			f.Close()
		}
	}
	for {
		f, err := os.Open(os.DevNull)
		if errors.Is(err, syscall.EMFILE) {
			return release, nil
		}
		if err != nil {
			release()
			return nil, err
		}
		held = append(held, f)
	}
}
