package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
	"github.com/reachd/reachd/signaling/signalingtest"
)

// startRoles runs a reachd rendezvous with the given flags in the lab's WAN
// namespace and waits until tcpAddr accepts connections.
func startRoles(t testing.TB, lab *natlab.Lab, tcpAddr string, args ...string) *natlab.Process {
	t.Helper()
	p := lab.WAN().Start(t, reachdBin, append([]string{"rendezvous"}, args...)...)
	waitTCP(t, lab, p, tcpAddr)
	return p
}

func waitTCP(t testing.TB, lab *natlab.Lab, p *natlab.Process, addr string) {
	t.Helper()
	waitFor(t, addr+" up", p, 15*time.Second, func() (bool, error) {
		err := lab.WAN().Do(func() error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		return err == nil, err
	})
}

// brokerMembers returns the cluster members n uses now (broker entry 0).
func (n *labNode) brokerMembers(t testing.TB) []string {
	t.Helper()
	var info struct {
		Brokers []struct {
			Members []string `json:"members"`
		} `json:"brokers"`
	}
	if status, err := n.api.getJSON("/v1/node", &info); err != nil || status != http.StatusOK {
		t.Fatalf("GET /v1/node: %d %v", status, err)
	}
	if len(info.Brokers) == 0 {
		return nil
	}
	return info.Brokers[0].Members
}

// echo asks from for a signaling round trip to to; it returns the status.
func echo(t testing.TB, from, to *labNode) int {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"address": to.info.Address, "timeout_ms": 3000})
	status, err := from.api.do("POST", "/v1/echo", string(b), nil)
	if err != nil {
		t.Fatal(err)
	}
	return status
}

// natsLeaders waits until every member of a NATS cluster logged that its
// JetStream cluster has a metadata leader, which MQTT clients need, and
// reports whether they did within d. It fails t if a member exits.
func natsLeaders(t testing.TB, procs []*natlab.Process, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ready := true
		for i, p := range procs {
			select {
			case <-p.Done():
				t.Fatalf("nats member %d exited; output:\n%s", i, p.Output())
			default:
			}
			ready = ready && strings.Contains(p.Output(), "metadata leader")
		}
		if ready {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond) // polling the logs, as waitFor does
	}
}

