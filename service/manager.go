package service

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/reachd/reachd/session"
	"github.com/reachd/reachd/state"
)

// State file sections.
const (
	sectionServices = "services"
	sectionForwards = "forwards"
)

// Defaults of Config.
const (
	DefaultUDPIdle     = 60 * time.Second
	DefaultOpenTimeout = 20 * time.Second
	DefaultMaxUDPFlows = 256
	DefaultDialTimeout = 10 * time.Second
)

// Opener is what a Manager needs of the node: it checks a peer reference
// and opens a stream to a peer's service.
type Opener interface {
	// CheckPeer says whether peer names a peer that can be reached; the
	// error says what is wrong with it.
	CheckPeer(peer string) error
	// OpenService opens a stream to peer's service; frames asks for a
	// stream of frames (a UDP service).
	OpenService(ctx context.Context, peer, service string, frames bool) (*session.Stream, error)
}

// Config configures a Manager.
type Config struct {
	// Opener opens streams to peers. Required.
	Opener Opener
	// Store keeps services and forwards across restarts; nil keeps them in
	// memory only.
	Store *state.Store
	// Dial connects to a service's target; nil means a net.Dialer with
	// DialTimeout.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// UDPIdle ends a UDP flow without a datagram either way for this long;
	// 0 means DefaultUDPIdle.
	UDPIdle time.Duration
	// MaxUDPFlows bounds a UDP forward's flows at once (each a stream and
	// a queue): a datagram from a new source past it is dropped and
	// counted as a failure, so that spoofed sources cannot grow the node.
	// 0 means DefaultMaxUDPFlows.
	MaxUDPFlows int
	// OpenTimeout bounds opening a stream for a forward's local
	// connection; 0 means DefaultOpenTimeout.
	OpenTimeout time.Duration
	// OnChange is called (without locks held) after services or forwards
	// changed: kind is "service" or "forward". Nil ignores.
	OnChange func(kind string)
	// Logger receives logs; nil discards.
	Logger *slog.Logger
}

// Manager keeps a node's services and forwards.
type Manager struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wgMu   sync.Mutex // Add after Close's Wait began is refused
	closed bool
	wg     sync.WaitGroup

	mu       sync.Mutex
	services map[string]Service
	forwards map[string]*forward
	order    []string // forward IDs, oldest first
}

// New makes a Manager and restores the services and forwards saved in
// cfg.Store. A saved forward whose address cannot be listened on again is
// kept and listed with its error.
func New(cfg Config) (*Manager, error) {
	if cfg.Opener == nil {
		return nil, fmt.Errorf("service: no Opener")
	}
	if cfg.Dial == nil {
		d := &net.Dialer{Timeout: DefaultDialTimeout}
		cfg.Dial = d.DialContext
	}
	if cfg.MaxUDPFlows <= 0 {
		cfg.MaxUDPFlows = DefaultMaxUDPFlows
	}
	if cfg.UDPIdle <= 0 {
		cfg.UDPIdle = DefaultUDPIdle
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = DefaultOpenTimeout
	}
	if cfg.OnChange == nil {
		cfg.OnChange = func(string) {}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{cfg: cfg, log: cfg.Logger.With("component", "service"),
		services: make(map[string]Service), forwards: make(map[string]*forward)}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if cfg.Store == nil {
		return m, nil
	}
	var svcs []Service
	if _, err := cfg.Store.Get(sectionServices, &svcs); err != nil {
		return nil, fmt.Errorf("service: restore services: %w", err)
	}
	for _, s := range svcs {
		s, err := s.Check()
		if err != nil {
			return nil, fmt.Errorf("service: restore service %q: %w", s.Name, err)
		}
		m.services[s.Name] = s
	}
	var fwds []Forward
	if _, err := cfg.Store.Get(sectionForwards, &fwds); err != nil {
		return nil, fmt.Errorf("service: restore forwards: %w", err)
	}
	for _, f := range fwds {
		fw := m.newForward(f)
		if err := fw.listen(); err != nil {
			m.log.Warn("forward not restored", "id", f.ID, "listen", f.Listen, "err", err)
			fw.err = err.Error()
		} else {
			fw.start()
		}
		m.forwards[f.ID] = fw
		m.order = append(m.order, f.ID)
	}
	return m, nil
}

// Close stops every forward and ends every stream the manager copies.
func (m *Manager) Close() error {
	m.wgMu.Lock()
	m.closed = true
	m.wgMu.Unlock()
	m.cancel()
	m.mu.Lock()
	for _, f := range m.forwards {
		f.stop()
	}
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

// Services lists the services, by name.
func (m *Manager) Services() []Service {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Service, 0, len(m.services))
	for _, s := range m.services {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Service) int { return cmpString(a.Name, b.Name) })
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Put adds or replaces a service; created says it is new.
func (m *Manager) Put(s Service) (_ Service, created bool, err error) {
	s, err = s.Check()
	if err != nil {
		return s, false, err
	}
	m.mu.Lock()
	_, had := m.services[s.Name]
	old := m.services[s.Name]
	m.services[s.Name] = s
	if err := m.saveServicesLocked(); err != nil {
		if had {
			m.services[s.Name] = old
		} else {
			delete(m.services, s.Name)
		}
		m.mu.Unlock()
		return s, false, err
	}
	m.mu.Unlock()
	m.log.Info("service offered", "name", s.Name, "target", s.Target, "protocol", s.Protocol, "allow", s.Allow)
	m.cfg.OnChange("service")
	return s, !had, nil
}

// Delete stops offering a service; streams already connected go on.
func (m *Manager) Delete(name string) error {
	m.mu.Lock()
	s, ok := m.services[name]
	if !ok {
		m.mu.Unlock()
		return &FieldError{Field: "name", Err: fmt.Errorf("service %q: %w", name, ErrNotFound)}
	}
	delete(m.services, name)
	if err := m.saveServicesLocked(); err != nil {
		m.services[name] = s
		m.mu.Unlock()
		return err
	}
	m.mu.Unlock()
	m.log.Info("service removed", "name", name)
	m.cfg.OnChange("service")
	return nil
}

// Lookup finds the service a peer's stream names, if the peer may use it.
// A service that does not exist and one the peer may not use are the
// same to the caller: abort the stream with NoSuchService.
func (m *Manager) Lookup(name, peer string) (Service, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.services[name]
	if !ok || !s.Allows(peer) {
		return Service{}, false
	}
	return s, true
}

func (m *Manager) saveServicesLocked() error {
	if m.cfg.Store == nil {
		return nil
	}
	list := make([]Service, 0, len(m.services))
	for _, s := range m.services {
		list = append(list, s)
	}
	slices.SortFunc(list, func(a, b Service) int { return cmpString(a.Name, b.Name) })
	if err := m.cfg.Store.Put(sectionServices, list); err != nil {
		return fmt.Errorf("service: save services: %w", err)
	}
	return nil
}

func (m *Manager) saveForwardsLocked() error {
	if m.cfg.Store == nil {
		return nil
	}
	list := make([]Forward, 0, len(m.order))
	for _, id := range m.order {
		list = append(list, m.forwards[id].Forward)
	}
	if err := m.cfg.Store.Put(sectionForwards, list); err != nil {
		return fmt.Errorf("service: save forwards: %w", err)
	}
	return nil
}

// goroutine runs f as a goroutine the manager waits for on Close; false
// (and f not run) once the manager is closing.
func (m *Manager) goroutine(f func()) bool {
	m.wgMu.Lock()
	defer m.wgMu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
	return true
}
