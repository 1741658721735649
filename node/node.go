// Package node is reachd's orchestrator: one Node per daemon. It owns
// the node's identity, clock, NAT probe and peer address; the peer
// listener and its handshake slots (inbound.go, slots.go); the inbound
// policy and the limits on what peers can make it do (policy.go,
// limits.go, refusals.go); the API's objects: connections (conn.go,
// registry.go), events (events.go) and metrics (metrics.go); the state
// file's sections for what the API changes (persist.go); named networks,
// TAP devices and services as the node wires them (network.go, tap.go,
// service.go). It does not speak HTTP: package server does.
//
// The connection pipeline runs in three stages, each a package of its own
// under node/internal with its own lock, which Node wires and hosts:
// handshake (preamble, TLS, commit byte), race (a plan raced to one path,
// concurrent connects to a peer sharing one race) and peerlink (one
// session link per peer: resume, upgrade, grace, bounds). ARCHITECTURE.md
// walks a connect and an inbound path through them.
package node

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/reachd/reachd/clock"
	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/internal/acceptor"
	"github.com/reachd/reachd/natprobe"
	"github.com/reachd/reachd/network"
	"github.com/reachd/reachd/node/internal/peerlink"
	"github.com/reachd/reachd/node/internal/race"
	"github.com/reachd/reachd/pair"
	"github.com/reachd/reachd/portmap"
	"github.com/reachd/reachd/service"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/state"
	"github.com/reachd/reachd/strategy"
	"github.com/reachd/reachd/turn"
)

// Defaults used when a Config list is empty. They name public services;
// tests and private deployments always configure their own.
var (
	DefaultSTUN = []string{"stun.l.google.com:19302", "stun.cloudflare.com:3478"}
	DefaultNTP  = []string{"pool.ntp.org"}
	DefaultMQTT = []string{
		"mqtt://broker.emqx.io:1883",
		"mqtt://broker.hivemq.com:1883",
		"mqtt://test.mosquitto.org:1883",
	}
)

// Config configures a node.
type Config struct {
	// DataDir holds the node key. Required.
	DataDir string
	// ListenPort is the peer listen port; 0 derives a stable port from the
	// node ID (see DerivePort), falling back to any free port if it is taken.
	ListenPort uint16
	// MQTT lists the signaling broker URLs, in the deployment's shared
	// order (signal offsets index into it); empty means DefaultMQTT.
	MQTT []string
	// STUN lists STUN servers host:port; empty means DefaultSTUN.
	STUN []string
	// TURN lists TURN servers turn://user:pass@host:port.
	TURN []string
	// Birthday is the birthday punch setting for hard-easy pairs
	// (strategy.Birthday): on with punch's default budget unless Off.
	Birthday strategy.Birthday
	// NTP lists NTP servers host[:port]; empty means DefaultNTP, and the
	// single entry "off" uses the local clock as it is.
	NTP []string
	// ResyncEvery is how often the clock and the NAT probe are refreshed;
	// 0 means 10 minutes.
	ResyncEvery time.Duration
	// WatchEvery is how often the node checks that its NATs still map it
	// to the external address of its last probe (one STUN binding per NATed
	// interface; see addrchange.go); 0 means DefaultWatchEvery, negative
	// turns the check off.
	WatchEvery time.Duration
	// Accept is the inbound policy: AcceptAny (the default) or
	// AcceptAllowlist, which lets in only the node IDs in Allow. A policy
	// saved in the data dir's state file wins over Accept and Allow
	// (persist.go).
	Accept string
	// Allow lists the node IDs an allowlist policy lets in.
	Allow []string
	// NetworkGrace is how long a named network's member may have no link
	// before it drops out of the peer table; 0 means 30s.
	NetworkGrace time.Duration
	// NetworkMaxMembers caps each named network's peer table: members
	// past it are not admitted; 0 means network.DefaultMaxMembers.
	NetworkMaxMembers int
	// HostName is the host name the node announces in its named networks,
	// where the other members name it host.network: a DNS label. Empty
	// means the machine's host name as a label (network.HostLabel).
	HostName string
	// NetworkRange is where named networks derive the subnet of their
	// automatic addresses (a /24 each); zero means network.DefaultRange.
	NetworkRange netip.Prefix
	// Grace is how long a connection waits for a new path after its
	// path died, unless its connect says otherwise; 0 means 30s.
	Grace time.Duration
	// Limits bound what peers can make the node do; zero fields take
	// their defaults.
	Limits Limits
	// NoPortMap turns port mapping off: by default the node asks its
	// gateway to forward the listen port by PCP, NAT-PMP or UPnP IGD
	// (package portmap, node/portmap.go).
	NoPortMap bool
	// PortMapLease is the lease asked for a port mapping, renewed at half
	// what the gateway grants; 0 means 2 hours.
	PortMapLease time.Duration
	// Logger receives the node's logs; nil discards.
	Logger *slog.Logger
}

