package node

import (
	"context"
	"errors"
	"net/netip"

	"github.com/reachd/reachd/tap"
)

// A connection can back a TAP device: the connection's bytes become the
// device's Ethernet frames (length-prefixed, tap.Framer), pumped both ways
// until the connection, the device or the node ends. Each side attaches
// its own device to its own end; together they make a two-host LAN.

// TAPInfo is the TAP device backing a connection.
type TAPInfo struct {
	Name  string   `json:"name"`
	MAC   string   `json:"mac"`
	MTU   int      `json:"mtu"`
	Addrs []string `json:"addrs"`
	// FramesIn and FramesOut count frames from and to the device;
	// Dropped counts frames dropped for their size.
	FramesIn  uint64 `json:"frames_in"`
	FramesOut uint64 `json:"frames_out"`
	Dropped   uint64 `json:"dropped"`
}

// Errors of AttachTAP.
var (
	// ErrTapped: the connection backs a TAP device already, so its bytes
	// are not the API's to read or write.
	ErrTapped = errors.New("the connection backs a TAP device")
	// ErrNoTAP: the connection backs no TAP device.
	ErrNoTAP = errors.New("the connection backs no TAP device")
)

// TAPConfig is what the API asks for: an address with its prefix length,
// and optionally a name and an MTU (tap.DefaultMTU when zero).
type TAPConfig struct {
	IP   netip.Prefix
	Name string
	MTU  int
}

// tapLink is a device pumped over a connection.
type tapLink struct {
	dev    *tap.Device
	cancel context.CancelFunc
	done   chan struct{}
}

// AttachTAP creates a TAP device and pumps its frames over connection c.
// The device goes away when the connection closes, DetachTAP is called,
// or the node closes.
func (n *Node) AttachTAP(c *Conn, cfg TAPConfig) (TAPInfo, error) {
	if c.State() == StateClosed {
		return TAPInfo{}, ErrConnClosed
	}
	c.mu.Lock()
	taken := c.tap != nil
	c.mu.Unlock()
	if taken {
		return TAPInfo{}, ErrTapped
	}
	release, err := c.Claim(true, true)
	if err != nil {
		return TAPInfo{}, err
	}
	dev, err := tap.New(tap.Config{
		Name:   cfg.Name,
		Addrs:  []netip.Prefix{cfg.IP},
		MTU:    cfg.MTU,
		MAC:    tap.StableMAC(n.ID() + "/" + c.id),
		Logger: n.log,
	})
	if err != nil {
		release()
		return TAPInfo{}, err
	}
	ctx, cancel := context.WithCancel(n.ctx)
	t := &tapLink{dev: dev, cancel: cancel, done: make(chan struct{})}
	c.mu.Lock()
	if c.tap != nil || c.state == StateClosed {
		c.mu.Unlock()
		cancel()
		dev.Close()
		release()
		return TAPInfo{}, ErrTapped
	}
	c.tap = t
	c.mu.Unlock()
	n.wg.Go(func() {
		defer close(t.done)
		err := tap.Pump(ctx, dev, tap.NewFramer(&connStream{c: c, ctx: ctx}))
		dev.Close()
		c.mu.Lock()
		c.tap = nil
		c.mu.Unlock()
		release()
		n.log.Info("tap ended", "conn", c.id, "device", dev.Name(), "err", err)
		c.Close() // its bytes were frames: nothing else can use it
	})
	n.log.Info("tap attached", "conn", c.id, "device", dev.Name(), "mac", dev.MAC(), "mtu", dev.MTU())
	c.changed()
	return *tapInfoOf(t), nil
}

// DetachTAP removes the connection's TAP device; the connection, whose
// bytes were frames, closes with it.
func (n *Node) DetachTAP(c *Conn) error {
	c.mu.Lock()
	t := c.tap
	c.mu.Unlock()
	if t == nil {
		return ErrNoTAP
	}
	t.cancel()
	<-t.done
	c.changed()
	return nil
}

// tapInfoOf reports a TAP link; nil for none.
func tapInfoOf(t *tapLink) *TAPInfo {
	if t == nil {
		return nil
	}
	st := t.dev.Stats()
	info := &TAPInfo{Name: t.dev.Name(), MAC: t.dev.MAC().String(), MTU: t.dev.MTU(),
		FramesIn: st.FramesIn, FramesOut: st.FramesOut, Dropped: st.DroppedTooLarge + st.DroppedInvalid}
	for _, a := range t.dev.Addrs() {
		info.Addrs = append(info.Addrs, a.String())
	}
	return info
}

// Tapped reports whether the connection backs a TAP device.
func (c *Conn) Tapped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tap != nil
}

// connStream is a connection as an io.ReadWriteCloser for the frame pump.
type connStream struct {
	c   *Conn
	ctx context.Context
}

func (s *connStream) Read(p []byte) (int, error)  { return s.c.ReadInto(s.ctx, p) }
func (s *connStream) Write(p []byte) (int, error) { return s.c.Write(p) }
func (s *connStream) Close() error                { return s.c.Close() }
