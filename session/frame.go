package session

import (
	"encoding/binary"
	"fmt"
)

// The wire format. Every frame, in both directions and on every path, is
//
//	type u8 | stream u32 | length u32 | payload [length]byte
//
// (integers big-endian). Types below 0x80 are reliable: they form the
// link's byte stream, are counted in its offsets, stay buffered until
// acknowledged and are resent on a new path. Types from 0x80 are control
// frames of one path: hello, resend, ack, ping and pong.
const (
	headerLen = 9

	// MaxPayload bounds every frame's payload; data frames carry at most
	// this many bytes, so that a full frame is one TLS record (16 KiB).
	MaxPayload = 16<<10 - headerLen

	// MaxServiceLen bounds a stream header's service name.
	MaxServiceLen = 255

	// MaxReasonLen bounds an abort or close reason; longer ones are cut.
	MaxReasonLen = 1024

	// initialWindow is every stream's send window when it opens, in each
	// direction; a receiver with a larger window grants the rest at once.
	initialWindow = 256 << 10

	// version is the session protocol's version, sent in the hello.
	version = 2
)

type frameType uint8

// Reliable frames (counted in the link's offsets).
const (
	frameOpen   frameType = 0x01 // stream id; payload: kind u8, service name
	frameData   frameType = 0x02 // stream id; payload: 1..MaxPayload bytes
	frameWindow frameType = 0x03 // stream id; payload: increment u32 (> 0)
	frameFin    frameType = 0x04 // stream id; no payload: the sender's clean end
	frameAbort  frameType = 0x05 // stream id; payload: reason
	frameClose  frameType = 0x06 // stream 0; payload: reason: the link ends
	frameStop   frameType = 0x07 // stream id; no payload: the sender no longer reads (it closed)
)

// Control frames (one path's, never resent).
const (
	frameHello  frameType = 0x81 // stream 0; payload: helloLen bytes, see hello
	frameResend frameType = 0x82 // stream 0; payload: offset u64: the reliable bytes that follow start there
	frameAck    frameType = 0x83 // stream 0; payload: offset u64: all reliable bytes before it arrived
	framePing   frameType = 0x84 // stream 0; payload: u64 echoed by the pong
	framePong   frameType = 0x85 // stream 0; payload: the ping's u64
)

func (t frameType) reliable() bool { return t < 0x80 }

func (t frameType) String() string {
	switch t {
	case frameOpen:
		return "open"
	case frameData:
		return "data"
	case frameWindow:
		return "window"
	case frameFin:
		return "fin"
	case frameAbort:
		return "abort"
	case frameClose:
		return "close"
	case frameStop:
		return "stop"
	case frameHello:
		return "hello"
	case frameResend:
		return "resend"
	case frameAck:
		return "ack"
	case framePing:
		return "ping"
	case framePong:
		return "pong"
	}
	return fmt.Sprintf("type %#x", uint8(t))
}

// header is a decoded frame header.
type header struct {
	typ    frameType
	stream uint32
	length uint32
}

// size is the whole frame's length on the wire.
func (h header) size() int { return headerLen + int(h.length) }

func appendHeader(b []byte, t frameType, stream uint32, length int) []byte {
	b = append(b, byte(t))
	b = binary.BigEndian.AppendUint32(b, stream)
	return binary.BigEndian.AppendUint32(b, uint32(length))
}

// appendU64 appends a frame whose payload is one u64 (resend, ack, ping,
// pong).
func appendU64(b []byte, t frameType, v uint64) []byte {
	b = appendHeader(b, t, 0, 8)
	return binary.BigEndian.AppendUint64(b, v)
}

