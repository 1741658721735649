package rendezvous

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/coder/websocket"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/reachd/reachd/internal/acceptor"
)

// Broker settings that are not configurable.
const (
	mqttMessageExpiry   = 5 * time.Minute // a queued QoS 1/2 message is kept this long (signaling's longest TTL)
	mqttSysInterval     = 30              // seconds between $SYS topic updates
	mqttConnectTimeout  = 10 * time.Second
	mqttWSHeaderTimeout = 10 * time.Second
)

// broker is the embedded mochi MQTT broker with the listeners we bound.
type broker struct {
	srv *mqtt.Server
	tcp *mqttListener
	ws  *mqttListener // nil when WebSocket is off
}

// newBroker binds the MQTT listeners and starts serving. Mochi's own TCP and
// WebSocket listeners bind inside Init and cannot take a net.Listener, so
// ":0" would leave us without the real port; listeners.Net takes one but, like
// the others, neither closes connections that never sent CONNECT nor waits for
// its goroutines, so Close could hang on a silent client. mqttListener does
// both.
func newBroker(ctx context.Context, cfg Config, log *slog.Logger) (_ *broker, err error) {
	limits, err := mqttLimitsOf(cfg)
	if err != nil {
		return nil, err
	}
	b := &broker{}
	defer func() {
		if err != nil {
			b.closeListeners()
		}
	}()
	ln, err := net.Listen("tcp", cfg.MQTTListen)
	if err != nil {
		return nil, fmt.Errorf("rendezvous: mqtt listen %s: %w", cfg.MQTTListen, err)
	}
	b.tcp = &mqttListener{id: "tcp", ln: acceptor.New(ln, acceptor.Config{Logger: log}), ctx: ctx, maxPacket: limits.maxPacket}
	if cfg.MQTTWSListen != "" {
		ln, err := net.Listen("tcp", cfg.MQTTWSListen)
		if err != nil {
			return nil, fmt.Errorf("rendezvous: mqtt websocket listen %s: %w", cfg.MQTTWSListen, err)
		}
		b.ws = &mqttListener{id: "ws", ln: acceptor.New(ln, acceptor.Config{Logger: log}), ctx: ctx, ws: true, maxPacket: limits.maxPacket}
	}

	b.srv = mqtt.New(&mqtt.Options{
		Capabilities:           limits.capabilities(),
		Logger:                 mqttLogger(log),
		SysTopicResendInterval: mqttSysInterval,
		InlineClient:           !cfg.NamesOff, // the name service publishes its replies
	})
	// Signaling is signed and sealed end to end, but who talks to whom, and
	// when, is not: by default only nodes signed in with their node key may
	// use the broker, each reading its own topic and its groups'.
	var authHook mqtt.Hook = new(auth.AllowHook)
	if !cfg.MQTTAnonymous {
		if authHook, err = newNodeAuth(cfg, log); err != nil {
			return nil, err
		}
	}
	if err := b.srv.AddHook(authHook, nil); err != nil {
		return nil, fmt.Errorf("rendezvous: mqtt auth hook: %w", err)
	}
	if err := b.srv.AddHook(&limitHook{srv: b.srv, limits: limits, nodesOnly: !cfg.MQTTAnonymous, log: log}, nil); err != nil {
		return nil, fmt.Errorf("rendezvous: mqtt limit hook: %w", err)
	}
	if !cfg.NamesOff {
		h, err := newNamesHook(b.srv, cfg, log)
		if err != nil {
			return nil, err
		}
		if err := b.srv.AddHook(h, nil); err != nil {
			return nil, fmt.Errorf("rendezvous: mqtt names hook: %w", err)
		}
	}
	for _, l := range []*mqttListener{b.tcp, b.ws} {
		if l == nil {
			continue
		}
		if err := b.srv.AddListener(l); err != nil {
			return nil, fmt.Errorf("rendezvous: mqtt listener %s: %w", l.id, err)
		}
	}
	if err := b.srv.Serve(); err != nil {
		return nil, fmt.Errorf("rendezvous: mqtt serve: %w", err)
	}
	return b, nil
}

// closeListeners closes the sockets of a broker that never started serving.
func (b *broker) closeListeners() {
	for _, l := range []*mqttListener{b.tcp, b.ws} {
		if l != nil {
			_ = l.ln.Close()
		}
	}
}

