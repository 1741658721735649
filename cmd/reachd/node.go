package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/network"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/punch"
	"github.com/reachd/reachd/server"
	"github.com/reachd/reachd/strategy"
)

// nodeFlags are the flags of reachd run, shared with reachd demo's nodes.
type nodeFlags struct {
	api          string
	apiToken     string
	apiTokenFile string
	apiCORS      listFlag
	port         uint
	dataDir      string
	mqtt         listFlag
	stun         listFlag
	turn         listFlag
	ntp          listFlag
	logLevel     string

	// The inbound policy and the peer limits (node.Config).
	accept                 string
	allow                  listFlag
	peerRequestRate        float64
	requestRate            float64
	maxInbound             int
	maxInboundPerPeer      int
	maxHandshakesPerIP     int
	maxHandshakesPerPrefix int
	linkBuffer             sizeFlag
	streamWindow           sizeFlag
	recvBudget             sizeFlag
	maxLinks               int
	linkIdle               time.Duration

	// Birthday punching of hard-easy pairs (node.Config.Birthday).
	birthdayPunch   bool
	birthdaySYNs    int
	birthdaySockets int

	// grace is how long a connection waits for a new path after its path
	// died (node.Config).
	grace time.Duration

	// networkGrace is how long a network member's link may stay down
	// before it drops out of the peer table (node.Config).
	networkGrace time.Duration
	// networkRange is where networks derive automatic subnets.
	networkRange string
	// networkMaxMembers caps each named network's peer table.
	networkMaxMembers int
	// hostName is announced in named networks (host.network).
	hostName string
	// portmap asks the gateway to forward the listen port; portmapLease
	// is the lease asked.
	portmap      bool
	portmapLease time.Duration
	// addressWatch is how often the node checks its external address
	// (node.Config.WatchEvery); 0 turns the check off.
	addressWatch time.Duration

	// API connection limits (server.Config).
	apiMaxConns      int
	apiIdleTimeout   time.Duration
	apiHeaderTimeout time.Duration
}

