package tap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/reachd/reachd/tap"
)

// TestFramerKeepsBoundaries: frames of many sizes, written one by one, are
// read back one by one, equal, over a byte stream; a clean end between
// frames is io.EOF.
func TestFramerKeepsBoundaries(t *testing.T) {
	var stream bytes.Buffer
	w := tap.NewFramer(&stream)
	sizes := []int{1, 14, 60, 1514, 1518, 9018, tap.MaxFrameLen}
	for i, n := range sizes {
		if err := w.WriteFrame(bytes.Repeat([]byte{byte(i + 1)}, n)); err != nil {
			t.Fatalf("WriteFrame(%d): %v", n, err)
		}
	}
	r := tap.NewFramer(&stream)
	buf := make([]byte, tap.MaxFrameLen)
	for i, n := range sizes {
		got, err := r.ReadFrame(buf)
		if err != nil || got != n {
			t.Fatalf("frame %d: ReadFrame = %d, %v; want %d", i, got, err, n)
		}
		if !bytes.Equal(buf[:got], bytes.Repeat([]byte{byte(i + 1)}, n)) {
			t.Fatalf("frame %d: content differs", i)
		}
	}
	if _, err := r.ReadFrame(buf); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

// TestFramerBuffers: buffered frames leave only on Flush (or when the
// queue passes 64 KiB, or with the next WriteFrame), in order and whole.
func TestFramerBuffers(t *testing.T) {
	var stream bytes.Buffer
	w := tap.NewFramer(&stream)
	for i := range 3 {
		if err := w.BufferFrame(bytes.Repeat([]byte{byte(i)}, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	if stream.Len() != 0 {
		t.Fatalf("%d bytes written before Flush", stream.Len())
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if stream.Len() != 3*1004 {
		t.Fatalf("%d bytes after Flush, want %d", stream.Len(), 3*1004)
	}
	for range 70 { // 70 KB: passes the queue size once
		w.BufferFrame(make([]byte, 1000))
	}
	if stream.Len() <= 3*1004 {
		t.Fatal("a full queue was not sent")
	}
	w.WriteFrame([]byte{42})
	r := tap.NewFramer(&stream)
	buf := make([]byte, 2000)
	for i := range 74 {
		n, err := r.ReadFrame(buf)
		want := 1000
		if i == 73 {
			want = 1
		}
		if err != nil || n != want || (i < 3 && buf[0] != byte(i)) {
			t.Fatalf("frame %d: %d bytes, %v", i, n, err)
		}
	}
	if _, err := r.ReadFrame(buf); err != io.EOF {
		t.Fatalf("after the last frame: %v", err)
	}
}

// TestFramerErrors: a frame longer than the buffer is skipped (non-fatal,
// the next frame reads fine); a bad length prefix is fatal and names the
// length; a stream cut inside a frame is io.ErrUnexpectedEOF; WriteFrame
// refuses empty and oversized frames.
func TestFramerErrors(t *testing.T) {
	prefix := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	frame := func(n int) []byte { return append(prefix(uint32(n)), make([]byte, n)...) }

	t.Run("too large is skipped", func(t *testing.T) {
		r := tap.NewFramer(bytes.NewBuffer(append(frame(100), frame(10)...)))
		buf := make([]byte, 50)
		_, err := r.ReadFrame(buf)
		var fe *tap.FrameSizeError
		if !errors.Is(err, tap.ErrFrameTooLarge) || !errors.As(err, &fe) || fe.Len != 100 || fe.Max != 50 {
			t.Fatalf("err = %v, want ErrFrameTooLarge 100 > 50", err)
		}
		if n, err := r.ReadFrame(buf); n != 10 || err != nil {
			t.Fatalf("next frame: %d, %v; want 10", n, err)
		}
	})
	for _, n := range []uint32{0, tap.MaxFrameLen + 1, 1 << 31} {
		r := tap.NewFramer(bytes.NewBuffer(prefix(n)))
		_, err := r.ReadFrame(make([]byte, tap.MaxFrameLen))
		if !errors.Is(err, tap.ErrMalformedFrame) || errors.Is(err, tap.ErrFrameTooLarge) {
			t.Errorf("prefix %d: err = %v, want ErrMalformedFrame only", n, err)
		} else if !strings.Contains(err.Error(), " "+strconv.FormatUint(uint64(n), 10)+" ") {
			t.Errorf("prefix %d: err %q does not name it", n, err)
		}
	}
	for name, in := range map[string][]byte{
		"cut in prefix": prefix(10)[:2],
		"cut in frame":  frame(10)[:8],
	} {
		_, err := tap.NewFramer(bytes.NewBuffer(in)).ReadFrame(make([]byte, 100))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: err = %v, want io.ErrUnexpectedEOF", name, err)
		}
	}
	w := tap.NewFramer(new(bytes.Buffer))
	for _, n := range []int{0, tap.MaxFrameLen + 1} {
		if err := w.WriteFrame(make([]byte, n)); !errors.Is(err, tap.ErrFrameTooLarge) {
			t.Errorf("WriteFrame(%d bytes): %v, want refused", n, err)
		}
	}
}

// TestFramerNoAllocs: steady-state frames cost no allocation either way.
func TestFramerNoAllocs(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	w, r := tap.NewFramer(a), tap.NewFramer(b)
	frame := make([]byte, 1514)
	buf := make([]byte, 1518)
	go func() {
		for {
			if _, err := r.ReadFrame(buf); err != nil {
				return
			}
		}
	}()
	w.WriteFrame(frame) // grow the write buffer once
	if n := testing.AllocsPerRun(1000, func() { w.WriteFrame(frame) }); n != 0 {
		t.Errorf("WriteFrame+ReadFrame: %.1f allocs per frame, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { w.BufferFrame(frame); w.BufferFrame(frame); w.Flush() }); n != 0 {
		t.Errorf("BufferFrame+Flush+ReadFrame: %.1f allocs per two frames, want 0", n)
	}
}

// FuzzFramer: ReadFrame never panics or hangs on arbitrary input, and what
// WriteFrame wrote reads back equal.
func FuzzFramer(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 1, 2, 3})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Add([]byte{0, 1, 0, 0x16})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := tap.NewFramer(bytes.NewBuffer(in))
		buf := make([]byte, 64)
		for range 1000 {
			n, err := r.ReadFrame(buf)
			if err != nil && !errors.Is(err, tap.ErrFrameTooLarge) {
				break
			}
			if err == nil && (n < 1 || n > len(buf)) {
				t.Fatalf("ReadFrame returned %d", n)
			}
		}
		if len(in) == 0 || len(in) > tap.MaxFrameLen {
			return
		}
		var s bytes.Buffer
		if err := tap.NewFramer(&s).WriteFrame(in); err != nil {
			t.Fatal(err)
		}
		out := make([]byte, len(in))
		if n, err := tap.NewFramer(&s).ReadFrame(out); err != nil || !bytes.Equal(out[:n], in) {
			t.Fatalf("round trip: %d, %v", n, err)
		}
	})
}
