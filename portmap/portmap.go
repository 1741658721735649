// Package portmap asks the default gateway to forward the node's TCP
// listen port, by PCP (RFC 6887, its own codec in pcp.go), NAT-PMP (RFC
// 6886) or UPnP IGD, so that peers reach the node directly. The three are
// probed in parallel with short timeouts, and PCP, then NAT-PMP, is
// preferred to UPnP.
//
// A Mapper keeps one mapping alive: it renews it at half its lease, has
// it checked from outside (Config.Confirm: a dial-back through the mapped
// port) after it is made and after every renewal, asks the gateway every
// GatewayEvery whether it still holds it, makes it again when the gateway
// restarted (PCP and NAT-PMP epoch, an entry gone, a failed renewal, a
// failed check) or changed, and deletes it when Run returns. Its Status says
// whether the mapping may be advertised: only once a dial-back reached it,
// and never when another NAT lies beyond the gateway (the mapping's
// external address is private, or not the address the dial-back came
// from).
//
// portmap does not decide what the node advertises; package node does,
// from Status.
package portmap

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// Config configures a Mapper. Zero values mean the documented defaults.
type Config struct {
	// Port is the TCP port to map (the peer listen port). Required.
	Port uint16
	// Lease is the lifetime asked for each mapping; the mapping is renewed
	// at half the lease the gateway granted. Zero means 2 hours.
	Lease time.Duration
	// Confirm asks for a dial-back from outside to ext, the mapping's
	// external address, sent from local: ok when our listener answered,
	// with the address the dial-back dialed (the source address the
	// server saw, with ext's port). Required.
	Confirm func(ctx context.Context, local netip.Addr, ext netip.AddrPort) (dialed netip.AddrPort, ok bool, err error)
	// OnChange is called, on the Mapper's goroutine, after Status changed.
	// Nil calls nothing.
	OnChange func()
	// Gateway finds the gateway to ask. Nil means SystemGateway.
	Gateway func() (Gateway, error)
	// ProbeTimeout bounds probing for PCP and NAT-PMP (UPnP's search
	// takes about 1.2 s more) and each later request. Zero means 1s.
	ProbeTimeout time.Duration
	// RetryEvery is how long the Mapper waits after finding no mapping
	// protocol, or failing to map, before it tries again. Zero means 5
	// minutes.
	RetryEvery time.Duration
	// GatewayEvery is how often, between renewals, the gateway is looked
	// up for a change and asked whether it still holds the mapping. Zero
	// means 30s.
	GatewayEvery time.Duration
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Logger receives the mapping's life. Nil discards.
	Logger *slog.Logger

	// clients makes the protocol clients for a gateway, in the order of
	// preference; nil means PCP, NAT-PMP and UPnP. Tests replace it.
	clients func(Gateway) []client
}

// Status is the current mapping, as GET /v1/node reports it per interface.
type Status struct {
	Protocol  Protocol       `json:"protocol"`
	External  netip.AddrPort `json:"external"`
	ExpiresAt time.Time      `json:"expires_at"`
	// Confirmed: a dial-back from outside reached the listener through
	// the mapping since it was last made or renewed. Only a confirmed
	// mapping is advertised.
	Confirmed bool `json:"confirmed"`
	// Reason says why the mapping is not confirmed.
	Reason string `json:"reason,omitempty"`
	// Local is the local address the mapping forwards to (the
	// interface's).
	Local netip.Addr `json:"-"`
	// Internal is the port the mapping forwards to.
	Internal uint16 `json:"-"`
}

// Mapper keeps the listen port mapped. Create it with New, run it with Run.
type Mapper struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	status Status
	mapped bool
}

// New validates cfg and fills in its defaults.
func New(cfg Config) (*Mapper, error) {
	if cfg.Port == 0 {
		return nil, fmt.Errorf("portmap: no port to map")
	}
	if cfg.Confirm == nil {
		return nil, fmt.Errorf("portmap: no Confirm")
	}
	for _, d := range []*time.Duration{&cfg.Lease, &cfg.ProbeTimeout, &cfg.RetryEvery, &cfg.GatewayEvery} {
		if *d < 0 {
			return nil, fmt.Errorf("portmap: negative duration %v", *d)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.Lease, 2*time.Hour)
	def(&cfg.ProbeTimeout, time.Second)
	def(&cfg.RetryEvery, 5*time.Minute)
	def(&cfg.GatewayEvery, 30*time.Second)
	if cfg.Lease < 2*time.Second {
		return nil, fmt.Errorf("portmap: lease %v, want at least 2s", cfg.Lease)
	}
	if cfg.Gateway == nil {
		cfg.Gateway = SystemGateway
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OnChange == nil {
		cfg.OnChange = func() {}
	}
	if cfg.clients == nil {
		cfg.clients = func(gw Gateway) []client {
			return []client{
				&pcpClient{gw: gw, now: cfg.Now},
				&natpmpClient{gw: gw, now: cfg.Now},
				&upnpClient{gw: gw, now: cfg.Now},
			}
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Mapper{cfg: cfg, log: log.With("component", "portmap")}, nil
}

// Status is the current mapping; false when there is none.
func (m *Mapper) Status() (Status, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status, m.mapped
}

func (m *Mapper) setStatus(s Status, mapped bool) {
	m.mu.Lock()
	changed := s != m.status || mapped != m.mapped
	m.status, m.mapped = s, mapped
	m.mu.Unlock()
	if changed {
		m.cfg.OnChange()
	}
}

// current is the mapping the Mapper keeps, with the client that made it.
type current struct {
	gw     Gateway
	client client
	m      Mapping
}
