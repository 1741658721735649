// Package server is reachd's REST API: a chi router over the node, with
// RFC 9457 problem errors and Bearer-token authentication. It calls the node
// only; it holds no state of its own beyond the HTTP server.
//
// It owns, per file: the router, the security chain (Host, Origin, token:
// security.go) and the listener's connection cap (listener.go); the one
// adapter from handler errors to problems (problem.go, plainerrors.go) and
// request decoding (request.go); the routes of each resource
// (connections.go, stream.go for send, recv and the WebSocket, tap.go,
// networks.go, policy.go, echo.go, ping.go, services.go); the event
// stream (events.go: each event encoded once by the node, a bounded
// queue per client); /metrics (metrics.go); and serving the OpenAPI
// document and the dashboard (package openapi, package web). The REST
// contract is openapi/openapi.json, which the tests check every request
// and response against (openapi/openapitest).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/internal/acceptor"
	"github.com/reachd/reachd/network"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/openapi"
	"github.com/reachd/reachd/service"
	"github.com/reachd/reachd/web"
)

// DefaultAddr is where the API listens unless told otherwise: loopback only.
const DefaultAddr = "127.0.0.1:12333"

// Defaults of the API's connection limits (see Config).
const (
	DefaultMaxConns      = 512
	DefaultIdleTimeout   = 60 * time.Second
	DefaultHeaderTimeout = 10 * time.Second
)

// maxHeaderBytes bounds a request's header; a larger one is answered 431.
// The API's requests carry a few short headers.
const maxHeaderBytes = 64 << 10

// Node is what the API needs of the node.
type Node interface {
	Info() node.Info
	Echo(ctx context.Context, addr address.Address) (node.EchoResult, error)
	Ping(ctx context.Context, addr address.Address, o node.PingOptions) (node.PingResult, error)
	ConnectWith(ctx context.Context, addr address.Address, o node.ConnectOptions) (*node.Conn, error)
	Conn(id string) (*node.Conn, bool)
	Conns() []*node.Conn
	SubscribeEvents(after uint64, queue int) ([]*node.EventRecord, bool, *node.EventSub)
	LastEventID() uint64
	Metrics() node.Metrics
	Policy() node.Policy
	SetAccept(mode string) (node.Policy, error)
	AllowPeer(id string) (node.Policy, error)
	DisallowPeer(id string) (node.Policy, bool)
	AttachTAP(c *node.Conn, cfg node.TAPConfig) (node.TAPInfo, error)
	DetachTAP(c *node.Conn) error
	JoinNetwork(ctx context.Context, cfg network.JoinConfig) (network.Info, error)
	LeaveNetwork(ctx context.Context, name string) error
	Networks() []network.Info
	Network(name string) (network.Info, error)
	MemberLinkOf(c *node.Conn) string
	Services() []service.Service
	PutService(s service.Service) (service.Service, bool, error)
	DeleteService(name string) error
	Forwards() []service.ForwardInfo
	AddForward(f service.Forward) (service.ForwardInfo, error)
	RemoveForward(id string) error
	AddressBook() []node.Peer
	PutPeer(name, addr, nodeID string) (node.Peer, bool, error)
	DeletePeer(name string) error
	Resolve(ctx context.Context, ref string) (address.Address, string, error)
	Pair(ctx context.Context, name string) (node.PairOffer, error)
	PairJoin(ctx context.Context, code, name string) (node.Peer, error)
	Names() []node.NameInfo
	RegisterName(ctx context.Context, name string) (node.NameInfo, bool, error)
	LookupName(ctx context.Context, name string) (node.NameInfo, address.Address, error)
	DropName(ctx context.Context, name string) error
}

var _ Node = (*node.Node)(nil)

// Config configures the API server.
type Config struct {
	// Addr is the listen address; empty means DefaultAddr. Port 0 picks a
	// free port (see Server.Addr).
	Addr string
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// every request. It must be set when Addr is not a loopback address.
	Token string
	// Node is the node the API serves. Required.
	Node Node
	// CORSOrigins are the browser origins allowed to call the API (and open
	// WebSocket streams) from other sites; empty allows none.
	CORSOrigins []string
	// Logger receives request errors; nil discards.
	Logger *slog.Logger

	// MaxConns caps the API connections open at once, event streams and
	// WebSockets included; a connection beyond it is closed as soon as it
	// is accepted, and counted in /metrics. Zero means DefaultMaxConns.
	MaxConns int
	// IdleTimeout closes a keep-alive connection that has waited this long
	// for its next request. Zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// HeaderTimeout bounds the wait for a request's header, from a new
	// connection's start or the first byte of a request on a kept-alive
	// one. Zero means DefaultHeaderTimeout. There is no timeout on reading
	// a body or writing an answer: streams, events and WebSockets last.
	HeaderTimeout time.Duration
}