// Node is a running reachd node.
type Node struct {
	cfg     Config
	log     *slog.Logger
	id      *identity.Identity
	machine string
	prober  *natprobe.Prober
	sig     *signaling.Client
	relays  *turn.Pool // nil without TURN servers
	clock   *clock.Clock
	cert    tls.Certificate
	ln      net.Listener
	port    uint16
	started time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ready  chan struct{}

	conns     *registry
	races     race.Sync       // connects to one peer share one race
	links     *peerlink.Table // a session link per peer
	events    *events
	counters  *counters
	peerTasks chan struct{} // slots of the peer tasks running (see async)
	limits    *limiter
	lock      *identity.DataDirLock
	inboundMu sync.Mutex // counting and listing an inbound connection is one step

	netMu sync.Mutex
	nets  *network.Manager // named networks; started on first use (network.go)

	pairMu sync.Mutex
	pairs  *pair.Manager // pairing offers and joins; started on first use (pair.go)

	probeMu    sync.Mutex // one probe at a time
	probedAt   time.Time  // when the last probe finished; stateMu
	probeBegan time.Time  // when the last probe began; stateMu
	reprobes   *debouncer // probes asked for by triggers (addrchange.go)

	// birthdaySlot holds a token while the one birthday punch that may
	// run at a time runs (env.BeginBirthday); capacity 1.
	birthdaySlot chan struct{}

	tickets tickets // connections strategies wait for on the listener

	mapper *portmap.Mapper // the listen port's mapping; nil with NoPortMap

	// state is the node's one state file (state.json in the data dir):
	// every feature keeps its section through this Store, as two Stores of
	// one file would overwrite each other's sections.
	state     *state.Store
	book      *book            // the address book, section "peers" of state
	located   located          // addresses learnt by node ID over signaling (locate.go)
	names     *nameRegs        // names registered on the name services, section "names" (names.go)
	nameCache nameCache        // names resolved as peer references (names.go)
	services  *service.Manager // services offered and forwards (service.go)

	policyMu sync.Mutex
	policy   Policy

	persist *persister // the state file's networks and policy (persist.go)

	stateMu    sync.Mutex // the probe's outcome and readiness
	report     natprobe.Report
	probed     bool
	readyAfter time.Duration
}

