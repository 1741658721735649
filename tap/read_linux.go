//go:build linux

package tap

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// frameReader reads frames from a device without blocking first, so that
// Pump learns when the device has no frame ready and can flush the frames it
// batched. Its state lives in the struct so a read does not allocate.
type frameReader struct {
	dev    *Device
	raw    syscall.RawConn
	readFn func(uintptr) bool

	buf     []byte
	n       int
	err     error
	idle    func() error // called once per read when no frame is ready
	idled   bool
	idleErr error
}

func newFrameReader(dev *Device, buf []byte, idle func() error) (*frameReader, error) {
	raw, err := dev.file.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &frameReader{dev: dev, raw: raw, buf: buf, idle: idle}
	r.readFn = r.tryRead
	return r, nil
}

// read returns the next frame's length in buf. Before waiting for one it
// calls idle (once), and returns idle's error if it fails.
func (r *frameReader) read() (int, error) {
	r.idled, r.idleErr = false, nil
	if err := r.raw.Read(r.readFn); err != nil {
		if r.dev.closed.Load() {
			return 0, os.ErrClosed
		}
		return 0, err
	}
	if r.idleErr != nil {
		return 0, r.idleErr
	}
	if r.err != nil {
		return 0, os.NewSyscallError("read", r.err)
	}
	return r.n, nil
}

func (r *frameReader) tryRead(fd uintptr) bool {
	for {
		r.n, r.err = unix.Read(int(fd), r.buf)
		switch r.err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if r.idled || r.idle == nil {
				return false // wait until readable
			}
			r.idled = true
			if r.idleErr = r.idle(); r.idleErr != nil {
				return true
			}
			continue // frames may have come while idle ran
		}
		return true
	}
}
