package tap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SwitchConfig tunes a Switch. The zero value is valid.
type SwitchConfig struct {
	// MACTimeout is how long a learned MAC address is trusted without a
	// frame from it. Zero means 5 minutes (a common switch default).
	MACTimeout time.Duration

	// MaxMACs bounds the learned address table. Zero means 4096. When it is
	// full, stale entries are dropped; if none are, new addresses are not
	// learned (their frames are flooded).
	MaxMACs int

	// QueueBytes bounds the frames waiting for each port's peer. A port
	// whose peer is slower drops frames past it (and counts them), as a
	// switch port does, so one slow peer never stalls the others. Zero
	// means 1 MiB.
	QueueBytes int

	// PortEnded, if set, is called (from the port's goroutine) when a port
	// ends on its own: its peer ended the link (err nil) or it failed.
	PortEnded func(id string, err error)

	// Now is the clock. Nil means time.Now.
	Now func() time.Time

	// Logger receives debug logs. Nil discards them.
	Logger *slog.Logger
}

// Switch joins one Device to several peers, like an Ethernet switch whose
// ports are FrameConns. A frame from the device goes to the port where its
// destination MAC was last seen; broadcast, multicast and unknown unicast
// go to every port. A frame from a port goes to the device only: every
// member links to every other (a full mesh), so a switch never forwards
// between its ports (split horizon, which also means no loops). A port
// added with its peer's Source (AddPortFrom) takes only frames from that
// peer's MAC and IPs, so no peer can draw another's traffic to itself.
//
// Pump is the one-port case; do not use both on one device.
type Switch struct {
	dev *Device
	cfg SwitchConfig
	log *slog.Logger

	ctx    context.Context // lifetime: cancelled by Close or a device end
	cancel context.CancelFunc
	wg     sync.WaitGroup // the device reader and every port goroutine

	mu    sync.Mutex // guards ports and publishing list
	ports map[string]*port
	list  atomic.Pointer[[]*port] // snapshot for flooding, copy on write

	macs macTable

	devErr  error // why the device reader ended; set before done closes
	devDone chan struct{}
}

// NewSwitch starts a switch on dev. The owner adds ports, and closes the
// switch (which closes its ports) before or after closing dev.
func NewSwitch(dev *Device, cfg SwitchConfig) *Switch {
	if cfg.MACTimeout <= 0 {
		cfg.MACTimeout = 5 * time.Minute
	}
	if cfg.MaxMACs <= 0 {
		cfg.MaxMACs = 4096
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = 1 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Switch{
		dev: dev, cfg: cfg, ports: make(map[string]*port), devDone: make(chan struct{}),
		log:  cfg.Logger.With("component", "tap", "device", dev.name),
		macs: macTable{m: make(map[[6]byte]*macEntry), max: cfg.MaxMACs, ttl: cfg.MACTimeout},
	}
	s.list.Store(new([]*port))
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.devErr = s.readDevice()
		s.shutdown()
		close(s.devDone)
	}()
	return s
}

// Done is closed when the switch stopped reading the device and ended its
// ports: after Close, or when the device was closed or failed (see Err).
func (s *Switch) Done() <-chan struct{} { return s.devDone }

// Err says why the switch stopped after Done: nil for Close or a closed
// device, otherwise the device's error.
func (s *Switch) Err() error {
	select {
	case <-s.devDone:
		return s.devErr
	default:
		return nil
	}
}

// Close stops the switch and closes every port. It does not close the
// device.
func (s *Switch) Close() error {
	s.shutdown()
	s.wg.Wait()
	s.dev.file.SetReadDeadline(time.Time{}) // the device may be used again
	return nil
}

func (s *Switch) shutdown() {
	s.cancel()
	s.dev.file.SetReadDeadline(aLongTimeAgo)
	s.mu.Lock()
	ports := make([]*port, 0, len(s.ports))
	for _, p := range s.ports {
		ports = append(ports, p)
	}
	s.mu.Unlock()
	for _, p := range ports {
		p.end(nil, false)
	}
}

// AddPort adds a link to a peer under id (for example the peer's node ID)
// and starts moving frames over it. The switch owns frames from now on and
// closes it when the port ends. The port takes frames from any source:
// AddPortFrom checks who sends them.
func (s *Switch) AddPort(id string, frames FrameConn) error {
	return s.AddPortFrom(id, frames, Source{})
}

