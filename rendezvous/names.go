package rendezvous

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/internal/keyrate"
	"github.com/reachd/reachd/names"
	"github.com/reachd/reachd/signaling"
)

// The name service (package names) rides on the broker: a node publishes
// a request (signaling.RequestService) to names.Topic; this hook takes it
// out of the broker's flow (no subscriber ever sees one), answers from
// the registry, and publishes the reply to the node's own topic, signed
// by a key made for this run. The hook knows the request's source IP
// (the MQTT connection's), which the registry's per-IP limit counts, and
// with node sign-in on, that the signed-in node is the one that signed
// the request.

// Rates of name requests.
const (
	namesPerIP     = 2   // requests per second from one source IP
	namesBurst     = 20  // and its burst
	namesRate      = 500 // requests per second from all sources
	maxNameSources = 4096
	nameReplyTTL   = 30 * time.Second
)

type namesHook struct {
	mqtt.HookBase
	srv       *mqtt.Server
	reg       *names.Registry
	id        *identity.Identity
	nodesOnly bool
	sources   *keyrate.Limiter[netip.Addr]
	now       func() time.Time
	log       *slog.Logger
}

var _ mqtt.Hook = (*namesHook)(nil)

func newNamesHook(srv *mqtt.Server, cfg Config, log *slog.Logger) (*namesHook, error) {
	id, err := identity.Generate()
	if err != nil {
		return nil, fmt.Errorf("rendezvous: name service: %w", err)
	}
	now := cfg.Names.Now
	if now == nil {
		now = time.Now
	}
	return &namesHook{
		srv:       srv,
		reg:       names.NewRegistry(cfg.Names),
		id:        id,
		nodesOnly: !cfg.MQTTAnonymous,
		sources: keyrate.New[netip.Addr](keyrate.Config{
			PerKey: namesPerIP, PerKeyBurst: namesBurst,
			Global: namesRate, GlobalBurst: 2 * namesRate,
			MaxKeys: maxNameSources,
		}),
		now: now,
		log: log.With("service", "names"),
	}, nil
}

func (h *namesHook) ID() string { return "reachd-names" }

func (h *namesHook) Provides(b byte) bool { return b == mqtt.OnPublish }

// OnPublish answers a request to the name service and keeps it from
// every subscriber; other messages pass.
func (h *namesHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.TopicName != names.Topic || cl.Net.Inline {
		return pk, nil
	}
	h.serve(cl, pk.Payload)
	return pk, packets.CodeSuccessIgnore
}

func (h *namesHook) serve(cl *mqtt.Client, payload []byte) {
	m, err := signaling.OpenService(names.Topic, payload, signaling.Policy{Now: h.now()})
	if err != nil {
		h.log.Debug("name request dropped", "remote", cl.Net.Remote, "err", err)
		return
	}
	if h.nodesOnly && m.From != string(cl.Properties.Username) {
		h.log.Debug("name request dropped", "remote", cl.Net.Remote, "err", "signed by another node than the one signed in")
		return
	}
	src, err := netip.ParseAddrPort(cl.Net.Remote)
	ip := src.Addr().Unmap()
	if err != nil {
		ip = netip.IPv6Unspecified() // not over IP (a pipe in tests): one bucket for all
	}
	if !h.sources.Allow(ip) {
		h.reply(m, names.ReplyOf(names.ErrBusy))
		return
	}
	h.reply(m, h.answer(m, ip))
}

// answer is the reply to a request from ip.
func (h *namesHook) answer(m *signaling.Message, ip netip.Addr) names.Reply {
	switch m.Type {
	case names.MsgRegister.Name():
		rec, err := names.MsgRegister.Decode(m)
		if err == nil && rec.NodeID != m.From {
			err = fmt.Errorf("%w: a record of node %s sent by %s", names.ErrRecord, rec.NodeID, m.From)
		}
		if err == nil {
			err = h.reg.Register(rec, ip)
		}
		if err != nil {
			return names.ReplyOf(err)
		}
		h.log.Debug("name registered", "name", rec.Name, "node", rec.NodeID, "remote", ip)
		return names.Reply{Record: &rec}
	case names.MsgDrop.Name():
		rec, err := names.MsgDrop.Decode(m)
		if err == nil && rec.NodeID != m.From {
			err = fmt.Errorf("%w: a drop of node %s sent by %s", names.ErrRecord, rec.NodeID, m.From)
		}
		if err == nil {
			err = h.reg.Drop(rec)
		}
		if err != nil {
			return names.ReplyOf(err)
		}
		h.log.Debug("name dropped", "name", rec.Name, "node", rec.NodeID)
		return names.Reply{}
	case names.MsgLookup.Name():
		q, err := names.MsgLookup.Decode(m)
		if err != nil {
			return names.ReplyOf(fmt.Errorf("%w: %w", names.ErrRecord, err))
		}
		rec, err := h.reg.Lookup(q.Name)
		if err != nil {
			return names.ReplyOf(err)
		}
		return names.Reply{Record: &rec}
	default:
		return names.ReplyOf(fmt.Errorf("%w: message type %q", names.ErrRecord, m.Type))
	}
}

// reply publishes the answer to the requester's topic.
func (h *namesHook) reply(req *signaling.Message, r names.Reply) {
	body, err := json.Marshal(r)
	if err != nil {
		return
	}
	id, err := signaling.NewID(rand.Reader)
	if err != nil {
		return
	}
	data, err := signaling.Seal(h.id, &signaling.Message{Type: names.MsgReply.Name(), ID: id, Re: req.ID, To: req.From,
		Sent: h.now(), TTL: nameReplyTTL, Body: body}, rand.Reader)
	if err == nil {
		err = h.srv.Publish(signaling.Topic(req.From), data, false, 1)
	}
	if err != nil {
		h.log.Debug("name reply not sent", "to", req.From, "err", err)
	}
}
