package signalingtest

import (
	"bufio"
	"fmt"
	"net"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// NATSPath is where Debian's nats-server package installs the server.
const NATSPath = "/usr/sbin/nats-server"

// NATSBinary returns the path of nats-server: NATSPath, else the one on
// PATH.
func NATSBinary() (string, error) {
	path, err := exec.LookPath(NATSPath)
	if err != nil {
		path, err = exec.LookPath("nats-server")
	}
	if err != nil {
		return "", fmt.Errorf("nats-server not found (install the Debian package nats-server): %w", err)
	}
	return path, nil
}

// NATSCluster is a cluster of nats-server processes on 127.0.0.1, each
// with its MQTT gateway (which needs JetStream) on a port of its own.
type NATSCluster struct {
	tb    testing.TB
	mqtt  []int
	procs []*process // nil once killed
	mu    sync.Mutex
	leads []string // per member, its last log line saying it leads the message stream; mu
}

// NATSMember describes one member of a NATS cluster for NATSConf.
type NATSMember struct {
	Name    string // server_name, unique in the cluster
	Host    string // IP the member listens on
	Client  int    // NATS client port
	Route   int    // cluster route port
	MQTT    int    // MQTT port
	Storage string // JetStream store directory
}

// NATSConf returns the configuration of member i of a cluster named
// cluster whose members are all: NATS clients, routes to every member,
// JetStream (required by the MQTT gateway; the cluster keeps MQTT state
// with 3 replicas when it has 3 members), MQTT without authentication.
func NATSConf(cluster string, members []NATSMember, i int) string {
	m := members[i]
	var routes []string
	for _, o := range members {
		routes = append(routes, fmt.Sprintf("nats-route://%s", net.JoinHostPort(o.Host, strconv.Itoa(o.Route))))
	}
	return fmt.Sprintf(`server_name: %s
listen: %s
jetstream { store_dir: %q }
cluster {
  name: %s
  listen: %s
  routes: [%s]
}
mqtt { listen: %s }
`, m.Name, net.JoinHostPort(m.Host, strconv.Itoa(m.Client)), m.Storage, cluster,
		net.JoinHostPort(m.Host, strconv.Itoa(m.Route)), strings.Join(routes, ", "),
		net.JoinHostPort(m.Host, strconv.Itoa(m.MQTT)))
}

// natsLeadsMessages is what a member logs when it becomes the leader of
// the stream that holds QoS 1 messages. While that stream has no leader
// (for seconds after its leader died) every QoS 1 publish on any member
// stalls, and NATS closes the publisher's connection after 4 s.
const natsLeadsMessages = "new stream leader for '$G > $MQTT_msgs'"

// NATSMessagesLeader returns the index of the member that leads the stream
// of QoS 1 messages according to the members' logs (the last to log that it
// became the leader), or -1 if none did.
func NATSMessagesLeader(logs []string) int {
	leader, latest := -1, ""
	for i, l := range logs {
		at := strings.LastIndex(l, natsLeadsMessages)
		if at < 0 {
			continue
		}
		line := l[strings.LastIndex(l[:at], "\n")+1 : at]
		// "[pid] 2006/01/02 15:04:05.000000 [INF] ...": the time sorts as text
		if f := strings.Fields(line); len(f) >= 3 && f[1]+" "+f[2] > latest {
			leader, latest = i, f[1]+" "+f[2]
		}
	}
	return leader
}

// NATSReady reports whether a line of nats-server's log says that it
// serves and that its JetStream cluster has a leader, which MQTT clients
// need.
func NATSReady(line string) bool { return strings.Contains(line, "metadata leader") }

// StartNATSCluster starts n nats-server processes on free loopback ports,
// clustered, and waits until each has a JetStream leader. It kills them
// when the test ends. It skips the test when the binary is missing, unless
// CI=true, where it fails.
func StartNATSCluster(tb testing.TB, n int) *NATSCluster {
	tb.Helper()
	path, err := NATSBinary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatal(err)
		}
		tb.Skip(err)
	}
	c := &NATSCluster{tb: tb}
	// The state directory is made before the kill is registered, so that
	// (cleanups running last-in first-out) the members are gone before it
	// is removed.
	dir := tb.TempDir()
	tb.Cleanup(func() {
		for i := range c.procs {
			c.Kill(i)
		}
	})
	// Free ports can be taken by someone else between our probe and the
	// servers' binds; try a few times.
	var lastErr error
	for try := range 3 {
		d := filepath.Join(dir, strconv.Itoa(try))
		if lastErr = os.Mkdir(d, 0o700); lastErr != nil {
			break
		}
		if lastErr = c.start(path, d, n); lastErr == nil {
			break
		}
		for i := range c.procs {
			c.Kill(i)
		}
		c.mu.Lock()
		c.procs, c.mqtt, c.leads = nil, nil, nil
		c.mu.Unlock()
	}
	if lastErr != nil {
		tb.Fatalf("nats: %v", lastErr)
	}
	// NATS makes its MQTT streams for the first MQTT client; first clients
	// of other members meanwhile time out (4s), and a member closes a
	// client's connection (EOF) when one of its JetStream requests times
	// out, as it does while the cluster is busy electing leaders. Connect
	// one client to each member in turn, retrying, so tests start on a
	// cluster that serves.
	for i, u := range c.URLs() {
		if err := NATSWarmUp(u, fmt.Sprintf("warmup%d", i), nil); err != nil {
			tb.Fatalf("nats member %d: %v", i, err)
		}
	}
	return c
}