// AddPortFrom is AddPort for a peer that may send only as src: from its
// first frame on, the port drops and counts what claims another source.
func (s *Switch) AddPortFrom(id string, frames FrameConn, src Source) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return ErrSwitchClosed
	}
	if _, ok := s.ports[id]; ok {
		return fmt.Errorf("tap: switch port %q exists", id)
	}
	bufSize := s.dev.mtu + EthHeaderLen + VLANTagLen
	n := max(s.cfg.QueueBytes/bufSize, 8)
	p := &port{id: id, sw: s, frames: frames, bufSize: bufSize,
		queue: make(chan []byte, n), free: make(chan []byte, n), done: make(chan struct{})}
	p.fb, _ = frames.(FrameBuffer)
	p.source.Store(newSourceCheck(src))
	p.ctx, p.cancel = context.WithCancel(s.ctx)
	s.ports[id] = p
	list := append(slices.Clone(*s.list.Load()), p)
	s.list.Store(&list)

	p.running.Store(2)
	s.wg.Add(2)
	go func() { defer s.wg.Done(); defer p.exited(); p.readPeer() }()
	go func() { defer s.wg.Done(); defer p.exited(); p.writePeer() }()
	s.log.Debug("port added", "port", id)
	return nil
}

// RemovePort closes the port id and forgets the MACs learned on it. It
// waits until the port's goroutines are done.
func (s *Switch) RemovePort(id string) {
	s.mu.Lock()
	p := s.ports[id]
	s.mu.Unlock()
	if p != nil {
		p.end(nil, false)
		<-p.done
	}
}

// SetPortSource changes who port id's peer may send as (its address
// moved, say); the zero Source checks nothing. It reports whether the port
// exists.
func (s *Switch) SetPortSource(id string, src Source) bool {
	s.mu.Lock()
	p := s.ports[id]
	s.mu.Unlock()
	if p == nil {
		return false
	}
	p.source.Store(newSourceCheck(src))
	return true
}

// PortStats describes one port.
type PortStats struct {
	ID                  string
	MACs                []net.HardwareAddr // learned on this port, live
	FramesIn, BytesIn   uint64             // from the peer to the device
	FramesOut, BytesOut uint64             // from the device to the peer
	Dropped             uint64             // queue full: the peer was too slow
	Spoofed             uint64             // from the peer, claiming another Source
}

// Ports describes the ports, sorted by ID.
func (s *Switch) Ports() []PortStats {
	s.mu.Lock()
	ports := slices.Clone(*s.list.Load())
	s.mu.Unlock()
	macs := s.macs.byPort(s.cfg.Now())
	out := make([]PortStats, 0, len(ports))
	for _, p := range ports {
		out = append(out, PortStats{
			ID: p.id, MACs: macs[p],
			FramesIn: p.framesIn.Load(), BytesIn: p.bytesIn.Load(),
			FramesOut: p.framesOut.Load(), BytesOut: p.bytesOut.Load(),
			Dropped: p.dropped.Load(), Spoofed: p.spoofed.Load(),
		})
	}
	slices.SortFunc(out, func(a, b PortStats) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// readDevice forwards frames from the device to the ports until the
// switch ends or the device does.
func (s *Switch) readDevice() error {
	buf := make([]byte, MaxFrameLen)
	r, err := newFrameReader(s.dev, buf, nil)
	if err != nil {
		return fmt.Errorf("tap: read from %s: %w", s.dev.name, err)
	}
	for {
		n, err := r.read()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("tap: read from %s: %w", s.dev.name, err)
		}
		frame := buf[:n]
		if !s.dev.carries(frame) {
			continue
		}
		s.dev.framesOut.Add(1)
		s.dev.bytesOut.Add(uint64(n))
		if frame[0]&1 == 0 { // unicast
			if p := s.macs.lookup([6]byte(frame[:6]), s.cfg.Now()); p != nil {
				p.enqueue(frame)
				continue
			}
		}
		for _, p := range *s.list.Load() {
			p.enqueue(frame)
		}
	}
}