// New loads or creates the node's identity and binds its peer listener.
// Start begins probing and serving.
func New(cfg Config) (_ *Node, retErr error) {
	if cfg.DataDir == "" {
		return nil, errors.New("node: no data dir")
	}
	if len(cfg.STUN) == 0 {
		cfg.STUN = DefaultSTUN
	}
	if len(cfg.MQTT) == 0 {
		cfg.MQTT = DefaultMQTT
	}
	if len(cfg.NTP) == 0 {
		cfg.NTP = DefaultNTP
	}
	if cfg.WatchEvery == 0 {
		cfg.WatchEvery = DefaultWatchEvery
	}
	if cfg.ResyncEvery == 0 {
		cfg.ResyncEvery = 10 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Grace == 0 {
		cfg.Grace = 30 * time.Second
	}
	if cfg.NetworkGrace == 0 {
		cfg.NetworkGrace = 30 * time.Second
	}
	if cfg.HostName == "" {
		h, _ := os.Hostname()
		cfg.HostName = network.HostLabel(h)
	} else if !network.ValidHostName(cfg.HostName) {
		return nil, fmt.Errorf("node: host name %q: want a DNS label: 1 to 63 of a-z, 0-9 and -", cfg.HostName)
	}
	if cfg.NetworkRange.IsValid() {
		if _, err := network.CheckRange(cfg.NetworkRange); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
	}
	cfg.Limits.fill()
	policy, err := checkPolicy(Policy{Accept: cfg.Accept, Allow: cfg.Allow})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	started := time.Now()
	// One data dir, one daemon: a second would answer for the same key.
	lock, err := identity.LockDataDir(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	defer func() {
		if retErr != nil {
			lock.Close()
		}
	}()
	// One store for the state file: every feature keeps its section in it.
	store, err := state.Open(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	persist, policy, err := openState(store, cfg, policy)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	var id *identity.Identity
	id, err = identity.LoadOrCreate(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	cert, err := id.TLSCertificate()
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	prober, err := natprobe.New(natprobe.Config{STUNServers: cfg.STUN, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	var clk *clock.Clock
	if !ntpOff(cfg.NTP) {
		if clk, err = clock.New(clock.Config{Servers: cfg.NTP, Logger: cfg.Logger}); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
	}
	sig, err := signaling.New(signaling.Config{
		Identity: id,
		Brokers:  cfg.MQTT,
		Now:      clockNow(clk),
		Logger:   cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	var relays *turn.Pool
	if len(cfg.TURN) > 0 {
		if relays, err = turn.NewPool(turn.PoolConfig{URLs: cfg.TURN, Logger: cfg.Logger}); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
	}
	n := &Node{
		birthdaySlot: make(chan struct{}, 1),
		relays:       relays,
		cfg:          cfg,
		log:          cfg.Logger.With("component", "node"),
		id:           id,
		machine:      identity.MachineID(),
		cert:         cert,
		prober:       prober,
		sig:          sig,
		clock:        clk,
		started:      started,
		ready:        make(chan struct{}),

		conns:     newRegistry(),
		events:    newEvents(),
		counters:  newCounters(),
		peerTasks: make(chan struct{}, maxPeerTasks),
		limits:    newLimiter(cfg.Limits),
		reprobes:  newDebouncer(reprobeQuiet, reprobeMost),
		policy:    policy,
		persist:   persist,
		lock:      lock,
	}
	if n.links, err = newLinks(n); err != nil {
		sig.Close()
		return nil, fmt.Errorf("node: %w", err)
	}
	n.state = store
	if n.book, err = openBook(store, clockNow(clk)); err != nil {
		n.links.Close()
		sig.Close()
		return nil, fmt.Errorf("node: %w", err)
	}
	if n.names, err = openNames(n); err != nil {
		n.links.Close()
		sig.Close()
		return nil, fmt.Errorf("node: %w", err)
	}
	if n.services, err = newServices(n); err != nil {
		sig.Close()
		return nil, err
	}
	if err := n.listen(); err != nil {
		n.services.Close()
		sig.Close()
		return nil, err
	}
	if n.mapper, err = n.newMapper(); err != nil {
		n.ln.Close()
		n.services.Close()
		sig.Close()
		return nil, fmt.Errorf("node: %w", err)
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.handlePeerTasks()
	n.sig.Handle(msgAddress, n.answerAddress)
	n.sig.Handle(msgLocate, n.answerLocate)
	n.sig.Handle(msgAddressMoved, n.answerAddressMoved)
	return n, nil
}

// DerivePort is the default peer listen port of a node: stable for its ID,
// in 20000-31999, below the usual ephemeral port range.
func DerivePort(nodeID string) uint16 {
	h := sha256.Sum256([]byte(nodeID))
	return 20000 + uint16(binary.BigEndian.Uint32(h[:4])%12000)
}

func (n *Node) listen() error {
	port := n.cfg.ListenPort
	explicit := port != 0
	if !explicit {
		port = DerivePort(n.id.NodeID())
	}
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil && !explicit {
		n.log.Warn("derived listen port is taken, using a free one", "port", port, "err", err)
		ln, err = net.Listen("tcp", ":0")
	}
	if err != nil {
		return fmt.Errorf("node: listen on peer port %d: %w", port, err)
	}
	n.port = uint16(ln.Addr().(*net.TCPAddr).Port)
	// Accept backs off on errors such as a full file table, logging once a
	// second, instead of spinning.
	n.ln = acceptor.New(ln, acceptor.Config{Logger: n.log})
	return nil
}

func ntpOff(servers []string) bool { return len(servers) == 1 && servers[0] == "off" }

// clockNow is the NTP-corrected clock, or the local one without NTP.
func clockNow(c *clock.Clock) func() time.Time {
	if c == nil {
		return time.Now
	}
	return c.Now
}

// Now is the NTP-corrected time.
func (n *Node) Now() time.Time { return clockNow(n.clock)() }

// ID is the node ID.
func (n *Node) ID() string { return n.id.NodeID() }

// Ready is closed once the first probe and clock sync have finished and
// signaling is up (or has had signalingWait to come up). It does not mean
// the node can reach anyone: Info's Ready and WaitingFor also need a
// probed interface and a connected broker.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Start probes the NATs, syncs the clock and serves the peer listener in
// the background until Close.
func (n *Node) Start() {
	n.wg.Go(n.acceptLoop)
	n.wg.Go(n.maintain)
	n.wg.Go(n.watchBrokers)
	n.wg.Go(n.reportBytes)
	n.wg.Go(n.restoreNetworks)
	n.wg.Go(n.keepNames)
	if n.mapper != nil {
		n.wg.Go(func() { n.mapper.Run(n.ctx) })
	}
	n.wg.Go(n.reprobeLoop)
	n.wg.Go(n.watchExternal)
	n.wg.Go(n.watchNetwork)
	if n.relays != nil {
		n.wg.Go(func() { n.relays.Run(n.ctx) })
	}
}

// signalingWait is how long the node waits for a first broker before it
// reports ready anyway (brokers keep being retried in the background).
const signalingWait = 5 * time.Second

// maintain runs the first probe, clock sync and signaling start
// concurrently, marks the node ready, then refreshes the probe and the clock
// every ResyncEvery.
func (n *Node) maintain() {
	for first := true; ; first = false {
		var wg sync.WaitGroup
		if first {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(n.ctx, signalingWait)
				defer cancel()
				if err := n.sig.Start(ctx); err != nil {
					n.log.Warn("no signaling broker reachable yet; retrying in the background", "err", err)
				}
			}()
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			n.probe("periodic")
		}()
		go func() {
			defer wg.Done()
			if n.clock != nil {
				n.clock.Sync(n.ctx) // the clock logs failures; the offset stays
			}
		}()
		wg.Wait()
		if first {
			n.stateMu.Lock()
			n.readyAfter = time.Since(n.started)
			n.stateMu.Unlock()
			close(n.ready)
			n.log.Info("node ready", "address", n.Address(), "after", n.readyAfter.Round(time.Millisecond))
		}
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(n.cfg.ResyncEvery):
		}
	}
}

// probe probes the NATs; trigger says why (see AddressChange).
func (n *Node) probe(trigger string) {
	n.probeMu.Lock()
	defer n.probeMu.Unlock()
	n.probeLocked(trigger)
}

// probeLocked is probe with probeMu held.
func (n *Node) probeLocked(trigger string) {
	n.stateMu.Lock()
	n.probeBegan = time.Now()
	n.stateMu.Unlock()
	db, done := n.reachCheck()
	rep := n.prober.ProbeReach(n.ctx, db)
	done()
	if n.ctx.Err() != nil {
		return
	}
	n.stateMu.Lock()
	old, had := n.report, n.probed
	n.report = rep
	n.probed = true
	n.probedAt = time.Now()
	n.stateMu.Unlock()
	n.emit(Event{Type: EventProbe, Node: ptr(n.Info())})
	if had {
		n.addressChanged(old, rep, trigger)
	}
}

// Close stops the node and waits for its goroutines.
func (n *Node) Close() error {
	n.closeNetworks() // first: members hear that we leave
	n.closePairing()
	n.services.Close()
	n.links.Close() // peers hear that we close; no resume runs after
	n.cancel()
	err := n.ln.Close()
	n.sig.Close()
	n.wg.Wait()
	n.lock.Close()
	return err
}

// watchBrokers emits an event whenever a broker goes up or down, and asks
// for a probe when one reconnects: its connection went through our NAT,
// and may have died because our address changed.
func (n *Node) watchBrokers() {
	var last []bool
	var connects []uint64
	for {
		changed := n.sig.Changes()
		brokers := n.sig.Brokers()
		now := make([]bool, len(brokers))
		for i, b := range brokers {
			now[i] = b.Connected
			if i < len(connects) && connects[i] > 0 && b.Connects > connects[i] {
				n.reprobeSoon("broker reconnect")
			}
		}
		connects = make([]uint64, len(brokers))
		for i, b := range brokers {
			connects[i] = b.Connects
		}
		if !slices.Equal(now, last) {
			n.emit(Event{Type: EventBroker, Brokers: brokers})
			last = now
		}
		select {
		case <-n.ctx.Done():
			return
		case <-changed:
		}
	}
}

// bytesEvery is the most often byte counters are reported as events.
const bytesEvery = time.Second

// reportBytes emits the byte counters of open connections once a second
// while they change.
func (n *Node) reportBytes() {
	t := time.NewTicker(bytesEvery)
	defer t.Stop()
	last := map[string][2]uint64{}
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		var changed []ConnInfo
		now := map[string][2]uint64{}
		for _, c := range n.conns.open() {
			info := c.Info()
			counts := [2]uint64{info.BytesSent, info.BytesReceived}
			now[info.ID] = counts
			if last[info.ID] != counts {
				changed = append(changed, info)
			}
		}
		last = now
		if len(changed) > 0 {
			n.emit(Event{Type: EventBytes, Connections: changed})
		}
	}
}
