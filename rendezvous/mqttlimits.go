package rendezvous

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Defaults of the broker limits (Config.MQTT*). Signaling messages are small,
// short-lived, never retained, and reachd nodes use clean sessions: nothing
// needs to be kept for a client that has gone. With every limit at its
// default, the messages the broker may hold are bounded by
// MaxClients x (MaxInflight + MaxQueued) x MaxPacket.
const (
	DefaultMQTTMaxClients    = 1024
	DefaultMQTTSessionExpiry = time.Minute
	DefaultMQTTMaxInflight   = 64
	DefaultMQTTMaxQueued     = 64
	// DefaultMQTTMaxPacket fits the largest signaling message (64 KiB) with
	// its topic and header.
	DefaultMQTTMaxPacket = 66 << 10
)

// Upper bounds of the broker limits, from mochi's field types and MQTT.
const (
	maxMQTTInflight = 1<<16 - 1
	maxMQTTQueued   = 1 << 20
	maxMQTTPacket   = 268_435_455 // the largest remaining length MQTT encodes
	maxMQTTExpiry   = time.Duration(1<<32-1) * time.Second
)

// mqttLimits are the filled-in broker limits.
type mqttLimits struct {
	maxClients    int
	sessionExpiry time.Duration
	maxInflight   int
	maxQueued     int
	maxPacket     int
}

func mqttLimitsOf(cfg Config) (mqttLimits, error) {
	l := mqttLimits{
		maxClients:    cfg.MQTTMaxClients,
		sessionExpiry: cfg.MQTTSessionExpiry,
		maxInflight:   cfg.MQTTMaxInflight,
		maxQueued:     cfg.MQTTMaxQueued,
		maxPacket:     cfg.MQTTMaxPacket,
	}
	for _, f := range []struct {
		name  string
		v     *int
		def   int
		limit int
	}{
		{"mqtt max clients", &l.maxClients, DefaultMQTTMaxClients, 1 << 30},
		{"mqtt max inflight", &l.maxInflight, DefaultMQTTMaxInflight, maxMQTTInflight},
		{"mqtt max queued", &l.maxQueued, DefaultMQTTMaxQueued, maxMQTTQueued},
		{"mqtt max packet", &l.maxPacket, DefaultMQTTMaxPacket, maxMQTTPacket},
	} {
		switch {
		case *f.v == 0:
			*f.v = f.def
		case *f.v < 0 || *f.v > f.limit:
			return l, fmt.Errorf("%w: %s %d: want 1..%d", ErrInvalidConfig, f.name, *f.v, f.limit)
		}
	}
	switch {
	case l.sessionExpiry == 0:
		l.sessionExpiry = DefaultMQTTSessionExpiry
	case l.sessionExpiry < time.Second || l.sessionExpiry > maxMQTTExpiry:
		return l, fmt.Errorf("%w: mqtt session expiry %v: want 1s..%v", ErrInvalidConfig, l.sessionExpiry, maxMQTTExpiry)
	}
	if l.maxPacket < 128 {
		return l, fmt.Errorf("%w: mqtt max packet %d: want at least 128 bytes", ErrInvalidConfig, l.maxPacket)
	}
	return l, nil
}

// capabilities applies l to mochi's capabilities.
func (l mqttLimits) capabilities() *mqtt.Capabilities {
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClients = int64(l.maxClients)
	caps.MaximumPacketSize = uint32(l.maxPacket)
	caps.RetainAvailable = 0 // retained messages would be unbounded storage for anyone
	caps.MaximumSessionExpiryInterval = uint32(l.sessionExpiry / time.Second)
	caps.MaximumMessageExpiryInterval = int64(mqttMessageExpiry / time.Second)
	caps.MaximumClientWritesPending = int32(l.maxQueued)
	caps.MaximumInflight = uint16(l.maxInflight)
	// The QoS 1/2 publishes a client may have unacknowledged towards us;
	// announced in CONNACK, and a client exceeding it is disconnected
	// (0x93).
	caps.ReceiveMaximum = uint16(l.maxInflight)
	return caps
}

// limitHook enforces what mochi's capabilities leave open: MaximumClients
// counts connected clients only, so disconnected persistent sessions (each
// with its queue) could pile up without bound; an MQTT 5 client may raise
// its session expiry in DISCONNECT past the maximum it was granted; mochi
// acknowledges a RETAIN publish it does not keep; and its CONNACK does not
// announce the maximum packet size nor that retain is unavailable.
type limitHook struct {
	mqtt.HookBase
	srv       *mqtt.Server
	limits    mqttLimits
	nodesOnly bool // nodeAuth is on: no wildcard or shared subscriptions
	log       *slog.Logger
}

