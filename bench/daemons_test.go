package bench_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// daemons are a reachd rendezvous and two reachd run processes on
// loopback, built from this module, so that the API rows can be measured
// as users meet them and the daemons' CPU counted apart from the clients'.
type daemons struct {
	apiX, apiY string // host:port
	addrY      string // y's peer address
	nodes      []*os.Process
}

// startDaemons runs the reachd binary named by $REACHD_BIN, or one built
// from this module.
func startDaemons(b *testing.B) *daemons {
	dir := b.TempDir()
	bin := os.Getenv("REACHD_BIN")
	if bin == "" {
		bin = filepath.Join(dir, "reachd")
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/reachd/reachd/cmd/reachd").CombinedOutput(); err != nil {
			b.Fatalf("build reachd: %v\n%s", err, out)
		}
	}
	rv := startReachd(b, bin, regexp.MustCompile(`msg="rendezvous running".* mqtt=(\S+) .*stun="?\[([^\] ]+).*\]"? turn=(\S+)`),
		"rendezvous", "--mqtt-listen", "127.0.0.1:0", "--stun-listen", "127.0.0.1:0",
		"--turn-listen", "127.0.0.1:0", "--turn-user", "u:p")
	d := &daemons{}
	var apis []string
	for i := range 2 {
		m := startReachd(b, bin, regexp.MustCompile(`msg="reachd running".* api=http://(\S+)`),
			"run", "--api", "127.0.0.1:0", "--port", strconv.Itoa(freePort(b)),
			"--data-dir", filepath.Join(dir, strconv.Itoa(i)), "--mqtt", "mqtt://"+rv.match[1],
			"--stun", rv.match[2], "--turn", "turn://u:p@"+rv.match[3], "--ntp", "off")
		apis = append(apis, m.match[1])
		d.nodes = append(d.nodes, m.cmd.Process)
	}
	d.apiX, d.apiY = apis[0], apis[1]
	for i, api := range apis {
		var info struct {
			Ready   bool   `json:"ready"`
			Address string `json:"address"`
		}
		for deadline := time.Now().Add(30 * time.Second); !info.Ready || info.Address == ""; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatalf("reachd at %s not ready after 30s", api)
			}
			getJSON(b, "http://"+api+"/v1/node", &info)
		}
		if i == 1 {
			d.addrY = info.Address
		}
	}
	return d
}

// cpu is the user and system CPU time both nodes have used.
func (d *daemons) cpu() time.Duration {
	var total time.Duration
	for _, p := range d.nodes {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid))
		if err != nil {
			continue
		}
		// The fields after the command's closing parenthesis; utime and
		// stime are the 14th and 15th of the whole line, in clock ticks.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
		for _, v := range f[11:13] {
			ticks, _ := strconv.ParseInt(v, 10, 64)
			total += time.Duration(ticks) * time.Second / 100 // USER_HZ
		}
	}
	return total
}

// connect opens a direct connection from x to y through x's API and
// returns its ID on each side.
func (d *daemons) connect(b *testing.B) (idX, idY string) {
	body := `{"address":"` + d.addrY + `","strategies":["direct"]}`
	resp, err := http.Post("http://"+d.apiX+"/v1/connections", "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ID        string `json:"id"`
		LocalAddr string `json:"local_addr"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
		b.Fatalf("connect: %s %v", resp.Status, err)
	}
	b.Cleanup(func() {
		req, _ := http.NewRequest("DELETE", "http://"+d.apiX+"/v1/connections/"+out.ID, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var list struct {
			Connections []struct {
				ID         string `json:"id"`
				Direction  string `json:"direction"`
				State      string `json:"state"`
				RemoteAddr string `json:"remote_addr"`
			} `json:"connections"`
		}
		getJSON(b, "http://"+d.apiY+"/v1/connections", &list)
		// Connections to one peer share its path: ours is the one on it
		// that no earlier call took.
		for _, c := range list.Connections {
			if c.Direction == "inbound" && c.State == "open" && c.RemoteAddr == out.LocalAddr && !takenInbound[c.ID] {
				takenInbound[c.ID] = true
				return out.ID, c.ID
			}
		}
	}
	b.Fatalf("no inbound connection from %s", out.LocalAddr)
	return "", ""
}

// takenInbound lists the inbound connections a benchmark took already
// (benchmarks run one at a time).
var takenInbound = map[string]bool{}

func getJSON(b *testing.B, url string, v any) {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		b.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
}

// proc is a reachd process and the submatches of its startup line.
type proc struct {
	cmd   *exec.Cmd
	match []string
}

// startReachd runs bin with args until cleanup and waits for the stderr
// line that matches started.
func startReachd(b *testing.B, bin string, started *regexp.Regexp, args ...string) proc {
	cmd := exec.Command(bin, args...)
	env := []string{"REACHD_PORTMAP=false"} // on loopback: no gateway is asked for a mapping
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REACHD_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start reachd %s: %v", args[0], err)
	}
	exited := make(chan struct{})
	b.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	found := make(chan []string, 1)
	var log bytes.Buffer
	go func() {
		sc := bufio.NewScanner(stderr)
		for send := found; sc.Scan(); {
			if m := started.FindStringSubmatch(sc.Text()); m != nil && send != nil {
				send <- m
				send = nil
			} else if send != nil {
				log.WriteString(sc.Text() + "\n")
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
		close(exited)
	}()
	select {
	case m := <-found:
		return proc{cmd, m}
	case <-exited:
		b.Fatalf("reachd %s exited before it was running:\n%s", args[0], log.String())
	case <-time.After(15 * time.Second):
		b.Fatalf("reachd %s: no startup line after 15s", args[0])
	}
	return proc{}
}

// freePort is a TCP port that was free on 127.0.0.1 a moment ago.
func freePort(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
