// Package network runs reachd's named networks: virtual LANs of peers that
// share a secret.
//
// A member joins with a name, a secret and a TAP address (or "auto"). The
// secret derives everything (Keys): the signaling group topic members
// announce themselves on, the key that seals those announcements, and the
// proof each member link starts with. Members learn each other from the
// announcements (node ID, peer address, TAP IP, MAC), and every pair links
// once (the smaller node ID dials, retrying with backoff); each link
// starts with a hello both ways, then carries Ethernet frames. One TAP
// device per network sits behind a tap.Switch with a port per member link.
// The peer table says who is in, with each link's state and path; members
// that leave, or whose link stays down past the grace period, drop out.
//
// The package makes no connections and speaks no MQTT itself: the node
// gives it a Host (dial a peer address, its own ID and address) and a
// Signal (join a group topic), and hands it the inbound links it Expects.
package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/reachd/reachd/signaling"
)

// Link is an authenticated byte stream to a peer: a node connection.
type Link interface {
	io.ReadWriteCloser
	// Done is closed when the link has ended.
	Done() <-chan struct{}
	// PeerID is the peer's authenticated node ID.
	PeerID() string
	// ID is the connection's ID; Strategy and RemoteAddr its current path.
	ID() string
	Strategy() string
	RemoteAddr() string
}

// Host is what a network needs of its node.
type Host interface {
	// ID is the node's ID.
	ID() string
	// Address is the node's peer address; empty while unknown.
	Address() string
	// Dial connects to the peer at address with the usual strategies.
	Dial(ctx context.Context, address string) (Link, error)
	// Dialable checks an address member announced before anything dials
	// it: it must be member's own peer address, and it is cut to the IPs
	// a node may dial on a peer's word (strategy.CheckLearned). It
	// returns the address to dial, or why there is none.
	Dialable(member, address string) (string, error)
}

// Group is a joined signaling group topic.
type Group interface {
	Publish(ctx context.Context, k signaling.Kind, body any) error
	Leave()
}

// Signal joins signaling group topics; h gets each message that opened
// with key: sender node ID, type and JSON body.
type Signal interface {
	JoinGroup(topic string, key [32]byte, h func(m *signaling.Message)) (Group, error)
}

// Config configures a Manager.
type Config struct {
	Host   Host   // required
	Signal Signal // required
	// HostName is the host name this node announces in its networks (a
	// DNS label; see ValidHostName); empty announces none.
	HostName string
	// Grace is how long a member's link may stay down (or never come up)
	// before the member drops out of the peer table. Zero means 30s.
	Grace time.Duration
	// AnnounceEvery is the period of a member's announcements. Zero means 10s.
	AnnounceEvery time.Duration
	// Settle is how long an "auto" join listens to the others before it
	// sets its address up. Zero means 2s.
	Settle time.Duration
	// DialTimeout bounds one link attempt. Zero means 30s.
	DialTimeout time.Duration
	// MaxBackoff caps the wait between link attempts. Zero means 30s.
	MaxBackoff time.Duration
	// MaxMembers caps the peer table: announces from more members are
	// ignored and their links refused. Zero means DefaultMaxMembers.
	MaxMembers int
	// Range is where a network's subnet is derived for automatic
	// addresses (a /24 of it, or all of it when smaller) when no member
	// tells otherwise. Zero means DefaultRange; a /8 to a /30.
	Range netip.Prefix
	// Routes lists the host's routes, which a network's subnet must not
	// overlap. Nil means the kernel's main table (none off Linux).
	Routes func() ([]Route, error)
	// Wait is how long a join may hear from no member before its state is
	// StateWaiting. Zero means 5s.
	Wait time.Duration
	// OnState, when set, is told each change of a network's state.
	OnState func(StateChange)
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Logger receives logs (component=network). Nil discards.
	Logger *slog.Logger
}

// DefaultMaxMembers is the default cap on a network's peer table.
const DefaultMaxMembers = 256

// Errors of Join, Leave and Get.
var (
	ErrBadName   = errors.New("network: bad name")
	ErrBadSecret = errors.New("network: bad secret")
	ErrBadIP     = errors.New("network: bad ip")
	ErrJoined    = errors.New("network: joined already")
	ErrNotJoined = errors.New("network: not joined")
	ErrClosed    = errors.New("network: closed")
)

// Manager runs the node's networks.
type Manager struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context // lifetime, cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	nets    map[string]*Network
	joining map[string]*Network // those whose Join runs
}

