package tap

import (
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
)

// Device is a TAP device created by New. Its frames are read and written by
// Pump; Close removes it from the system.
type Device struct {
	name  string
	mac   net.HardwareAddr
	mtu   int
	addrs []netip.Prefix
	file  *os.File // the /dev/net/tun queue, non-blocking (runtime poller)

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool

	framesOut, bytesOut atomic.Uint64
	framesIn, bytesIn   atomic.Uint64
	tooLarge, invalid   atomic.Uint64
}

// Name is the interface name, e.g. "reach0".
func (d *Device) Name() string { return d.name }

// MAC is the device's Ethernet address.
func (d *Device) MAC() net.HardwareAddr { return slices.Clone(d.mac) }

// MTU is the device's MTU as configured.
func (d *Device) MTU() int { return d.mtu }

// Addrs are the addresses New put on the device.
func (d *Device) Addrs() []netip.Prefix { return slices.Clone(d.addrs) }

// Stats counts what Pump did with the device's frames.
type Stats struct {
	FramesOut, BytesOut uint64 // read from the device, sent to the peer
	FramesIn, BytesIn   uint64 // received from the peer, written to the device
	// DroppedTooLarge counts frames longer than MTU+14 (+4 with a VLAN tag),
	// in either direction.
	DroppedTooLarge uint64
	// DroppedInvalid counts frames shorter than an Ethernet header or
	// refused by the device (for example while it is down).
	DroppedInvalid uint64
}

// Stats returns the device's counters.
func (d *Device) Stats() Stats {
	return Stats{
		FramesOut: d.framesOut.Load(), BytesOut: d.bytesOut.Load(),
		FramesIn: d.framesIn.Load(), BytesIn: d.bytesIn.Load(),
		DroppedTooLarge: d.tooLarge.Load(), DroppedInvalid: d.invalid.Load(),
	}
}

// Close removes the device. A Pump using it ends. Close is idempotent.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		d.closeErr = d.close()
	})
	return d.closeErr
}

// maxFrameLen is the longest Ethernet frame the device should carry:
// MTU plus header, plus a VLAN tag when frame carries one.
func (d *Device) maxFrameLen(frame []byte) int {
	n := d.mtu + EthHeaderLen
	if len(frame) >= EthHeaderLen && frame[12] == 0x81 && frame[13] == 0x00 {
		n += VLANTagLen
	}
	return n
}

// carries reports whether the device carries frame; one it does not is
// counted as invalid (shorter than an Ethernet header) or too large (see
// maxFrameLen) and dropped by the caller.
func (d *Device) carries(frame []byte) bool {
	switch {
	case len(frame) < EthHeaderLen:
		d.invalid.Add(1)
		return false
	case len(frame) > d.maxFrameLen(frame):
		d.tooLarge.Add(1)
		return false
	}
	return true
}