// CheckSecurity refuses a non-loopback API address without a token.
func (c Config) CheckSecurity() error {
	addr := c.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("api address %q: %w", addr, err)
	}
	if c.Token == "" && !isLoopbackHost(host) {
		return fmt.Errorf("api address %q is not loopback: set an API token (--api-token) to expose it", addr)
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Server is the running API.
type Server struct {
	cfg    Config
	log    *slog.Logger
	ln     *limitListener
	http   *http.Server
	wg     sync.WaitGroup
	ctx    context.Context // cancelled when Close begins: ends streams
	cancel context.CancelFunc
}

// New validates cfg, binds the listener and serves in the background.
func New(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Node == nil {
		return nil, errors.New("server: no node")
	}
	if err := cfg.CheckSecurity(); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxConns < 0 || cfg.IdleTimeout < 0 || cfg.HeaderTimeout < 0 {
		return nil, errors.New("server: negative connection limit")
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.HeaderTimeout == 0 {
		cfg.HeaderTimeout = DefaultHeaderTimeout
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("server: listen %s: %w", cfg.Addr, err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "api")}
	// The acceptor backs off on errors such as a full file table instead
	// of spinning (net/http's own back-off logs every failure).
	s.ln = &limitListener{Listener: acceptor.New(ln, acceptor.Config{Logger: s.log}), max: int64(cfg.MaxConns), maxHeaderBytes: maxHeaderBytes, log: s.log}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.http = &http.Server{
		Handler:           markAnswering(s.Handler()),
		ReadHeaderTimeout: cfg.HeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnContext:       connContext,
		ConnState:         connState,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.http.RegisterOnShutdown(s.cancel)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "err", err)
		}
	}()
	return s, nil
}

// Addr is the address the API listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, giving open requests a moment to finish.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = s.http.Close()
	}
	s.wg.Wait()
	return err
}

// Handler is the API's router.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(problemErrors, middleware.GetHead, s.guard)
	r.NotFound(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return problemf(http.StatusNotFound, "no route %s %s", r.Method, r.URL.Path)
	}))
	r.MethodNotAllowed(s.handle(func(w http.ResponseWriter, req *http.Request) error {
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete} {
			if r.Match(chi.NewRouteContext(), m, req.URL.Path) || m == http.MethodHead && slices.Contains(allowed, http.MethodGet) {
				allowed = append(allowed, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		return problemf(http.StatusMethodNotAllowed, "method %s not allowed on %s", req.Method, req.URL.Path)
	}))
	r.Get("/v1/node", s.handle(s.getNode))
	r.Post("/v1/echo", s.handle(s.postEcho))
	r.Post("/v1/ping", s.handle(s.postPing))
	r.Post("/v1/connections", s.handle(s.postConnection))
	r.Get("/v1/connections", s.handle(s.listConnections))
	r.Get("/v1/connections/{id}", s.handle(s.getConnection))
	r.Delete("/v1/connections/{id}", s.handle(s.deleteConnection))
	r.Post("/v1/connections/{id}/send", s.handle(s.send))
	r.Get("/v1/connections/{id}/recv", s.handle(s.recv))
	r.Head("/v1/connections/{id}/recv", s.handle(s.recvHead))
	r.Get("/v1/connections/{id}/stream", s.handle(s.stream))
	r.Post("/v1/connections/{id}/tap", s.handle(s.postTAP))
	r.Delete("/v1/connections/{id}/tap", s.handle(s.deleteTAP))
	r.Post("/v1/networks", s.handle(s.postNetwork))
	r.Get("/v1/networks", s.handle(s.listNetworks))
	r.Get("/v1/networks/{name}", s.handle(s.getNetwork))
	r.Delete("/v1/networks/{name}", s.handle(s.deleteNetwork))
	r.Get("/v1/events", s.handle(s.events))
	r.Get("/v1/policy", s.handle(s.getPolicy))
	r.Put("/v1/policy", s.handle(s.putPolicy))
	r.Put("/v1/policy/allow/{id}", s.handle(s.putAllowed))
	r.Delete("/v1/policy/allow/{id}", s.handle(s.deleteAllowed))
	r.Get("/v1/services", s.handle(s.listServices))
	r.Put("/v1/services/{name}", s.handle(s.putService))
	r.Delete("/v1/services/{name}", s.handle(s.deleteService))
	r.Get("/v1/forwards", s.handle(s.listForwards))
	r.Post("/v1/forwards", s.handle(s.postForward))
	r.Delete("/v1/forwards/{id}", s.handle(s.deleteForward))
	r.Get("/v1/peers", s.handle(s.listPeers))
	r.Put("/v1/peers/{name}", s.handle(s.putPeer))
	r.Delete("/v1/peers/{name}", s.handle(s.deletePeer))
	r.Post("/v1/pair", s.handle(s.postPair))
	r.Post("/v1/pair/join", s.handle(s.postPairJoin))
	r.Get("/v1/names", s.handle(s.listNames))
	r.Put("/v1/names/{name}", s.handle(s.putName))
	r.Get("/v1/names/{name}", s.handle(s.getName))
	r.Delete("/v1/names/{name}", s.handle(s.deleteName))
	r.Get("/metrics", s.handle(s.metrics))
	r.Method("GET", "/openapi.json", openapi.Handler())
	r.Method("GET", "/", web.Handler())
	r.Method("GET", "/static/*", http.StripPrefix("/static", web.Handler()))
	return r
}

func (s *Server) getNode(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, s.cfg.Node.Info())
}