func (h *limitHook) ID() string { return "reachd-limits" }

func (h *limitHook) Provides(b byte) bool {
	return b == mqtt.OnConnect || b == mqtt.OnPacketRead || b == mqtt.OnPacketEncode
}

// OnConnect refuses a new session once the broker holds maxClients sessions,
// connected or not; a client resuming or taking over its own session is let
// in.
func (h *limitHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	if mc, ok := cl.Net.Conn.(*mqttConn); ok {
		mc.bind(func(code packets.Code) { _ = h.srv.DisconnectClient(cl, code) }, cl.Properties.ProtocolVersion == 5)
	}
	if _, ok := h.srv.Clients.Get(cl.ID); ok || h.sessions() < h.limits.maxClients {
		return nil
	}
	code := packets.ErrServerBusy
	if cl.Properties.ProtocolVersion < 5 {
		code = packets.ErrServerUnavailable
	}
	h.log.Debug("mqtt client refused", "reason", "session limit", "sessions", h.sessions(), "remote", cl.Net.Remote)
	_ = h.srv.SendConnack(cl, code, false, nil)
	return code
}

// sessions counts the broker's sessions, not its inline client (the name
// service's, which publishes its replies).
func (h *limitHook) sessions() int {
	n := h.srv.Clients.Len()
	if c, ok := h.srv.Clients.Get(mqtt.InlineClientId); ok && c.Net.Inline {
		n--
	}
	return n
}

// OnPacketRead caps the session expiry a DISCONNECT asks for, and refuses
// a RETAIN publish: an MQTT 5 client gets DISCONNECT 0x9A (retain not
// supported), as the CONNACK told it; MQTT 3.1.1 has no way to say it, so
// the connection is closed, as mosquitto does.
func (h *limitHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type == packets.Publish && pk.FixedHeader.Retain {
		h.log.Debug("mqtt client refused", "reason", "retain", "remote", cl.Net.Remote)
		if cl.Properties.ProtocolVersion == 5 {
			_ = h.srv.DisconnectClient(cl, packets.ErrRetainNotSupported)
		}
		return pk, packets.ErrRejectPacket // the only error mochi acts on: it drops the client
	}
	maxExp := uint32(h.limits.sessionExpiry / time.Second)
	if pk.FixedHeader.Type == packets.Disconnect && pk.Properties.SessionExpiryIntervalFlag && pk.Properties.SessionExpiryInterval > maxExp {
		pk.Properties.SessionExpiryInterval = maxExp
	}
	return pk, nil
}

// OnPacketEncode adds the limits mochi does not announce to a successful
// CONNACK (MQTT 5 only; older versions encode no properties).
func (h *limitHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type != packets.Connack || pk.ReasonCode >= packets.ErrUnspecifiedError.Code {
		return pk
	}
	pk.Properties.MaximumPacketSize = uint32(h.limits.maxPacket)
	pk.Properties.RetainAvailable, pk.Properties.RetainAvailableFlag = 0, true
	if h.nodesOnly {
		pk.Properties.WildcardSubAvailable, pk.Properties.WildcardSubAvailableFlag = 0, true
		pk.Properties.SharedSubAvailable, pk.Properties.SharedSubAvailableFlag = 0, true
	}
	return pk
}

// packetLogHandler replaces every MQTT packet in a log record (mochi logs
// whole packets, payload included, e.g. when a client breaks a rule) with a
// summary: type, topic, packet ID, QoS and payload size.
type packetLogHandler struct{ next slog.Handler }

var _ slog.Handler = packetLogHandler{}

func (h packetLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h packetLogHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(summarize(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h packetLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	for i, a := range attrs {
		attrs[i] = summarize(a)
	}
	return packetLogHandler{h.next.WithAttrs(attrs)}
}

func (h packetLogHandler) WithGroup(name string) slog.Handler {
	return packetLogHandler{h.next.WithGroup(name)}
}

func summarize(a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindAny {
		return a
	}
	var pk *packets.Packet
	switch v := a.Value.Any().(type) {
	case packets.Packet:
		pk = &v
	case *packets.Packet:
		pk = v
	default:
		return a
	}
	if pk == nil {
		return a
	}
	return slog.Group(a.Key,
		"type", packets.PacketNames[pk.FixedHeader.Type],
		"topic", pk.TopicName,
		"id", pk.PacketID,
		"qos", pk.FixedHeader.Qos,
		"payload_bytes", len(pk.Payload),
	)
}

// mqttLogger is the logger mochi gets: packets summarized, warnings and
// errors (one per dropped message or broken client, at a stranger's will)
// throttled.
func mqttLogger(log *slog.Logger) *slog.Logger {
	return slog.New(packetLogHandler{throttled(log.Handler())})
}
