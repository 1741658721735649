package server

import (
	"bufio"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/signaling"
)

// metrics serves the node's counters in the Prometheus text format (0.0.4).
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) error {
	m := s.cfg.Node.Metrics()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	bw := bufio.NewWriter(w)
	p := promWriter{w: bw}

	p.family("reachd_ready", "gauge", "1 while the node is ready: its NATs probed, an interface found and a broker connected")
	p.sample("reachd_ready", nil, boolFloat(m.Ready))
	p.family("reachd_clock_offset_seconds", "gauge", "NTP clock offset applied to the local clock")
	p.sample("reachd_clock_offset_seconds", nil, m.ClockOffsetS)

	p.family("reachd_connections", "gauge", "current connections by strategy, direction and state")
	for _, k := range sortedKeys(m.Connections, connKeyLess) {
		p.sample("reachd_connections", labels{"strategy", k.Strategy, "direction", string(k.Direction), "state", string(k.State)}, float64(m.Connections[k]))
	}
	p.family("reachd_connections_opened_total", "counter", "connections opened by strategy and direction")
	for _, k := range sortedKeys(m.Opened, connKeyLess) {
		p.sample("reachd_connections_opened_total", labels{"strategy", k.Strategy, "direction", string(k.Direction)}, float64(m.Opened[k]))
	}
	p.family("reachd_connect_attempts_total", "counter", "strategy attempts by outcome")
	for _, k := range sortedKeys(m.Attempts, func(a, b node.AttemptKey) bool {
		return a.Strategy+a.Outcome < b.Strategy+b.Outcome
	}) {
		p.sample("reachd_connect_attempts_total", labels{"strategy", k.Strategy, "outcome", k.Outcome}, float64(m.Attempts[k]))
	}
	p.family("reachd_connect_failures_total", "counter", "failed strategy attempts by reason")
	for _, k := range sortedKeys(m.Failures, func(a, b node.FailureKey) bool {
		return a.Strategy+a.Reason < b.Strategy+b.Reason
	}) {
		p.sample("reachd_connect_failures_total", labels{"strategy", k.Strategy, "reason", k.Reason}, float64(m.Failures[k]))
	}
	p.family("reachd_connect_step_ms", "summary", "when each moment of the winning attempts came, in ms from the connect's start")
	for _, k := range sortedKeys(m.Steps, func(a, b node.StepKey) bool {
		return a.Strategy+" "+a.Step < b.Strategy+" "+b.Step
	}) {
		l := labels{"strategy", k.Strategy, "step", k.Step}
		p.sample("reachd_connect_step_ms_sum", l, float64(m.Steps[k].SumMS))
		p.sample("reachd_connect_step_ms_count", l, float64(m.Steps[k].Count))
	}
	p.family("reachd_bytes_sent_total", "counter", "bytes sent to peers")
	p.sample("reachd_bytes_sent_total", nil, float64(m.BytesSent))
	p.family("reachd_bytes_received_total", "counter", "bytes received from peers")
	p.sample("reachd_bytes_received_total", nil, float64(m.BytesReceived))

	p.family("reachd_broker_up", "gauge", "1 when connected and subscribed to the broker")
	for _, b := range m.Brokers {
		p.sample("reachd_broker_up", labels{"broker", b.URL}, boolFloat(b.Connected))
	}
	p.family("reachd_signaling_messages_total", "counter", "signaling messages by broker and direction")
	for _, b := range m.Brokers {
		p.sample("reachd_signaling_messages_total", labels{"broker", b.URL, "direction", "in"}, float64(b.In))
		p.sample("reachd_signaling_messages_total", labels{"broker", b.URL, "direction", "out"}, float64(b.Out))
	}
	p.family("reachd_signaling_drops_total", "counter", "signaling messages dropped, by reason")
	reasons := make([]string, 0, len(m.Drops))
	for r := range m.Drops {
		reasons = append(reasons, string(r))
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		p.sample("reachd_signaling_drops_total", labels{"reason", r}, float64(m.Drops[signaling.DropReason(r)]))
	}

	p.family("reachd_peer_refused_total", "counter", "peer requests and inbound peer connections refused, by reason")
	refused := make([]string, 0, len(m.Refused))
	for r := range m.Refused {
		refused = append(refused, r)
	}
	sort.Strings(refused)
	for _, r := range refused {
		p.sample("reachd_peer_refused_total", labels{"reason", r}, float64(m.Refused[r]))
	}

	p.family("reachd_peer_links", "gauge", "peer links: one per peer with a path, or waiting for one")
	p.sample("reachd_peer_links", nil, float64(m.Links))

	p.family("reachd_api_connections", "gauge", "API connections open")
	p.sample("reachd_api_connections", nil, float64(s.ln.active.Load()))
	p.family("reachd_api_connections_refused_total", "counter", "API connections closed at once because --api-max-conns were open")
	p.sample("reachd_api_connections_refused_total", nil, float64(s.ln.refused.Load()))
	return bw.Flush()
}

// labels are name, value pairs.
type labels []string

type promWriter struct{ w *bufio.Writer }

func (p promWriter) family(name, typ, help string) {
	fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (p promWriter) sample(name string, l labels, v float64) {
	p.w.WriteString(name)
	if len(l) > 0 {
		p.w.WriteByte('{')
		for i := 0; i+1 < len(l); i += 2 {
			if i > 0 {
				p.w.WriteByte(',')
			}
			p.w.WriteString(l[i] + `="` + escapeLabel(l[i+1]) + `"`)
		}
		p.w.WriteByte('}')
	}
	p.w.WriteString(" " + strconv.FormatFloat(v, 'g', -1, 64) + "\n")
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func connKeyLess(a, b node.ConnKey) bool {
	return fmt.Sprint(a.Strategy, a.Direction, a.State) < fmt.Sprint(b.Strategy, b.Direction, b.State)
}

func sortedKeys[K comparable, V any](m map[K]V, less func(a, b K) bool) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return less(keys[i], keys[j]) })
	return keys
}
