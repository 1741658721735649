// Package clock estimates the offset of the local clock from NTP servers and
// gives the "network now" that peers agree on, e.g. to meet for a TCP
// simultaneous open at the same instant.
//
// Each Sync queries all configured servers at once (github.com/beevik/ntp),
// drops answers that fail validation (kiss of death, unsynchronised server,
// bad stratum or dispersion) and takes the median of the remaining offsets.
// Run repeats Sync periodically. The package never sets the system clock.
package clock

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/beevik/ntp"
)

// DefaultTimeout bounds each server query when Config.Timeout is zero.
const DefaultTimeout = 2 * time.Second

// DefaultInterval is the resync period of Run when its interval is not positive.
const DefaultInterval = 5 * time.Minute

// QueryFunc asks one NTP server, like ntp.QueryWithOptions. opt.Timeout is
// set, and opt.Dialer dials a UDP socket that is closed when Sync's context
// ends.
type QueryFunc func(server string, opt ntp.QueryOptions) (*ntp.Response, error)

// Config configures a Clock.
type Config struct {
	// Servers are the NTP servers, "host" or "host:port" (port 123 by
	// default; IPv6 as "[addr]:port"). At least one is required.
	Servers []string
	// Timeout bounds each server query. Zero means DefaultTimeout.
	Timeout time.Duration
	// Logger receives sync results. Nil discards.
	Logger *slog.Logger
	// Query asks one server. Nil means ntp.QueryWithOptions; tests inject
	// answers here.
	Query QueryFunc
	// Now reads the local clock. Nil means time.Now.
	Now func() time.Time
}

// Status describes the last synchronisation.
type Status struct {
	Offset    time.Duration // applied by Now: network time = local time + Offset
	Answered  int           // servers that gave a valid answer in the last attempt
	Asked     int           // servers asked in the last attempt
	LastSync  time.Time     // local time of the last successful sync; zero if none
	LastError string        // why the last attempt failed; "" if it succeeded or none was made
}

// Clock holds the current offset. It is safe for concurrent use.
type Clock struct {
	servers []string
	timeout time.Duration
	log     *slog.Logger
	query   QueryFunc
	now     func() time.Time

	syncing chan struct{} // a one-slot semaphore: one Sync at a time

	mu     sync.Mutex
	status Status
}

// New checks cfg and fills its defaults. It does not query any server.
func New(cfg Config) (*Clock, error) {
	if len(cfg.Servers) == 0 {
		return nil, ErrNoServers
	}
	for i, s := range cfg.Servers {
		if s == "" {
			return nil, fmt.Errorf("clock: server %d is empty", i+1)
		}
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("clock: negative timeout %v", cfg.Timeout)
	}
	c := &Clock{
		servers: append([]string(nil), cfg.Servers...),
		timeout: cfg.Timeout,
		log:     cfg.Logger,
		query:   cfg.Query,
		now:     cfg.Now,
		syncing: make(chan struct{}, 1),
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "clock")
	if c.query == nil {
		c.query = ntp.QueryWithOptions
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Now returns the local time corrected by the current offset.
func (c *Clock) Now() time.Time {
	return c.now().Add(c.Offset())
}

// Offset returns the current offset (zero until a sync succeeds). The last
// good offset stays in use when later syncs fail.
func (c *Clock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status.Offset
}

// Status returns a snapshot of the last synchronisation.
func (c *Clock) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}