// NATSWarmUp connects an MQTT client with client ID id to the member at
// url, retrying for up to 2 × startTimeout, and disconnects it. A member
// sets up its MQTT state (a consumer of its own, among others) for its first
// client; one that has not by the time another member dies may refuse
// every client until long after (seen for over 30 s with NATS 2.9.10). dial
// opens the TCP connection to a host:port (nil: net.Dial).
func NATSWarmUp(url, id string, dial func(addr string) (net.Conn, error)) error {
	var (
		mu   sync.Mutex
		last error
	)
	o := mqtt.NewClientOptions().AddBroker(strings.Replace(url, "mqtt://", "tcp://", 1)).
		SetClientID(id).SetCleanSession(true).SetConnectTimeout(startTimeout).
		SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		SetCustomOpenConnectionFn(func(u *neturl.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			if dial == nil {
				return net.DialTimeout("tcp", u.Host, startTimeout)
			}
			return dial(u.Host)
		}).
		SetConnectionNotificationHandler(func(_ mqtt.Client, n mqtt.ConnectionNotification) {
			if f, ok := n.(mqtt.ConnectionNotificationFailed); ok {
				mu.Lock()
				last = f.Reason
				mu.Unlock()
			}
		})
	cl := mqtt.NewClient(o)
	tok := cl.Connect() // with ConnectRetry it completes once connected
	ok := tok.WaitTimeout(2 * startTimeout)
	cl.Disconnect(0)
	mu.Lock()
	defer mu.Unlock()
	if !ok {
		return fmt.Errorf("no MQTT connection within %v (last error: %v)", 2*startTimeout, last)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("MQTT connect: %w", err)
	}
	return nil
}

// start runs n members with their state in dir and waits for their
// JetStream leader.
func (c *NATSCluster) start(path, dir string, n int) error {
	members := make([]NATSMember, n)
	for i := range members {
		ports := make([]int, 3)
		for j := range ports {
			var err error
			if ports[j], err = freePort(); err != nil {
				return err
			}
		}
		members[i] = NATSMember{Name: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Client: ports[0], Route: ports[1], MQTT: ports[2],
			Storage: filepath.Join(dir, fmt.Sprintf("js%d", i))}
	}
	ready := make([]chan struct{}, n)
	for i, m := range members {
		conf := filepath.Join(dir, m.Name+".conf")
		if err := os.WriteFile(conf, []byte(NATSConf("reachd-test", members, i)), 0o600); err != nil {
			return err
		}
		cmd := exec.Command(path, "-c", conf)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		p := &process{cmd: cmd, done: make(chan struct{})}
		ready[i] = make(chan struct{})
		c.mu.Lock()
		c.procs = append(c.procs, p)
		c.mqtt = append(c.mqtt, m.MQTT)
		c.leads = append(c.leads, "")
		c.mu.Unlock()
		go func() { // owned by p: ends when the process exits and the pipe closes
			defer close(p.done)
			s := bufio.NewScanner(stderr)
			signalled := false
			for s.Scan() {
				if strings.Contains(s.Text(), natsLeadsMessages) {
					c.mu.Lock()
					c.leads[i] = s.Text()
					c.mu.Unlock()
				}
				if !signalled && NATSReady(s.Text()) {
					signalled = true
					close(ready[i])
				}
			}
			_ = cmd.Wait()
		}()
	}
	t := time.NewTimer(startTimeout)
	defer t.Stop()
	for i := range ready {
		select {
		case <-ready[i]:
		case <-c.procs[i].done:
			return fmt.Errorf("member %d exited before its cluster formed (ports in use?)", i)
		case <-t.C:
			return fmt.Errorf("member %d: no JetStream leader within %v", i, startTimeout)
		}
	}
	return nil
}

// MessagesLeader returns the index of the member that leads the stream
// of QoS 1 messages, or -1 if none said so yet.
func (c *NATSCluster) MessagesLeader() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return NATSMessagesLeader(c.leads)
}

// URLs returns the members' MQTT URLs, in member order.
func (c *NATSCluster) URLs() []string {
	out := make([]string, len(c.mqtt))
	for i, p := range c.mqtt {
		out[i] = "mqtt://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	}
	return out
}

// Pid returns member i's process ID, or 0 once it was killed.
func (c *NATSCluster) Pid(i int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.procs[i] == nil {
		return 0
	}
	return c.procs[i].cmd.Process.Pid
}

// Entry returns the cluster as one broker entry: the URLs joined by '|'.
func (c *NATSCluster) Entry() string { return strings.Join(c.URLs(), "|") }

// Kill kills member i (SIGKILL, as a crash would) and waits for it to
// exit. Killing it again does nothing.
func (c *NATSCluster) Kill(i int) {
	c.mu.Lock()
	p := c.procs[i]
	c.procs[i] = nil
	c.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}