func (f *nodeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.api, "api", server.DefaultAddr, "REST API address `host:port`")
	fs.StringVar(&f.apiToken, "api-token", "", "Bearer `token` for the API; required when --api is not loopback (other local users see it in ps: prefer REACHD_API_TOKEN or --api-token-file)")
	fs.StringVar(&f.apiTokenFile, "api-token-file", "", "read the API's bearer token from `file` (its first line)")
	f.apiCORS.validate = validOrigin
	fs.Var(&f.apiCORS, "api-cors", "browser `origins` (scheme://host[:port]) allowed to call the API from other sites, comma-separated")
	fs.IntVar(&f.apiMaxConns, "api-max-conns", server.DefaultMaxConns, "most API connections open at once (`n`, event streams and WebSockets count); beyond, a new one is closed at once")
	fs.DurationVar(&f.apiIdleTimeout, "api-idle-timeout", server.DefaultIdleTimeout, "close a kept-alive API connection idle for this `duration`")
	fs.DurationVar(&f.apiHeaderTimeout, "api-header-timeout", server.DefaultHeaderTimeout, "close an API connection whose request header takes longer than this `duration`")
	fs.UintVar(&f.port, "port", 0, "peer listen `port` (default: a stable port derived from the node ID)")
	fs.StringVar(&f.dataDir, "data-dir", defaultDataDir(), "`dir`ectory of the node key")
	f.mqtt.validate = validBrokerURL
	fs.Var(&f.mqtt, "mqtt", "MQTT broker `urls`, comma-separated (mqtt://, mqtts://, ws://, wss://); the members of one broker cluster joined by '|' count as one")
	f.stun.validate = validHostPort
	fs.Var(&f.stun, "stun", "STUN servers `host:port`, comma-separated")
	f.turn.validate = validTURNURL
	fs.Var(&f.turn, "turn", "TURN servers `turn://user:pass@host:port`, comma-separated")
	f.ntp.validate = validHostOptionalPort
	fs.Var(&f.ntp, "ntp", "NTP servers `host[:port]`, comma-separated, or \"off\" to trust the local clock")
	fs.StringVar(&f.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&f.accept, "accept", node.AcceptAny, "inbound `policy`: any (every node that knows the address) or allowlist (only --allow)")
	f.allow.validate = validNodeID
	fs.Var(&f.allow, "allow", "node `IDs` an allowlist policy lets in, comma-separated (more can be added through the API)")
	fs.Float64Var(&f.peerRequestRate, "peer-request-rate", 10, "dial-back, punch and relay requests one peer may make `per second` (bursts of four times as many)")
	fs.Float64Var(&f.requestRate, "request-rate", 100, "peer requests from all peers together `per second` (bursts of four times as many)")
	fs.IntVar(&f.maxInbound, "max-inbound", 4096, "most inbound peer connections open at once (`n`)")
	fs.IntVar(&f.maxInboundPerPeer, "max-inbound-per-peer", 1024, "most inbound connections from one peer (`n`)")
	f.linkBuffer = 8 << 20
	fs.Var(&f.linkBuffer, "link-buffer", "bytes sent to one peer and not yet acknowledged, kept to resend on a new path (`size`: bytes, or with KiB or MiB); writers wait beyond")
	f.streamWindow = 2 << 20
	fs.Var(&f.streamWindow, "stream-window", "bytes one connection takes in ahead of its reader (`size`, 256KiB to 1GiB); the peer's writer waits beyond")
	f.recvBudget = 256 << 20
	fs.Var(&f.recvBudget, "recv-budget", "bytes all peers together may make the node hold for its connections' readers (`size`, at least 1MiB); windows shrink as it fills, and new connections from peers are refused once it is full")
	fs.DurationVar(&f.grace, "grace", 30*time.Second, "how long a connection waits for a new path after its path died, before it aborts (`duration`; a connect's grace_ms overrides it)")
	fs.IntVar(&f.maxHandshakesPerIP, "max-handshakes-per-ip", 16, "most inbound connections in their handshake from one source IP (`n`)")
	fs.IntVar(&f.maxLinks, "max-links", 1024, "most peer links at once (`n`, one per peer with a path to this node); past it a new one replaces the link idle the longest, or is refused")
	fs.DurationVar(&f.linkIdle, "link-idle", 2*time.Minute, "close a peer link that has carried no connection for this `duration`")
	fs.IntVar(&f.maxHandshakesPerPrefix, "max-handshakes-per-prefix", 32, "most inbound connections in their handshake from one /24 (IPv4) or /64 (IPv6) (`n`); beyond, the oldest still silent one makes room")
	fs.BoolVar(&f.birthdayPunch, "birthday-punch", true, "punch a peer whose NAT maps to random ports when the other NAT is predictable, by many SYNs from one side and probes of random ports from the other (false: such pairs relay)")
	fs.IntVar(&f.birthdaySYNs, "birthday-syns", punch.DefaultBirthdaySYNs, "most SYNs one birthday punch sends from this node (`n`)")
	fs.IntVar(&f.birthdaySockets, "birthday-sockets", punch.DefaultBirthdaySockets, "most sockets one birthday punch holds open at once on this node (`n`; lowered to what the open-file limit leaves)")
	fs.DurationVar(&f.networkGrace, "network-grace", 30*time.Second, "drop a named network's member whose link stays down this `duration`")
	fs.StringVar(&f.networkRange, "network-range", network.DefaultRange.String(), "where named networks derive the subnet (a /24 each) of their automatic addresses (`prefix`)")
	fs.IntVar(&f.networkMaxMembers, "network-max-members", network.DefaultMaxMembers, "most members of one named network this node admits (`n`)")
	fs.StringVar(&f.hostName, "hostname", "", "the host `name` this node announces in named networks, where members reach it as name.network (a DNS label; default: the machine's host name)")
	fs.BoolVar(&f.portmap, "portmap", true, "ask the gateway to forward the listen port (PCP, NAT-PMP or UPnP IGD); advertised once a dial-back reaches it")
	fs.DurationVar(&f.addressWatch, "address-watch", node.DefaultWatchEvery, "how often the node checks, with one STUN binding per NATed interface, that its NAT still maps it to the external address it advertises (`duration`; 0: off, a new WAN address is then noticed by a lost path or broker)")
	fs.DurationVar(&f.portmapLease, "portmap-lease", 2*time.Hour, "the lease a port mapping asks for (`duration`, at least 2s), renewed at half what the gateway grants")
}

