package tap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// Pump moves Ethernet frames between dev and frames, both ways, until
// either side ends or ctx is done.
//
// It returns nil when the peer ended the link cleanly (io.EOF between
// frames) or the device was closed by its owner, ctx.Err() when ctx ended
// it, and otherwise the error that stopped it (for example a malformed
// length prefix, which names the length). Frames longer than the device's
// MTU+14 (+4 with a VLAN tag) or shorter than an Ethernet header are
// dropped and counted in dev.Stats, not fatal.
//
// Pump closes frames when it returns (that is how it interrupts a blocked
// ReadFrame, and a frame stream cut at an arbitrary point cannot be reused);
// it never closes dev, whose owner closes it. One Pump at a time per device.
func Pump(ctx context.Context, dev *Device, frames FrameConn) error {
	if dev == nil || dev.file == nil {
		return errors.New("tap: pump: no device")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	results := make(chan pumpEnd, 2)
	go func() { results <- pumpOut(dev, frames) }()
	go func() { results <- pumpIn(dev, frames) }()

	interrupted := make(chan struct{})
	context.AfterFunc(ctx, func() {
		defer close(interrupted)
		dev.file.SetReadDeadline(aLongTimeAgo) // ends pumpOut's Read
		frames.Close()                         // ends pumpIn's ReadFrame, pumpOut's WriteFrame
	})

	first := <-results
	parentDone := ctx.Err() != nil // ctx was cancelled before we cancel it
	cancel()
	second := <-results
	<-interrupted
	dev.file.SetReadDeadline(time.Time{}) // the device may be pumped again

	switch {
	case first.clean:
		return nil
	case parentDone:
		return context.Cause(ctx)
	case first.err != nil:
		return first.err
	case second.clean:
		return nil
	}
	return second.err
}

var aLongTimeAgo = time.Unix(1, 0)

// pumpEnd is how one direction ended: clean (the peer's EOF, the device
// closed) or with err.
type pumpEnd struct {
	clean bool
	err   error
}

// pumpOut moves frames from the device to the peer, batching them when
// frames is a FrameBuffer.
func pumpOut(dev *Device, frames FrameConn) pumpEnd {
	buf := make([]byte, MaxFrameLen)
	fb, batch := frames.(FrameBuffer)
	var idle func() error
	var flushErr error
	if batch {
		idle = func() error { flushErr = fb.Flush(); return flushErr }
	}
	r, err := newFrameReader(dev, buf, idle)
	if err != nil {
		return pumpEnd{err: fmt.Errorf("tap: read from %s: %w", dev.name, err)}
	}
	for {
		n, err := r.read()
		if err != nil {
			switch {
			case flushErr != nil:
				return pumpEnd{err: fmt.Errorf("tap: send frames from %s: %w", dev.name, flushErr)}
			case errors.Is(err, os.ErrClosed):
				return pumpEnd{clean: true}
			}
			return pumpEnd{err: fmt.Errorf("tap: read from %s: %w", dev.name, err)}
		}
		frame := buf[:n]
		if !dev.carries(frame) {
			continue
		}
		if batch {
			err = fb.BufferFrame(frame)
		} else {
			err = frames.WriteFrame(frame)
		}
		if err != nil {
			return pumpEnd{err: fmt.Errorf("tap: send frame from %s: %w", dev.name, err)}
		}
		dev.framesOut.Add(1)
		dev.bytesOut.Add(uint64(n))
	}
}

// pumpIn moves frames from the peer to the device.
func pumpIn(dev *Device, frames FrameConn) pumpEnd {
	buf := make([]byte, dev.mtu+EthHeaderLen+VLANTagLen)
	for {
		n, err := frames.ReadFrame(buf)
		if err != nil {
			if errors.Is(err, ErrFrameTooLarge) {
				dev.tooLarge.Add(1)
				continue
			}
			if err == io.EOF {
				return pumpEnd{clean: true}
			}
			return pumpEnd{err: fmt.Errorf("tap: receive frame for %s: %w", dev.name, err)}
		}
		frame := buf[:n]
		if !dev.carries(frame) {
			continue
		}
		if _, err := dev.file.Write(frame); err != nil {
			switch {
			case errors.Is(err, os.ErrClosed):
				return pumpEnd{clean: true}
			case errors.Is(err, syscall.EINVAL), errors.Is(err, syscall.EIO), errors.Is(err, syscall.EAGAIN):
				// Refused frame, device down, or queue full: drop it as a
				// wire would.
				dev.invalid.Add(1)
				continue
			}
			return pumpEnd{err: fmt.Errorf("tap: write to %s: %w", dev.name, err)}
		}
		dev.framesIn.Add(1)
		dev.bytesIn.Add(uint64(n))
	}
}
