package rendezvous_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/rendezvous"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/signaling"
)

// mosquittoClient returns the path of a tool of Debian's mosquitto-clients;
// it skips the test when the tool is missing, unless CI=true.
func mosquittoClient(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found (install the Debian package mosquitto-clients): %v", name, err)
		}
		t.Skipf("%s not found (install the Debian package mosquitto-clients): %v", name, err)
	}
	return p
}

// mosquittoArgs are the connection flags for the broker of s, signed in as
// user with password when user is not empty.
func mosquittoArgs(s *rendezvous.Server, user, password string) []string {
	host, port, _ := strings.Cut(s.MQTTAddr(), ":")
	args := []string{"-h", host, "-p", port}
	if user != "" {
		args = append(args, "-u", user, "-P", password)
	}
	return args
}

// runTool runs a mosquitto tool to completion and returns its exit code and
// output.
func runTool(t *testing.T, path string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitLimit)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: timed out: %s", path, args, out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return code, string(out)
}

func password(t *testing.T, nid *identity.Identity, s *rendezvous.Server, at time.Time) string {
	t.Helper()
	addr, err := signaling.BrokerAddr(rendezvoustest.MQTTURL(s))
	if err != nil {
		t.Fatal(err)
	}
	return signaling.LoginPassword(nid, addr, at)
}

// Strangers get nothing from the broker: mosquitto's own clients without a
// node login are refused at CONNECT, so they can neither read every topic
// nor write to a node's.
func TestMQTTAnonymousRefused(t *testing.T) {
	sub, pub := mosquittoClient(t, "mosquitto_sub"), mosquittoClient(t, "mosquitto_pub")
	s := rendezvoustest.Start(t)
	node, nid := connectNode(t, rendezvoustest.MQTTURL(s), "node")
	got := subscribe(t, node, signaling.TopicPrefix+nid.NodeID(), 1)

	for _, v := range []string{"mqttv311", "mqttv5"} {
		code, out := runTool(t, sub, append(mosquittoArgs(s, "", ""), "-V", v, "-t", "#", "-C", "1", "-W", "3")...)
		if code == 0 || !strings.Contains(strings.ToLower(out), "not authori") && !strings.Contains(out, "Bad User Name or Password") {
			t.Errorf("anonymous mosquitto_sub -V %s -t '#': exit %d, %q; want refused", v, code, out)
		}
		code, out = runTool(t, pub, append(mosquittoArgs(s, "", ""), "-V", v, "-q", "1", "-t", signaling.TopicPrefix+nid.NodeID(), "-m", "junk")...)
		if code == 0 {
			t.Errorf("anonymous mosquitto_pub -V %s: exit 0 (%q); want refused", v, out)
		}
	}
	// The node's own sign-in works and nothing reached it.
	mark := connectMQTT(t, rendezvoustest.MQTTURL(s), "mark")
	waitToken(t, mark.Publish(signaling.TopicPrefix+nid.NodeID(), 1, false, "mark"))
	if m := receive(t, got); string(m.Payload()) != "mark" {
		t.Fatalf("the node received %q before the marker", m.Payload())
	}
}

// A node signed in with mosquitto_sub reads its own topic, and only that
// and group topics: another node's topic, wildcards and $SYS are refused.
func TestMQTTNodeReadsOnlyItsTopic(t *testing.T) {
	sub, pub := mosquittoClient(t, "mosquitto_sub"), mosquittoClient(t, "mosquitto_pub")
	s := rendezvoustest.Start(t)
	nid, other := newIdentity(t), newIdentity(t)
	own := signaling.TopicPrefix + nid.NodeID()
	login := mosquittoArgs(s, nid.NodeID(), password(t, nid, s, time.Now()))

	t.Run("own topic", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*waitLimit)
		defer cancel()
		// stdbuf: mosquitto_sub's debug lines reach a pipe at once.
		cmd := exec.CommandContext(ctx, "stdbuf", append([]string{"-oL", sub}, append(login, "-d", "-q", "1", "-t", own, "-C", "1")...)...)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		defer cancel()
		lines := bufio.NewScanner(stdout)
		var log []string
		for lines.Scan() && !strings.Contains(lines.Text(), "received SUBACK") {
			log = append(log, lines.Text())
		}
		if lines.Err() != nil || ctx.Err() != nil {
			t.Fatalf("no SUBACK: %v", log)
		}
		// Another node, signed in with its key, writes to our topic.
		code, out := runTool(t, pub, append(mosquittoArgs(s, other.NodeID(), password(t, other, s, time.Now())),
			"-q", "1", "-t", own, "-m", "hello-node")...)
		if code != 0 {
			t.Fatalf("mosquitto_pub as a node: exit %d: %s", code, out)
		}
		for lines.Scan() {
			if lines.Text() == "hello-node" {
				return
			}
			log = append(log, lines.Text())
		}
		t.Fatalf("the node did not read its own topic: %v", log)
	})

	for _, topic := range []string{
		signaling.TopicPrefix + other.NodeID(),
		"#",
		signaling.TopicPrefix + "#",
		signaling.TopicPrefix + "+",
		"$SYS/#",
		"$SYS/broker/clients/connected",
		"$share/g/" + own,
	} {
		t.Run("refused "+topic, func(t *testing.T) {
			code, out := runTool(t, sub, append(login, "-d", "-t", topic, "-C", "1", "-W", "2")...)
			if !strings.Contains(out, "received SUBACK") || !strings.Contains(out, "Subscribed (mid: 1): 128") {
				t.Errorf("mosquitto_sub -t %q: exit %d, %q; want SUBACK 128", topic, code, out)
			}
		})
	}

	for _, topic := range []string{"elsewhere", signaling.TopicPrefix + "not-a-node", signaling.GroupTopicPrefix + "UPPER"} {
		t.Run("publish refused "+topic, func(t *testing.T) {
			// QoS 1: an MQTT 3.1.1 publisher refused is disconnected.
			code, out := runTool(t, pub, append(login, "-q", "1", "-t", topic, "-m", "x")...)
			if code == 0 {
				t.Errorf("mosquitto_pub -t %q as a node: exit 0 (%q); want refused", topic, out)
			}
		})
	}

	t.Run("group topic", func(t *testing.T) {
		code, out := runTool(t, sub, append(login, "-d", "-q", "1", "-t", signaling.GroupTopicPrefix+"abc", "-C", "1", "-W", "1")...)
		if !strings.Contains(out, "Subscribed (mid: 1): 1") {
			t.Errorf("mosquitto_sub to a group topic: exit %d, %q; want SUBACK 1", code, out)
		}
	})
}

