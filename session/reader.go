package session

import (
	"io"
	"sync"
)

// readBuffer holds at least one whole frame, so frames are handled in
// place.
const readBuffer = 32 << 10

var readBuffers = sync.Pool{New: func() any { return new([readBuffer]byte) }}

// frameReader buffers a path's input, holding its buffer only while data
// flows: once a control frame (a ping, say) leaves it empty, the buffer
// goes back to the pool and the next read waits on a few bytes of its
// own, so an idle link holds no read buffer.
type frameReader struct {
	rd    io.Reader
	buf   *[readBuffer]byte // nil while idle
	r, w  int
	idle  bool // give the buffer back when it empties
	probe [headerLen]byte
}

func (f *frameReader) reset(rd io.Reader) {
	f.release()
	*f = frameReader{rd: rd, idle: true}
}

// peek returns the next n bytes (n <= readBuffer), reading as needed:
// as much as comes when greedy (a frame header), else only up to the n
// bytes (the rest of a frame), so that the buffer empties at frame ends
// and rarely needs compacting.
func (f *frameReader) peek(n int, greedy bool) ([]byte, error) {
	for f.w-f.r < n {
		if f.buf == nil {
			m, err := f.rd.Read(f.probe[:])
			if m > 0 {
				f.buf = readBuffers.Get().(*[readBuffer]byte)
				f.r, f.w = 0, copy(f.buf[:], f.probe[:m])
			}
			if err != nil {
				return nil, err
			}
			continue
		}
		if f.r+n > readBuffer {
			f.w = copy(f.buf[:], f.buf[f.r:f.w])
			f.r = 0
		}
		end := readBuffer
		if !greedy {
			end = f.r + n
		}
		m, err := f.rd.Read(f.buf[f.w:end])
		f.w += m
		if err != nil && f.w-f.r < n {
			return nil, err
		}
	}
	return f.buf[f.r : f.r+n], nil
}

// discard drops n peeked bytes.
func (f *frameReader) discard(n int) {
	f.r += n
	if f.r == f.w {
		f.r, f.w = 0, 0
		if f.idle {
			f.release()
		}
	}
}

func (f *frameReader) buffered() int { return f.w - f.r }

func (f *frameReader) release() {
	if f.buf != nil {
		readBuffers.Put(f.buf)
		f.buf = nil
	}
}