// config turns the flags into the node's and the API server's configs.
func (f *nodeFlags) config(logger *slog.Logger) (node.Config, server.Config, error) {
	if f.port > 65535 {
		return node.Config{}, server.Config{}, usagef("--port %d: out of range 1-65535", f.port)
	}
	if err := validHostPort(f.api); err != nil {
		return node.Config{}, server.Config{}, usagef("--api %q: %v", f.api, err)
	}
	if f.apiMaxConns < 1 {
		return node.Config{}, server.Config{}, usagef("--api-max-conns %d: want at least 1", f.apiMaxConns)
	}
	if f.apiIdleTimeout <= 0 {
		return node.Config{}, server.Config{}, usagef("--api-idle-timeout %s: want a positive duration", f.apiIdleTimeout)
	}
	if f.apiHeaderTimeout <= 0 {
		return node.Config{}, server.Config{}, usagef("--api-header-timeout %s: want a positive duration", f.apiHeaderTimeout)
	}
	if f.accept != node.AcceptAny && f.accept != node.AcceptAllowlist {
		return node.Config{}, server.Config{}, usagef("--accept %q: want %s or %s", f.accept, node.AcceptAny, node.AcceptAllowlist)
	}
	for name, v := range map[string]float64{"--peer-request-rate": f.peerRequestRate, "--request-rate": f.requestRate} {
		if !(v > 0) {
			return node.Config{}, server.Config{}, usagef("%s %v: want a positive rate", name, v)
		}
	}
	for name, v := range map[string]int{"--max-inbound": f.maxInbound, "--max-inbound-per-peer": f.maxInboundPerPeer, "--max-handshakes-per-ip": f.maxHandshakesPerIP, "--max-handshakes-per-prefix": f.maxHandshakesPerPrefix, "--max-links": f.maxLinks, "--birthday-syns": f.birthdaySYNs, "--birthday-sockets": f.birthdaySockets} {
		if v < 1 {
			return node.Config{}, server.Config{}, usagef("%s %d: want at least 1", name, v)
		}
	}
	if f.grace <= 0 {
		return node.Config{}, server.Config{}, usagef("--grace %s: want a positive duration", f.grace)
	}
	if f.streamWindow < 256<<10 || f.streamWindow > 1<<30 {
		// The session's window frames carry at most 1 GiB.
		return node.Config{}, server.Config{}, usagef("--stream-window %d: want 256KiB to 1GiB", f.streamWindow)
	}
	if f.linkBuffer < 64<<10 {
		return node.Config{}, server.Config{}, usagef("--link-buffer %d: want at least 64KiB", f.linkBuffer)
	}
	if f.linkIdle <= 0 {
		return node.Config{}, server.Config{}, usagef("--link-idle %s: want a positive duration", f.linkIdle)
	}
	if f.recvBudget < 1<<20 {
		return node.Config{}, server.Config{}, usagef("--recv-budget %d: want at least 1MiB", f.recvBudget)
	}
	if f.apiTokenFile != "" {
		if f.apiToken != "" {
			return node.Config{}, server.Config{}, usagef("--api-token-file: the token is given already (--api-token or REACHD_API_TOKEN)")
		}
		tok, err := readTokenFile(f.apiTokenFile)
		if err != nil {
			return node.Config{}, server.Config{}, usagef("--api-token-file: %v", err)
		}
		f.apiToken = tok
	}
	if f.networkGrace <= 0 {
		return node.Config{}, server.Config{}, usagef("--network-grace %s: want a positive duration", f.networkGrace)
	}
	netRange, err := netip.ParsePrefix(f.networkRange)
	if err == nil {
		netRange, err = network.CheckRange(netRange)
	}
	if err != nil {
		return node.Config{}, server.Config{}, usagef("--network-range %q: want an IPv4 prefix from a /8 to a /30 (10.64.0.0/10)", f.networkRange)
	}
	if f.hostName != "" && !network.ValidHostName(f.hostName) {
		return node.Config{}, server.Config{}, usagef("--hostname %q: want a DNS label: 1 to 63 of a-z, 0-9 and -", f.hostName)
	}
	if f.networkMaxMembers < 1 {
		return node.Config{}, server.Config{}, usagef("--network-max-members %d: want at least 1", f.networkMaxMembers)
	}
	if f.portmapLease < 2*time.Second {
		return node.Config{}, server.Config{}, usagef("--portmap-lease %s: want at least 2s", f.portmapLease)
	}
	if f.addressWatch < 0 {
		return node.Config{}, server.Config{}, usagef("--address-watch %s: want 0 (off) or more", f.addressWatch)
	}
	watch := f.addressWatch
	if watch == 0 {
		watch = -1 // node.Config: negative is off
	}
	nc := node.Config{
		WatchEvery:   watch,
		NoPortMap:    !f.portmap,
		PortMapLease: f.portmapLease,
		Accept:       f.accept,
		Allow:        f.allow.items,
		Limits: node.Limits{
			PeerRequestRate:        f.peerRequestRate,
			RequestRate:            f.requestRate,
			MaxInbound:             f.maxInbound,
			MaxInboundPerPeer:      f.maxInboundPerPeer,
			MaxHandshakesPerIP:     f.maxHandshakesPerIP,
			MaxHandshakesPerPrefix: f.maxHandshakesPerPrefix,
			LinkBuffer:             int(f.linkBuffer),
			StreamWindow:           int(f.streamWindow),
			RecvBudget:             int64(f.recvBudget),
			MaxLinks:               f.maxLinks,
			LinkIdle:               f.linkIdle,
		},
		Grace:      f.grace,
		DataDir:    f.dataDir,
		ListenPort: uint16(f.port),
		MQTT:       f.mqtt.items,
		STUN:       f.stun.items,
		TURN:       f.turn.items,
		NTP:        f.ntp.items,
		Logger:     logger,
	}
	nc.Birthday = strategy.Birthday{Off: !f.birthdayPunch, SYNs: f.birthdaySYNs, Sockets: f.birthdaySockets}
	nc.NetworkGrace = f.networkGrace
	nc.NetworkMaxMembers = f.networkMaxMembers
	nc.HostName = f.hostName
	nc.NetworkRange = netRange
	sc := server.Config{Addr: f.api, Token: f.apiToken, CORSOrigins: f.apiCORS.items, Logger: logger,
		MaxConns: f.apiMaxConns, IdleTimeout: f.apiIdleTimeout, HeaderTimeout: f.apiHeaderTimeout}
	if err := sc.CheckSecurity(); err != nil {
		return node.Config{}, server.Config{}, usageError{err}
	}
	return nc, sc, nil
}

