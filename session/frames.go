package session

import (
	"encoding/binary"
	"fmt"
	"io"
)

// WriteFrame writes b as one frame (a big-endian u32 length, then b); the
// peer's ReadFrame returns it whole. At most Config.MaxFrameSize bytes.
func (s *Stream) WriteFrame(b []byte) error {
	if len(b) > s.l.cfg.MaxFrameSize {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrFrameTooLarge, len(b), s.l.cfg.MaxFrameSize)
	}
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.write(n[:], b)
	return err
}

// ReadFrame reads one frame written by WriteFrame into buf and returns its
// length. A frame longer than buf is dropped with io.ErrShortBuffer; one
// above Config.MaxFrameSize aborts the stream. A clean end between frames
// is io.EOF, within one io.ErrUnexpectedEOF.
func (s *Stream) ReadFrame(buf []byte) (int, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	var hdr [4]byte
	if _, err := io.ReadFull(s, hdr[:]); err != nil {
		return 0, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n > s.l.cfg.MaxFrameSize {
		err := fmt.Errorf("%w: the peer sent %d bytes, at most %d", ErrFrameTooLarge, n, s.l.cfg.MaxFrameSize)
		s.Abort(err.Error())
		return 0, err
	}
	if n > len(buf) {
		if _, err := io.CopyN(io.Discard, s, int64(n)); err != nil {
			return 0, eofIsUnexpected(err)
		}
		return 0, io.ErrShortBuffer
	}
	if _, err := io.ReadFull(s, buf[:n]); err != nil {
		return 0, eofIsUnexpected(err)
	}
	return n, nil
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
