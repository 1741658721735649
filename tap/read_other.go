//go:build !linux

package tap

// frameReader reads one frame at a time and calls idle before each read,
// so that nothing batched waits for the next frame.
type frameReader struct {
	dev  *Device
	buf  []byte
	idle func() error
}

func newFrameReader(dev *Device, buf []byte, idle func() error) (*frameReader, error) {
	return &frameReader{dev: dev, buf: buf, idle: idle}, nil
}

func (r *frameReader) read() (int, error) {
	if r.idle != nil {
		if err := r.idle(); err != nil {
			return 0, err
		}
	}
	return r.dev.file.Read(r.buf)
}