// close stops the broker: mochi closes each listener (which closes its
// connections and waits for their goroutines) and then waits for its clients.
func (b *broker) close() error {
	return b.srv.Close()
}

// mqttListener is a mochi listener over a net.Listener we bound, serving
// plain MQTT or MQTT over WebSocket (binary messages, any path, subprotocol
// "mqtt" offered). It tracks every connection and goroutine so that Close
// leaves nothing behind.
type mqttListener struct {
	id  string
	ln  *acceptor.Listener // waits out accept failures such as EMFILE
	ctx context.Context    // the server's lifetime; bounds WebSocket connections
	ws  bool

	maxPacket int // see mqttConn

	log       *slog.Logger
	establish listeners.EstablishFn
	t         tracker
}

var _ listeners.Listener = (*mqttListener)(nil)

func (l *mqttListener) ID() string      { return l.id }
func (l *mqttListener) Address() string { return l.ln.Addr().String() }

func (l *mqttListener) Protocol() string {
	if l.ws {
		return "ws"
	}
	return "tcp"
}

// Init is called by mochi's AddListener; the socket is already bound.
func (l *mqttListener) Init(log *slog.Logger) error {
	l.log = log
	return nil
}

// Serve is run by mochi in a goroutine of its own; it returns once the
// listener is closed.
func (l *mqttListener) Serve(establish listeners.EstablishFn) {
	if !l.t.enter() {
		return
	}
	defer l.t.leave()
	l.establish = establish
	if l.ws {
		l.serveWS()
		return
	}
	for {
		c, err := l.ln.Accept() // fails only once closed
		if err != nil {
			return
		}
		if !l.t.add(c) {
			return
		}
		l.t.goFunc(func() {
			defer l.t.remove(c)
			l.serveConn(c, c.LocalAddr())
		})
	}
}

// serveConn hands c to mochi, which returns when the client is gone. A new
// connection gets mqttConnectTimeout to send CONNECT; mochi then replaces the
// deadline with one derived from the client's keepalive.
func (l *mqttListener) serveConn(c net.Conn, local net.Addr) {
	_ = c.SetDeadline(time.Now().Add(mqttConnectTimeout))
	if err := l.establish(l.id, newMQTTConn(c, local, l.maxPacket)); err != nil {
		l.log.Debug("mqtt client ended", "remote", c.RemoteAddr(), "err", err)
	}
}

func (l *mqttListener) serveWS() {
	srv := &http.Server{
		Handler:           http.HandlerFunc(l.serveHTTP),
		ReadHeaderTimeout: mqttWSHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return l.ctx },
	}
	err := srv.Serve(l.ln) // returns once the listener is closed
	if !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		l.log.Warn("mqtt websocket serve", "err", err)
	}
	// Close connections still upgrading; upgraded (hijacked) ones are
	// tracked and closed by Close.
	_ = srv.Close()
}

// wsCloser closes a WebSocket connection at once, without the close
// handshake, for shutdown.
type wsCloser struct{ c *websocket.Conn }

func (w *wsCloser) Close() error { return w.c.CloseNow() }

func (l *mqttListener) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !l.t.enter() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer l.t.leave()
	wc, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{"mqtt"},
		// Browsers on any origin may use the broker, as with plain MQTT.
		InsecureSkipVerify: true,
	})
	if err != nil {
		l.log.Debug("mqtt websocket upgrade", "remote", r.RemoteAddr, "err", err)
		return
	}
	closer := &wsCloser{wc}
	if !l.t.add(closer) {
		return
	}
	defer l.t.remove(closer)
	// NetConn streams binary messages (so no per-message size limit applies
	// here; mqttConn and mochi enforce Config.MQTTMaxPacket per packet) and
	// is closed when the server's lifetime ends.
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	l.serveConn(websocket.NetConn(l.ctx, wc, websocket.MessageBinary), local)
}

// Close is called by mochi's Server.Close. It closes the socket and every
// connection, whose clients mochi then forgets as their reads fail, and
// waits for the listener's goroutines. It does not call closeClients:
// mochi v2.7.9's Clients.GetByListener takes its read lock twice, which
// deadlocks against a client being deleted at the same moment (seen in
// TestCloseLeavesNoGoroutines), and with every connection closed there is
// nothing left for it to do.
func (l *mqttListener) Close(listeners.CloseFn) {
	_ = l.ln.Close()
	l.t.shutdown()
	l.t.wait()
}
