package tap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// FrameConn is a link that carries whole frames: one WriteFrame on one side
// is one ReadFrame on the other. A session stream that keeps message
// boundaries implements it; NewFramer gives one over any byte stream.
type FrameConn interface {
	// ReadFrame reads the next frame into p and returns its length. A frame
	// longer than p is skipped and reported with an error that
	// errors.Is(err, ErrFrameTooLarge); the link stays usable. io.EOF means
	// the peer ended the link cleanly between frames.
	ReadFrame(p []byte) (int, error)
	// WriteFrame sends p as one frame. It does not keep p.
	WriteFrame(p []byte) error
	// Close ends the link and unblocks pending calls.
	Close() error
}

// FrameBuffer is implemented by a FrameConn that can batch frames. Pump
// uses it when present: it buffers each frame from the device and flushes
// whenever the device has no frame ready, so a burst of frames leaves in one
// write and wakes the peer once.
type FrameBuffer interface {
	// BufferFrame queues a copy of p; it may send what is queued when the
	// queue is full.
	BufferFrame(p []byte) error
	// Flush sends what is queued.
	Flush() error
}

// MaxFrameLen is the largest frame a Framer carries: the largest MTU plus an
// Ethernet header and a VLAN tag.
const MaxFrameLen = MaxMTU + EthHeaderLen + VLANTagLen

const (
	prefixLen     = 4 // big-endian uint32 frame length
	framerBufSize = 64 << 10
)

// Framer is a FrameConn over a byte stream: each frame is a 4-byte
// big-endian length (1..MaxFrameLen) followed by that many bytes. Any other
// length is a malformed prefix: the stream cannot be resynchronised and
// ReadFrame fails with a *FrameSizeError that errors.Is ErrMalformedFrame.
//
// One goroutine may read while another writes; the write methods are safe
// for concurrent use. Buffers are reused: steady-state reads and writes do
// not allocate.
type Framer struct {
	rw io.ReadWriter
	r  *bufio.Reader

	rhdr [prefixLen]byte

	wmu  sync.Mutex
	wbuf []byte
}

var (
	_ FrameConn   = (*Framer)(nil)
	_ FrameBuffer = (*Framer)(nil)
)

// NewFramer returns a Framer over rw. Close closes rw when it is an
// io.Closer.
func NewFramer(rw io.ReadWriter) *Framer {
	return &Framer{rw: rw, r: bufio.NewReaderSize(rw, framerBufSize)}
}

// ReadFrame implements FrameConn.
func (f *Framer) ReadFrame(p []byte) (int, error) {
	if _, err := io.ReadFull(f.r, f.rhdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, fmt.Errorf("tap: read frame length: %w", err)
		}
		return 0, err // io.EOF between frames is a clean end
	}
	n := binary.BigEndian.Uint32(f.rhdr[:])
	if n == 0 || n > MaxFrameLen {
		return 0, &FrameSizeError{Len: int(n), Max: MaxFrameLen, Malformed: true}
	}
	if int(n) > len(p) {
		if _, err := f.r.Discard(int(n)); err != nil {
			return 0, fmt.Errorf("tap: skip frame of %d bytes: %w", n, unexpected(err))
		}
		return 0, &FrameSizeError{Len: int(n), Max: len(p)}
	}
	if _, err := io.ReadFull(f.r, p[:n]); err != nil {
		return 0, fmt.Errorf("tap: read frame of %d bytes: %w", n, unexpected(err))
	}
	return int(n), nil
}

// WriteFrame implements FrameConn. The frame goes out in one Write, with
// its prefix and any frames buffered before it.
func (f *Framer) WriteFrame(p []byte) error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if err := f.buffer(p); err != nil {
		return err
	}
	return f.flush()
}

// BufferFrame implements FrameBuffer. The queue holds up to 64 KiB.
func (f *Framer) BufferFrame(p []byte) error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if len(f.wbuf)+prefixLen+len(p) > framerBufSize {
		if err := f.flush(); err != nil {
			return err
		}
	}
	return f.buffer(p)
}

// Flush implements FrameBuffer.
func (f *Framer) Flush() error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	return f.flush()
}

func (f *Framer) buffer(p []byte) error {
	if len(p) == 0 || len(p) > MaxFrameLen {
		return &FrameSizeError{Len: len(p), Max: MaxFrameLen}
	}
	f.wbuf = binary.BigEndian.AppendUint32(f.wbuf, uint32(len(p)))
	f.wbuf = append(f.wbuf, p...)
	return nil
}

func (f *Framer) flush() error {
	if len(f.wbuf) == 0 {
		return nil
	}
	_, err := f.rw.Write(f.wbuf)
	f.wbuf = f.wbuf[:0]
	return err
}

// Close closes the underlying stream if it is an io.Closer.
func (f *Framer) Close() error {
	if c, ok := f.rw.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