// TestClusterBrokerLab runs signaling on a three-member NATS cluster (its
// MQTT gateway) in the lab, STUN and TURN on a rendezvous without broker:
// two NATed nodes, each on two members, echo and connect; a member one of
// them uses is killed while a connection carries data: the data arrives
// intact, the node takes another member, and echoes and a new connect
// work within 10 s.
func TestClusterBrokerLab(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	w := lab.WANAddrs()
	nats, err := signalingtest.NATSBinary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	var urls []string
	for i := range 3 {
		urls = append(urls, fmt.Sprintf("mqtt://%s:%d", w[0], 1883+i))
	}
	// NATS 2.9 now and then forms its cluster with a member that never
	// learns the JetStream metadata leader (once in 14 runs here): start
	// the cluster again, with fresh state, up to 3 times.
	var procs []*natlab.Process
	for try := 1; ; try++ {
		d := filepath.Join(dir, strconv.Itoa(try))
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		members := make([]signalingtest.NATSMember, len(urls))
		for i := range members {
			members[i] = signalingtest.NATSMember{Name: fmt.Sprintf("m%d", i), Host: w[0].String(),
				Client: 4222 + i, Route: 6222 + i, MQTT: 1883 + i, Storage: filepath.Join(d, fmt.Sprintf("js%d", i))}
		}
		procs = make([]*natlab.Process, len(members))
		for i, m := range members {
			conf := filepath.Join(d, m.Name+".conf")
			if err := os.WriteFile(conf, []byte(signalingtest.NATSConf("lab", members, i)), 0o600); err != nil {
				t.Fatal(err)
			}
			procs[i] = lab.WAN().Start(t, nats, "-c", conf)
		}
		if natsLeaders(t, procs, 20*time.Second) {
			break
		}
		if try == 3 {
			t.Fatalf("nats: a member has no JetStream leader 20 s after each of %d starts", try)
		}
		t.Logf("nats: a member has no JetStream leader after 20 s: starting the cluster again")
		for _, p := range procs {
			_ = p.Stop()
		}
	}
	// One MQTT client on each member first, as the loopback fixture does:
	// a member that has had none when another dies may refuse every client
	// for long after.
	dial := func(addr string) (net.Conn, error) {
		var c net.Conn
		err := lab.WAN().Do(func() error {
			var err error
			c, err = net.DialTimeout("tcp", addr, 5*time.Second)
			return err
		})
		return c, err
	}
	for i, u := range urls {
		if err := signalingtest.NATSWarmUp(u, fmt.Sprintf("warmup%d", i), dial); err != nil {
			t.Fatalf("nats member %d: %v", i, err)
		}
	}
	wan := wanServices{
		MQTT: strings.Join(urls, "|"),
		STUN: fmt.Sprintf("%s:3478", w[0]),
		TURN: fmt.Sprintf("turn://lab:labpass@%s:3480", w[0]),
	}
	wan.proc = startRoles(t, lab, fmt.Sprintf("%s:3480", w[0]), "--mqtt-listen", "",
		"--stun-listen", fmt.Sprintf("%s:3478,%s:3479", w[0], w[1]),
		"--turn-listen", fmt.Sprintf("%s:3480", w[0]), "--turn-user", "lab:labpass", "--public-ip", w[0].String())
	nodes := startLabNodes(t, wan, ntp.Addr().String(), map[string]*natlab.Host{
		"a": lab.AddRouter(natlab.Easy).AddHost(),
		"b": lab.AddRouter(natlab.Easy).AddHost(),
	})
	a, b := nodes["a"], nodes["b"]
	var usedA, usedB []string
	waitFor(t, "both nodes on two members", nil, 20*time.Second, func() (bool, error) {
		usedA, usedB = a.brokerMembers(t), b.brokerMembers(t)
		return len(usedA) == 2 && len(usedB) == 2, nil
	})
	t.Logf("a uses %v, b uses %v", usedA, usedB)
	for _, p := range [][2]*labNode{{a, b}, {b, a}} {
		if s := echo(t, p[0], p[1]); s != http.StatusOK {
			t.Fatalf("echo %s -> %s: %d", p[0].name, p[1].name, s)
		}
	}
	status, c := connect(t, a, b)
	if status != http.StatusCreated {
		t.Fatalf("connect: %d %s", status, c.Detail)
	}
	in := b.inbound(t, a.info.NodeID, c.Strategy)

	// Kill a member a uses and b does not, if there is one, but not the one
	// that leads NATS's stream of QoS 1 messages: its death stalls every
	// publish on the cluster until NATS has elected another leader (4 to
	// 8 s here, more under load; see README), which would time NATS, not
	// the nodes.
	var logs []string
	for _, p := range procs {
		logs = append(logs, p.Output())
	}
	lead := ""
	if i := signalingtest.NATSMessagesLeader(logs); i >= 0 {
		lead = urls[i]
	}
	victim := usedA[0]
	if victim == lead {
		victim = usedA[1]
	}
	for _, u := range usedA {
		if !slices.Contains(usedB, u) && u != lead {
			victim = u
		}
	}
	t.Logf("killing %s (the message stream's leader: %q)", victim, lead)
	// The kill, the echoes and the new connect happen while the transfer
	// runs: its data must arrive intact.
	var killedAt time.Time
	transferDuring(t, a, b, c.ID, in.ID, 8<<20, func() {
		p := procs[slices.Index(urls, victim)]
		if err := syscall.Kill(p.Pid(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.Done()
		killedAt = time.Now()
		deadline := killedAt.Add(10 * time.Second)
		waitFor(t, "echoes both ways and a new connect", a.proc, time.Until(deadline), func() (bool, error) {
			for _, p := range [][2]*labNode{{a, b}, {b, a}} {
				if s := echo(t, p[0], p[1]); s != http.StatusOK {
					return false, fmt.Errorf("echo %s -> %s: %d", p[0].name, p[1].name, s)
				}
			}
			status, c := connectFresh(t, b, a)
			if status != http.StatusCreated {
				return false, fmt.Errorf("connect: %d %s", status, c.Detail)
			}
			return true, nil
		})
		t.Logf("echoes and a new connect succeeded %v after %s died", time.Since(killedAt).Round(time.Millisecond), victim)
	})
	// NATS refuses new MQTT subscriptions until its JetStream cluster has
	// re-elected the leaders the dead member held: the second member may
	// take longer than the first connect.
	var now []string
	waitFor(t, "a on two live members", a.proc, 30*time.Second, func() (bool, error) {
		now = a.brokerMembers(t)
		return len(now) == 2 && !slices.Contains(now, victim), nil
	})
	t.Logf("a uses %v, %v after the kill", now, time.Since(killedAt).Round(time.Millisecond))
}

// TestRelayPoolLab runs two hard-NATed nodes (only a relay connects them)
// with two TURN-only rendezvous servers, and makes the one under their
// relayed connection go silent (SIGSTOP: it holds its sockets and answers
// nothing, as a host that hangs or drops off the network) while data flows
// both ways: the link resumes on the other relay within its grace and the
// data arrives intact.
func TestRelayPoolLab(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	w := lab.WANAddrs()
	relays := map[string]*natlab.Process{}
	var turnURLs []string
	for i, ip := range w[:2] {
		addr := fmt.Sprintf("%s:%d", ip, 3490+i)
		relays[ip.String()] = startRoles(t, lab, addr, "--mqtt-listen", "", "--stun-listen", "",
			"--turn-listen", addr, "--turn-user", "lab:labpass", "--public-ip", ip.String())
		turnURLs = append(turnURLs, "turn://lab:labpass@"+addr)
	}
	wan.TURN = strings.Join(turnURLs, ",")
	nodes := startLabNodes(t, wan, ntp.Addr().String(), map[string]*natlab.Host{
		"a": lab.AddRouter(natlab.Hard).AddHost(),
		"b": lab.AddRouter(natlab.Hard).AddHost(),
	})
	a, b := nodes["a"], nodes["b"]
	status, c := connect(t, a, b, "relay")
	if status != http.StatusCreated {
		t.Fatalf("connect: %d %s", status, c.Detail)
	}
	in := b.inbound(t, a.info.NodeID, "relay")
	// b dialled the relayed address: its remote address is on the TURN
	// server.
	first := hostOf(in.RemoteAddr)
	victim, ok := relays[first]
	if !ok {
		t.Fatalf("b reached a at %s, not on one of %v", in.RemoteAddr, turnURLs)
	}
	after := transferDuring(t, a, b, c.ID, in.ID, 8<<20, func() {
		if err := syscall.Kill(victim.Pid(), syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Kill(victim.Pid(), syscall.SIGKILL) })
	})
	hist, gap := gaps(after.Paths)
	t.Logf("paths: %s; time without a path: %v", hist, gap)
	seen := b.conn(t, in.ID)
	last := seen.Paths[len(seen.Paths)-1]
	if len(seen.Paths) < 2 || after.State != "open" || last.Strategy != "relay" || hostOf(last.RemoteAddr) == first {
		t.Errorf("paths %s (last via %s), state %s: want a relay path on the other server than %s, open", hist, last.RemoteAddr, after.State, first)
	}
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}