// A password opens only the broker, node and time it was made for.
func TestMQTTBadLoginRefused(t *testing.T) {
	sub := mosquittoClient(t, "mosquitto_sub")
	s := rendezvoustest.Start(t)
	nid, other := newIdentity(t), newIdentity(t)
	now := time.Now()
	otherBroker := signaling.LoginPassword(nid, "127.0.0.1:1", now)
	fresh := password(t, nid, s, now)
	tests := []struct {
		name, user, password string
	}{
		{"forged", nid.NodeID(), password(t, other, s, now)},
		{"expired", nid.NodeID(), password(t, nid, s, now.Add(-signaling.MaxLoginSkew-time.Minute))},
		{"future", nid.NodeID(), password(t, nid, s, now.Add(signaling.MaxLoginSkew+time.Minute))},
		{"other broker", nid.NodeID(), otherBroker},
		{"other user", other.NodeID(), fresh},
		{"not a node ID", "alice", fresh},
		{"tampered time", nid.NodeID(), strings.Replace(fresh, " "+strconv.FormatInt(now.Unix(), 10)+" ", " "+strconv.FormatInt(now.Unix()+1, 10)+" ", 1)},
		{"no password", nid.NodeID(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := mosquittoArgs(s, tt.user, tt.password)
			if tt.password == "" {
				args = mosquittoArgs(s, "", "")
				args = append(args, "-u", tt.user)
			}
			code, out := runTool(t, sub, append(args, "-t", signaling.TopicPrefix+nid.NodeID(), "-C", "1", "-W", "2")...)
			if code == 0 || !strings.Contains(strings.ToLower(out), "not authori") {
				t.Errorf("exit %d, %q; want refused (not authorised)", code, out)
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		code, out := runTool(t, sub, append(mosquittoArgs(s, nid.NodeID(), fresh), "-d", "-t", signaling.TopicPrefix+nid.NodeID(), "-C", "1", "-W", "1")...)
		if !strings.Contains(out, "received CONNACK (0)") {
			t.Errorf("a valid login: exit %d, %q; want CONNACK 0", code, out)
		}
	})
}

// A login is accepted for each address the broker is reached at: the
// socket's, localhost on loopback, and the configured names.
func TestMQTTLoginAddresses(t *testing.T) {
	s := rendezvoustest.Start(t, func(c *rendezvous.Config) { c.MQTTNames = []string{"Broker.Example:1883"} })
	_, port, _ := strings.Cut(s.MQTTAddr(), ":")
	tests := []struct {
		name   string
		url    string // dialled
		signed string // the address the login is signed for
		ok     bool
	}{
		{"socket address", "mqtt://" + s.MQTTAddr(), "127.0.0.1:" + port, true},
		{"localhost", "mqtt://localhost:" + port, "localhost:" + port, true},
		{"configured name", "mqtt://" + s.MQTTAddr(), "broker.example:1883", true},
		{"other port", "mqtt://" + s.MQTTAddr(), "127.0.0.1:1", false},
		{"other name", "mqtt://" + s.MQTTAddr(), "other.example:1883", false},
		{"websocket address for tcp", "mqtt://" + s.MQTTAddr(), s.MQTTWSAddr(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nid := newIdentity(t)
			c := paho.NewClient(mqttOptions(tt.url, t.Name()).SetCredentialsProvider(func() (string, string) {
				return nid.NodeID(), signaling.LoginPassword(nid, tt.signed, time.Now())
			}))
			tok := c.Connect()
			if !tok.WaitTimeout(waitLimit) {
				t.Fatal("connect timed out")
			}
			defer c.Disconnect(0)
			if err := tok.Error(); (err == nil) != tt.ok {
				t.Fatalf("connect: %v, want ok %v", err, tt.ok)
			}
		})
	}
}
