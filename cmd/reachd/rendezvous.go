package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/reachd/reachd/names"
	"github.com/reachd/reachd/rendezvous"
)

func runRendezvous(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reachd rendezvous", flag.ContinueOnError)
	mqttListen := fs.String("mqtt-listen", ":1883", "MQTT broker TCP `host:port`; empty turns the broker off (STUN/TURN only)")
	mqttWS := fs.String("mqtt-ws-listen", "", "MQTT over WebSocket `host:port` (optional)")
	stunListen := listFlag{items: []string{":3478"}, validate: validHostPort}
	fs.Var(&stunListen, "stun-listen", "STUN answer `addrs`, comma-separated; a second one enables the filtering tests; empty: no STUN server of its own (the TURN address still answers)")
	turnListen := fs.String("turn-listen", ":3478", "TURN server `host:port`, UDP and TCP (may equal the first STUN address); empty turns TURN off")
	turnUsers := multiFlag{validate: validTURNUser}
	fs.Var(&turnUsers, "turn-user", "a long-term TURN credential `user:pass` (repeatable)")
	var publicIP ipFlag
	fs.Var(&publicIP, "public-ip", "the `IP` TURN relays advertise (default: the TURN listen IP)")
	var dialBackFrom ipFlag
	fs.Var(&dialBackFrom, "dialback-from", "the source `IP` of reachability dial-backs: an address of this host that nodes never contact (default: the other STUN IP)")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	mqttAnonymous := fs.Bool("mqtt-anonymous", false,
		"open the broker to any MQTT client; by default only nodes signed in with their node key may use it")
	mqttNames := listFlag{validate: validHostPort}
	fs.Var(&mqttNames, "mqtt-name", "further `host:port` addresses nodes reach the broker at (a DNS name, a proxy or NAT in front of it), comma-separated; node logins are signed for the address dialled")
	mqttMaxClients := fs.Int("mqtt-max-clients", rendezvous.DefaultMQTTMaxClients,
		"broker sessions at most, connected or kept; a new client beyond is refused")
	mqttSessionExpiry := fs.Duration("mqtt-session-expiry", rendezvous.DefaultMQTTSessionExpiry,
		"how long a disconnected persistent session is kept (at least 1s)")
	mqttMaxInflight := fs.Int("mqtt-max-inflight", rendezvous.DefaultMQTTMaxInflight,
		"QoS 1/2 messages held per client (unacknowledged, or kept for its session); more are dropped")
	mqttMaxQueued := fs.Int("mqtt-max-queued", rendezvous.DefaultMQTTMaxQueued,
		"packets waiting to be written to one connected client")
	mqttMaxPacket := fs.Int("mqtt-max-packet", rendezvous.DefaultMQTTMaxPacket,
		"largest MQTT packet accepted, in `bytes`; a client sending a larger one is disconnected")
	namesOn := fs.Bool("names", true, "serve the name service on the broker: public names nodes register and look up")
	namesPerKey := fs.Int("names-per-key", names.DefaultMaxPerKey, "names one node ID may hold at once")
	namesPerIP := fs.Int("names-per-ip", names.DefaultMaxPerIP, "names registered last from one source IP, at once")
	logFormat := registerDaemonFlags(fs, true)
	if _, err := parseFlags(fs, args, stderr, 0); err != nil {
		return err
	}
	for name, v := range map[string]int{"mqtt-max-clients": *mqttMaxClients, "mqtt-max-inflight": *mqttMaxInflight,
		"mqtt-max-queued": *mqttMaxQueued, "mqtt-max-packet": *mqttMaxPacket,
		"names-per-key": *namesPerKey, "names-per-ip": *namesPerIP} {
		if v <= 0 {
			return usagef("--%s %d: want a positive number", name, v)
		}
	}
	if *mqttSessionExpiry < time.Second {
		return usagef("--mqtt-session-expiry %v: want at least 1s", *mqttSessionExpiry)
	}
	for name, v := range map[string]string{"mqtt-listen": *mqttListen, "turn-listen": *turnListen, "mqtt-ws-listen": *mqttWS} {
		if v == "" {
			continue // that role is off
		}
		if err := validHostPort(v); err != nil {
			return usagef("--%s %q: %v", name, v, err)
		}
	}
	if *mqttListen == "" && *mqttWS != "" {
		return usagef("--mqtt-ws-listen %q: the broker is off (--mqtt-listen is empty)", *mqttWS)
	}
	if n := len(stunListen.items); n > 2 {
		return usagef("--stun-listen: want at most two addresses, got %d", n)
	}
	if *mqttListen == "" && *turnListen == "" && len(stunListen.items) == 0 {
		return usagef("no role left: --mqtt-listen, --stun-listen and --turn-listen are all empty; keep at least one")
	}
	logger, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	users := make(map[string]string, len(turnUsers.items))
	for _, u := range turnUsers.items {
		name, pass, _ := strings.Cut(u, ":")
		users[name] = pass
	}
	srv, err := rendezvous.New(rendezvous.Config{
		NoBroker:     *mqttListen == "",
		NoTURN:       *turnListen == "",
		MQTTListen:   *mqttListen,
		MQTTWSListen: *mqttWS,
		STUNListen:   stunListen.items,
		TURNListen:   *turnListen,
		TURNUsers:    users,
		PublicIP:     publicIP.addr,
		DialBackFrom: dialBackFrom.addr,
		Logger:       logger,

		MQTTAnonymous:     *mqttAnonymous,
		MQTTNames:         mqttNames.items,
		MQTTMaxClients:    *mqttMaxClients,
		MQTTSessionExpiry: *mqttSessionExpiry,
		MQTTMaxInflight:   *mqttMaxInflight,
		MQTTMaxQueued:     *mqttMaxQueued,
		MQTTMaxPacket:     *mqttMaxPacket,

		NamesOff: !*namesOn,
		Names:    names.RegistryConfig{MaxPerKey: *namesPerKey, MaxPerIP: *namesPerIP},
	})
	if errors.Is(err, rendezvous.ErrInvalidConfig) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	defer srv.Close()
	turnAddr := "off"
	if srv.TURNAddr().IsValid() {
		turnAddr = srv.TURNAddr().String()
	}
	mqttAddr := srv.MQTTAddr()
	if mqttAddr == "" {
		mqttAddr = "off"
	}
	logger.Info("rendezvous running", "mqtt", mqttAddr, "mqtt_ws", srv.MQTTWSAddr(), "mqtt_anonymous", *mqttAnonymous,
		"stun", fmt.Sprint(srv.STUNAddrs()), "turn", turnAddr, "turn_users", len(users))
	<-ctx.Done()
	return nil
}

func validTURNUser(s string) error {
	name, pass, ok := strings.Cut(s, ":")
	if !ok || name == "" || pass == "" {
		return fmt.Errorf("want user:pass, got %q", s)
	}
	return nil
}
