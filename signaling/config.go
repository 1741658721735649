package signaling

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/reachd/reachd/identity"
)

// Config configures a Client. Zero values mean the documented defaults.
type Config struct {
	// Identity is this node's key. Required.
	Identity *identity.Identity
	// Brokers are the broker URLs, in the deployment's shared order: signal
	// offsets index into this list. Schemes: mqtt:// (default port 1883),
	// mqtts:// (8883), ws:// (80) and wss:// (443); the websocket ones keep
	// their path (e.g. /mqtt). user:password in the URL is sent as the MQTT
	// username and password; without it the node signs in with its node key
	// (see LoginPassword), which brokers that do not check ignore. An entry
	// may list the members of one broker cluster separated by '|': the node
	// then uses two of them and fails over to the others (see cluster.go).
	// At least one is required.
	Brokers []string
	// TLSConfig is used for mqtts:// and wss:// brokers. Default: system roots,
	// server name from the URL.
	TLSConfig *tls.Config

	// Now returns the current time used for ts and for the expiry and skew
	// checks; pass the NTP-corrected clock. Default time.Now.
	Now func() time.Time
	// MaxSkew is how far in the future a received ts may lie: the clock
	// error tolerated between two NTP-corrected nodes. Default 5s.
	MaxSkew time.Duration
	// TTL is the lifetime of sent messages when the context has no deadline
	// (with a deadline, the time left, capped at MaxTTL). Default 30s.
	TTL time.Duration
	// MaxTTL is the longest ttl_ms accepted and sent. Default 5m.
	MaxTTL time.Duration
	// ReplayCacheSize caps the number of message IDs remembered; one sender
	// holds at most a tenth of them (its newest: its older ones then become
	// too_old). A message beyond the whole is dropped (replay_full) until
	// older ones expire, and a request so dropped is answered with an
	// error. Default 10000.
	ReplayCacheSize int
	// ReplayWindow is the age below which a received message is never
	// dropped as too_old (unless sent before the client started): when the
	// replay cache is full, it forgets messages older than this first.
	// Default 10s.
	ReplayWindow time.Duration

	// QueueSize is the capacity of the receive queue between the MQTT clients
	// and the workers; messages arriving when it is full are dropped
	// (queue_full). Default 256.
	QueueSize int
	// Workers is the number of goroutines that verify messages and run
	// handlers. Default 4.
	Workers int

	// ConnectTimeout bounds one connection attempt (dial and MQTT handshake)
	// and one SUBSCRIBE. Default 10s.
	ConnectTimeout time.Duration
	// ConnectRetryInterval is the wait between attempts while a broker has
	// never been reached. Default 2s.
	ConnectRetryInterval time.Duration
	// MaxReconnectInterval caps the exponential backoff (starting at 1s)
	// between reconnection attempts after a connection was lost. Default 30s.
	MaxReconnectInterval time.Duration
	// KeepAlive is the MQTT keepalive; a dead broker is noticed within about
	// 1.5 times it. Default 30s.
	KeepAlive time.Duration
	// WriteTimeout bounds writing one packet to a broker. Default 10s.
	WriteTimeout time.Duration

	// Logger receives logs (component=signaling). Default: discard.
	Logger *slog.Logger
}

// Defaults for the Config fields.
const (
	DefaultTTL                  = 30 * time.Second
	DefaultQueueSize            = 256
	DefaultWorkers              = 4
	DefaultConnectTimeout       = 10 * time.Second
	DefaultConnectRetryInterval = 2 * time.Second
	DefaultMaxReconnectInterval = 30 * time.Second
	DefaultKeepAlive            = 30 * time.Second
	DefaultWriteTimeout         = 10 * time.Second
)

func (cfg *Config) setDefaults() error {
	if cfg.Identity == nil {
		return errors.New("signaling: config: Identity is required")
	}
	if len(cfg.Brokers) == 0 {
		return errors.New("signaling: config: at least one broker URL is required")
	}
	setDefault(&cfg.MaxSkew, DefaultMaxSkew)
	setDefault(&cfg.MaxTTL, DefaultMaxTTL)
	setDefault(&cfg.TTL, DefaultTTL)
	setDefault(&cfg.ReplayCacheSize, DefaultReplayCacheSize)
	setDefault(&cfg.ReplayWindow, DefaultReplayWindow)
	setDefault(&cfg.QueueSize, DefaultQueueSize)
	setDefault(&cfg.Workers, DefaultWorkers)
	setDefault(&cfg.ConnectTimeout, DefaultConnectTimeout)
	setDefault(&cfg.ConnectRetryInterval, DefaultConnectRetryInterval)
	setDefault(&cfg.MaxReconnectInterval, DefaultMaxReconnectInterval)
	setDefault(&cfg.KeepAlive, DefaultKeepAlive)
	setDefault(&cfg.WriteTimeout, DefaultWriteTimeout)
	if cfg.TTL > cfg.MaxTTL {
		return fmt.Errorf("signaling: config: TTL %v exceeds MaxTTL %v", cfg.TTL, cfg.MaxTTL)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// pahoURL maps a configured broker URL to the one paho dials.
func pahoURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("signaling: broker %q: %w", raw, err)
	}
	var scheme, port string
	switch u.Scheme {
	case "mqtt":
		scheme, port = "tcp", "1883"
	case "mqtts":
		scheme, port = "ssl", "8883"
	case "ws":
		scheme, port = "ws", "80"
	case "wss":
		scheme, port = "wss", "443"
	default:
		return nil, fmt.Errorf("signaling: broker %q: scheme %q is not mqtt, mqtts, ws or wss", raw, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("signaling: broker %q: no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("signaling: broker %q: query and fragment are not supported", raw)
	}
	if scheme == "tcp" || scheme == "ssl" {
		if u.Path != "" && u.Path != "/" {
			return nil, fmt.Errorf("signaling: broker %q: path %q on a non-websocket broker", raw, u.Path)
		}
		u.Path = ""
	}
	out := *u
	out.Scheme = scheme
	if u.Port() == "" {
		out.Host = net.JoinHostPort(u.Hostname(), port)
	}
	return &out, nil
}