func runNode(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reachd run", flag.ContinueOnError)
	var f nodeFlags
	f.register(fs)
	logFormat := registerDaemonFlags(fs, true)
	if _, err := parseFlags(fs, args, stderr, 0); err != nil {
		return err
	}
	logger, err := newLogger(stderr, f.logLevel, *logFormat)
	if err != nil {
		return err
	}
	nc, sc, err := f.config(logger)
	if err != nil {
		return err
	}
	if onCommandLine(fs, "api-token") {
		logger.Warn("the API token given with --api-token is visible to every local user (ps); use REACHD_API_TOKEN or --api-token-file")
	}
	n, err := node.New(nc)
	if err != nil {
		return err
	}
	defer n.Close()
	sc.Node = n
	srv, err := server.New(sc)
	if err != nil {
		return err
	}
	defer srv.Close()
	logger.Info("reachd running", "node_id", n.ID(), "api", "http://"+srv.Addr())
	n.Start()
	<-ctx.Done()
	logger.Info("reachd stopping")
	return nil
}

// defaultDataDir is $XDG_STATE_HOME/reachd, else ~/.local/state/reachd.
func defaultDataDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "reachd")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "reachd")
	}
	return "reachd-data"
}

// validBrokerURL checks one --mqtt entry: a broker URL, or the URLs of one
// broker cluster's members joined by '|'.
func validBrokerURL(s string) error {
	if members := strings.Split(s, "|"); len(members) > 1 {
		for _, m := range members {
			if err := validBrokerURL(m); err != nil {
				return fmt.Errorf("cluster member %q: %w", m, err)
			}
		}
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "mqtt", "mqtts", "ws", "wss":
	default:
		return fmt.Errorf("scheme %q: want mqtt, mqtts, ws or wss", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("missing host")
	}
	return nil
}

func validTURNURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "turn" {
		return fmt.Errorf("scheme %q: want turn://user:pass@host:port", u.Scheme)
	}
	if u.User == nil || u.User.Username() == "" {
		return errors.New("missing user")
	}
	if _, ok := u.User.Password(); !ok {
		return errors.New("missing password")
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return errors.New("want host:port")
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("bad port %q", port)
	}
	if strings.Trim(u.Path, "/") != "" {
		return fmt.Errorf("unexpected path %q", u.Path)
	}
	return nil
}

func validOrigin(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return errors.New("want an origin like https://app.example.com")
	}
	return nil
}

// validNodeID checks an --allow entry.
func validNodeID(s string) error { return identity.ValidNodeID(s) }

// onCommandLine reports whether the flag name was set on the command line
// (not through its environment variable).
func onCommandLine(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

// readTokenFile reads a token from the first line of a file.
func readTokenFile(name string) (string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	tok, _, _ := strings.Cut(string(b), "\n")
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", fmt.Errorf("%s: no token on its first line", name)
	}
	return tok, nil
}

// sizeFlag is a byte count: a number, optionally with KiB, MiB or GiB.
type sizeFlag int64

func (s *sizeFlag) String() string { return strconv.FormatInt(int64(*s), 10) }

func (s *sizeFlag) Set(v string) error {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(v, suffix) {
			v, mult = strings.TrimSuffix(v, suffix), m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return fmt.Errorf("want a size in bytes, or with KiB, MiB or GiB")
	}
	*s = sizeFlag(n * mult)
	return nil
}