// parseHeader decodes and checks a frame header: a known type, a length
// within the type's bounds and stream 0 exactly for link frames.
func parseHeader(b []byte) (header, error) {
	if len(b) < headerLen {
		return header{}, fmt.Errorf("%w: short header (%d bytes)", ErrProtocol, len(b))
	}
	h := header{
		typ:    frameType(b[0]),
		stream: binary.BigEndian.Uint32(b[1:5]),
		length: binary.BigEndian.Uint32(b[5:9]),
	}
	var lo, hi uint32
	linkFrame := true
	switch h.typ {
	case frameOpen:
		lo, hi, linkFrame = 1, 1+MaxServiceLen, false
	case frameData:
		lo, hi, linkFrame = 1, MaxPayload, false
	case frameWindow:
		lo, hi, linkFrame = 4, 4, false
	case frameFin, frameStop:
		lo, hi, linkFrame = 0, 0, false
	case frameAbort:
		lo, hi, linkFrame = 0, MaxReasonLen, false
	case frameClose:
		lo, hi = 0, MaxReasonLen
	case frameHello:
		lo, hi = helloLen, helloLen
	case frameResend, frameAck, framePing, framePong:
		lo, hi = 8, 8
	default:
		return h, fmt.Errorf("%w: unknown frame type %#x", ErrProtocol, b[0])
	}
	if h.length < lo || h.length > hi {
		return h, fmt.Errorf("%w: %s frame of %d bytes", ErrProtocol, h.typ, h.length)
	}
	if linkFrame != (h.stream == 0) {
		return h, fmt.Errorf("%w: %s frame on stream %d", ErrProtocol, h.typ, h.stream)
	}
	return h, nil
}

// hello is the first frame each side sends on a new path. Mine is the
// sender's link nonce, Yours the nonce it knows of the receiver (zero on a
// link's first path), Received the reliable bytes it has taken in, and
// Count how many hellos the sender's link sent before this one. Both
// sides rank a path by the same pair (the larger count, then the
// initiator's count), so two paths attached in crossed order end with both
// sides on the same one.
type hello struct {
	Version  uint8
	Mine     [16]byte
	Yours    [16]byte
	Received uint64
	Count    uint32
}

const helloLen = 1 + 16 + 16 + 8 + 4

func appendHello(b []byte, h hello) []byte {
	b = appendHeader(b, frameHello, 0, helloLen)
	b = append(b, h.Version)
	b = append(b, h.Mine[:]...)
	b = append(b, h.Yours[:]...)
	b = binary.BigEndian.AppendUint64(b, h.Received)
	return binary.BigEndian.AppendUint32(b, h.Count)
}

// parseHello decodes a hello payload (helloLen bytes, checked by
// parseHeader).
func parseHello(p []byte) (hello, error) {
	var h hello
	if len(p) != helloLen {
		return h, fmt.Errorf("%w: hello of %d bytes", ErrProtocol, len(p))
	}
	h.Version = p[0]
	copy(h.Mine[:], p[1:17])
	copy(h.Yours[:], p[17:33])
	h.Received = binary.BigEndian.Uint64(p[33:41])
	h.Count = binary.BigEndian.Uint32(p[41:])
	if h.Mine == ([16]byte{}) {
		return h, fmt.Errorf("%w: hello without a link nonce", ErrProtocol)
	}
	return h, nil
}

// Kind says how a stream's bytes are meant: a plain byte stream or
// length-prefixed frames (see Stream.WriteFrame).
type Kind uint8

const (
	KindBytes  Kind = 0
	KindFrames Kind = 1
)

func (k Kind) String() string {
	switch k {
	case KindBytes:
		return "bytes"
	case KindFrames:
		return "frames"
	}
	return fmt.Sprintf("kind %d", uint8(k))
}

// Header is what a stream's opening frame carries, so the accepting side
// can route it.
type Header struct {
	// Service names what the stream is for ("" is the default service).
	// At most MaxServiceLen bytes.
	Service string
	// Kind is KindBytes (the zero value) or KindFrames.
	Kind Kind
}

func appendOpen(b []byte, stream uint32, h Header) []byte {
	b = appendHeader(b, frameOpen, stream, 1+len(h.Service))
	b = append(b, byte(h.Kind))
	return append(b, h.Service...)
}

func parseOpen(p []byte) (Header, error) {
	if len(p) < 1 || len(p) > 1+MaxServiceLen {
		return Header{}, fmt.Errorf("%w: open payload of %d bytes", ErrProtocol, len(p))
	}
	h := Header{Kind: Kind(p[0]), Service: string(p[1:])}
	if h.Kind > KindFrames {
		return h, fmt.Errorf("%w: unknown stream kind %d", ErrProtocol, p[0])
	}
	return h, nil
}

func (h Header) validate() error {
	if len(h.Service) > MaxServiceLen {
		return fmt.Errorf("session: service name of %d bytes, at most %d", len(h.Service), MaxServiceLen)
	}
	if h.Kind > KindFrames {
		return fmt.Errorf("session: unknown stream kind %d", h.Kind)
	}
	return nil
}

func cutReason(r string) string {
	if len(r) > MaxReasonLen {
		return r[:MaxReasonLen]
	}
	return r
}