// New returns a Manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Host == nil || cfg.Signal == nil {
		return nil, errors.New("network: config needs a host and a signal")
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 30 * time.Second
	}
	if cfg.AnnounceEvery <= 0 {
		cfg.AnnounceEvery = 10 * time.Second
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 2 * time.Second
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 30 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.MaxMembers <= 0 {
		cfg.MaxMembers = DefaultMaxMembers
	}
	if !cfg.Range.IsValid() {
		cfg.Range = DefaultRange
	}
	var err error
	if cfg.Range, err = CheckRange(cfg.Range); err != nil {
		return nil, err
	}
	if cfg.Routes == nil {
		cfg.Routes = hostRoutes
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{cfg: cfg, log: cfg.Logger.With("component", "network"),
		nets: make(map[string]*Network), joining: make(map[string]*Network)}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// JoinConfig is a request to join a network.
type JoinConfig struct {
	Name   string
	Secret string
	// IP is the TAP address with its prefix ("10.99.0.1/24") or "auto".
	IP string
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// CheckJoin validates a join request without touching anything. For
// "auto" the returned prefix is invalid.
func CheckJoin(c JoinConfig) (netip.Prefix, error) {
	if !nameRE.MatchString(c.Name) {
		return netip.Prefix{}, fmt.Errorf("%w %q: 1 to 32 of a-z, 0-9, - and _, starting with a letter or digit", ErrBadName, c.Name)
	}
	if len(c.Secret) < MinSecretLen || len(c.Secret) > MaxSecretLen {
		return netip.Prefix{}, fmt.Errorf("%w: %d bytes, want %d to %d", ErrBadSecret, len(c.Secret), MinSecretLen, MaxSecretLen)
	}
	if c.IP == "auto" {
		return netip.Prefix{}, nil
	}
	p, err := netip.ParsePrefix(c.IP)
	switch {
	case err != nil:
		return p, fmt.Errorf("%w %q: want an IPv4 address with prefix length (10.99.0.1/24) or \"auto\"", ErrBadIP, c.IP)
	case !p.Addr().Is4():
		return p, fmt.Errorf("%w %q: networks carry IPv4 addresses (IPv6 link-local comes with the device)", ErrBadIP, c.IP)
	case p.Bits() < 8 || p.Bits() > 30:
		return p, fmt.Errorf("%w %q: prefix length must be 8 to 30", ErrBadIP, c.IP)
	case p.Addr() == p.Masked().Addr() || p.Addr() == hostAddr(p, hostCount(p)-1):
		return p, fmt.Errorf("%w %q: the network or broadcast address of its range", ErrBadIP, c.IP)
	}
	return p, nil
}

// Join joins a network: it subscribes to its topic, announces the node,
// creates the TAP device and starts linking to the members. With "auto"
// it first listens Settle long to learn the addresses taken. ctx bounds
// the join, not the membership, which lasts until Leave or Close.
func (m *Manager) Join(ctx context.Context, c JoinConfig) (Info, error) {
	ip, err := CheckJoin(c)
	if err != nil {
		return Info{}, err
	}
	keys, err := Derive(c.Name, c.Secret)
	if err != nil {
		return Info{}, err
	}
	routes, err := m.cfg.Routes()
	if err != nil {
		return Info{}, err
	}
	m.mu.Lock()
	if m.ctx.Err() != nil {
		m.mu.Unlock()
		return Info{}, ErrClosed
	}
	if _, ok := m.nets[c.Name]; ok || m.joining[c.Name] != nil {
		m.mu.Unlock()
		return Info{}, fmt.Errorf("%w: %s", ErrJoined, c.Name)
	}
	// The subnets of our other networks count as routes, even while
	// their devices are not up yet.
	for _, o := range m.nets {
		routes = append(routes, Route{Prefix: o.subnet, Dev: "network " + o.name})
	}
	for _, o := range m.joining {
		routes = append(routes, Route{Prefix: o.subnet, Dev: "network " + o.name})
	}
	subnet := ip.Masked()
	if ip.IsValid() {
		if r, taken := collision(subnet, routes); taken {
			m.mu.Unlock()
			return Info{}, &RouteError{Subnet: subnet, Route: r}
		}
	} else if subnet, err = deriveSubnet(keys.Topic, m.cfg.Range, routes); err != nil {
		m.mu.Unlock()
		return Info{}, err
	}
	// Get and List show it as joining until it has started; Leave and
	// the inbound links do not see it.
	n := newNetwork(m, c.Name, keys, ip, subnet)
	m.joining[c.Name] = n
	m.mu.Unlock()
	err = n.start(ctx)
	m.mu.Lock()
	delete(m.joining, c.Name)
	closed := m.ctx.Err() != nil
	if err == nil && !closed {
		m.nets[c.Name] = n
	}
	m.mu.Unlock()
	switch {
	case err != nil:
		return Info{}, err
	case closed:
		n.stop(context.Background(), false)
		return Info{}, ErrClosed
	}
	return n.Info(), nil
}

// Leave leaves a network: it tells the members, closes the links and
// removes the device.
func (m *Manager) Leave(ctx context.Context, name string) error {
	m.mu.Lock()
	n, ok := m.nets[name]
	delete(m.nets, name)
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotJoined, name)
	}
	n.stop(ctx, true)
	return nil
}

// Get reports one network, also while it is joining.
func (m *Manager) Get(name string) (Info, error) {
	m.mu.Lock()
	n, ok := m.nets[name]
	if !ok {
		n, ok = m.joining[name]
	}
	m.mu.Unlock()
	if !ok {
		return Info{}, fmt.Errorf("%w: %s", ErrNotJoined, name)
	}
	return n.Info(), nil
}

// List reports every network, by name, with those joining.
func (m *Manager) List() []Info {
	out := []Info{}
	m.mu.Lock()
	nets := slices.AppendSeq(slices.Collect(maps.Values(m.joining)), maps.Values(m.nets))
	m.mu.Unlock()
	for _, n := range nets {
		out = append(out, n.Info())
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (m *Manager) networks() []*Network {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Network, 0, len(m.nets))
	for _, n := range m.nets {
		out = append(out, n)
	}
	return out
}

// Expects reports whether an inbound connection from peer is taken as a
// member link: peer is a member of a network that dials us (its node ID is
// the smaller) and has no live link. Until streams carry a service name,
// this is how a member link is told from a connection for the API.
func (m *Manager) Expects(peer string) bool {
	for _, n := range m.networks() {
		if n.expects(peer) {
			return true
		}
	}
	return false
}

// Accept takes an inbound link that Expects: it reads the hello, finds the
// network whose secret it proves, answers and adds the link. It closes the
// link when none matches. It returns at once; the work runs in the
// background.
func (m *Manager) Accept(l Link) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil { // Close waits for wg, or is done with it
		l.Close()
		return
	}
	m.wg.Go(func() {
		if err := m.accept(l); err != nil {
			m.log.Info("inbound member link refused", "peer", l.PeerID(), "conn", l.ID(), "err", err)
			l.Close()
		}
	})
}

// helloTimeout bounds reading the dialer's hello on an accepted link;
// answerTimeout bounds the dialer's wait for the answer.
const (
	helloTimeout  = 10 * time.Second
	answerTimeout = 5 * time.Second
)

func (m *Manager) accept(l Link) error {
	h, err := readWithin(m.ctx, l, helloTimeout)
	if err != nil {
		return err
	}
	if h.From != l.PeerID() {
		return fmt.Errorf("%w: from %s on a link with %s", errBadHello, h.From, l.PeerID())
	}
	for _, n := range m.networks() {
		if h.verify(&n.keys, m.cfg.Host.ID()) {
			return n.accepted(l, h)
		}
	}
	return fmt.Errorf("%w: proves no network of ours", errBadHello)
}

// LinkOf returns the name of the network whose member link the connection
// connID is, or "" for none: such a connection's bytes are the network's.
func (m *Manager) LinkOf(connID string) string {
	for _, n := range m.networks() {
		if n.hasLink(connID) {
			return n.name
		}
	}
	return ""
}

// AddressChanged tells the networks the node's address changed, so they
// announce it now.
func (m *Manager) AddressChanged() {
	for _, n := range m.networks() {
		n.poke()
	}
}

// Close leaves every network (telling the members) and waits for the
// background work.
func (m *Manager) Close() error {
	m.mu.Lock()
	nets := m.nets
	m.nets = map[string]*Network{}
	m.cancel()
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, n := range nets {
		n.stop(ctx, true)
	}
	m.wg.Wait()
	return nil
}

// readWithin reads a hello from l, giving up after d or when ctx ends
// (closing l, whose read would otherwise not end).
func readWithin(ctx context.Context, l Link, d time.Duration) (hello, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	h, err := readHello(l)
	if !stop() {
		return hello{}, fmt.Errorf("network: no hello within %v: %w", d, ctx.Err())
	}
	return h, err
}
