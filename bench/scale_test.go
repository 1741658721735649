package bench_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/signaling/signalingtest"
	"github.com/reachd/reachd/turn"
)

// BenchmarkScale runs many real nodes (package node, all in this process,
// without their API servers) on loopback and measures what a deployment
// needs to know: time to ready, memory per node and per broker client,
// signaling messages per node per minute while idle, echo round trips and
// connects between random pairs. It logs a table:
//
//	REACHD_SCALE_NODES=1000 go test -run - -bench Scale -benchtime 1x -timeout 30m ./bench/
//
// The environment sets its size:
//
//	REACHD_SCALE_NODES   nodes (default 100)
//	REACHD_SCALE_BROKER  rendezvous (one reachd rendezvous process with
//	                     broker, STUN and TURN) or nats (a three-member
//	                     NATS cluster, each node on two members, and a
//	                     rendezvous without broker for STUN and TURN)
//	REACHD_SCALE_IDLE    idle window (default 60s)
//	REACHD_SCALE_PAIRS   echoes and connects (default 200 each)
//
// It is not a CI test: it needs minutes and most of a machine.
func BenchmarkScale(b *testing.B) {
	n := envInt(b, "REACHD_SCALE_NODES", 100)
	pairs := envInt(b, "REACHD_SCALE_PAIRS", 200)
	idle := 60 * time.Second
	if v := os.Getenv("REACHD_SCALE_IDLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("REACHD_SCALE_IDLE: %v", err)
		}
		idle = d
	}
	mode := os.Getenv("REACHD_SCALE_BROKER")
	if mode == "" {
		mode = "rendezvous"
	}
	raiseFileLimit(b)
	load0 := loadAvg()

	dir := b.TempDir()
	bin := os.Getenv("REACHD_BIN")
	if bin == "" {
		bin = filepath.Join(dir, "reachd")
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/reachd/reachd/cmd/reachd").CombinedOutput(); err != nil {
			b.Fatalf("build reachd: %v\n%s", err, out)
		}
	}
	rvArgs := []string{"rendezvous", "--stun-listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0", "--turn-user", "u:p",
		"--mqtt-max-clients", "100000"}
	var brokerPids []int
	var mqtt string
	switch mode {
	case "rendezvous":
		rvArgs = append(rvArgs, "--mqtt-listen", "127.0.0.1:0")
	case "nats":
		rvArgs = append(rvArgs, "--mqtt-listen", "")
		nc := signalingtest.StartNATSCluster(b, 3)
		mqtt = nc.Entry()
		for i := range 3 {
			brokerPids = append(brokerPids, nc.Pid(i))
		}
	default:
		b.Fatalf("REACHD_SCALE_BROKER %q: want rendezvous or nats", mode)
	}
	rv := startReachd(b, bin, regexp.MustCompile(`msg="rendezvous running".* mqtt=(\S+) .*stun="?\[([^\] ]+).*\]"? turn=(\S+)`), rvArgs...)
	if mode == "rendezvous" {
		mqtt = "mqtt://" + rv.match[1]
		brokerPids = []int{rv.cmd.Process.Pid}
	}
	brokerRSS0 := rssOf(brokerPids...)
	runtime.GC()
	selfRSS0, heap0 := rssOf(os.Getpid()), heapInUse()

	// Start the nodes, 32 at a time.
	nodes := make([]*node.Node, n)
	addrs := make([]address.Address, n)
	ready := make([]time.Duration, n)
	start := time.Now()
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			t0 := time.Now()
			nd, err := node.New(node.Config{
				DataDir: filepath.Join(dir, "n"+strconv.Itoa(i)),
				MQTT:    []string{mqtt},
				STUN:    []string{rv.match[2]},
				TURN:    []string{"turn://u:p@" + rv.match[3]},
				NTP:     []string{"off"},
			})
			if err != nil {
				b.Errorf("node %d: %v", i, err)
				failed.Add(1)
				return
			}
			b.Cleanup(func() { nd.Close() })
			nd.Start()
			select {
			case <-nd.Ready():
			case <-time.After(2 * time.Minute):
				b.Errorf("node %d not ready after 2m", i)
				failed.Add(1)
				return
			}
			ready[i] = time.Since(t0)
			a, err := address.Parse(nd.Address())
			if err != nil {
				b.Errorf("node %d address: %v", i, err)
				failed.Add(1)
				return
			}
			nodes[i], addrs[i] = nd, a
		})
	}
	wg.Wait()
	allReady := time.Since(start)
	if failed.Load() > 0 {
		b.Fatalf("%d of %d nodes failed to start", failed.Load(), n)
	}

	// Idle: count the signaling messages every node sends and receives.
	msgs := func() (total uint64) {
		for _, nd := range nodes {
			for _, br := range nd.Metrics().Brokers {
				total += br.In + br.Out
			}
		}
		return total
	}
	time.Sleep(5 * time.Second) // let the start's traffic settle
	m0 := msgs()
	time.Sleep(idle)
	idleMsgs := msgs() - m0
	runtime.GC()
	selfRSS, heap := rssOf(os.Getpid()), heapInUse()
	brokerRSS := rssOf(brokerPids...)

	// Echoes and connects between random pairs, 16 at a time.
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() (int, int) {
		x := rng.IntN(n)
		y := rng.IntN(n - 1)
		if y >= x {
			y++
		}
		return x, y
	}
	run := func(do func(x, y int) error) ([]time.Duration, time.Duration, int) {
		var mu sync.Mutex
		var lat []time.Duration
		var errs int
		work := make(chan [2]int)
		t0 := time.Now()
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for p := range work {
					s := time.Now()
					err := do(p[0], p[1])
					mu.Lock()
					if err != nil {
						errs++
						if errs <= 3 {
							b.Logf("pair %d -> %d: %v", p[0], p[1], err)
						}
					} else {
						lat = append(lat, time.Since(s))
					}
					mu.Unlock()
				}
			})
		}
		for range pairs {
			x, y := pick()
			work <- [2]int{x, y}
		}
		close(work)
		wg.Wait()
		return lat, time.Since(t0), errs
	}
	echoLat, _, echoErrs := run(func(x, y int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := nodes[x].Echo(ctx, addrs[y])
		return err
	})
	connLat, connWall, connErrs := run(func(x, y int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := nodes[x].ConnectWith(ctx, addrs[y], node.ConnectOptions{Fresh: true})
		if err != nil {
			return err
		}
		return c.Close()
	})
	load1 := loadAvg()

	perNodeMB := func(after, before int64) float64 { return float64(after-before) / float64(n) / (1 << 20) }
	clients := n
	if mode == "nats" {
		clients = 2 * n // each node on two members
	}
	rows := [][2]string{
		{"nodes", fmt.Sprint(n)},
		{"broker", mode},
		{"time to ready p50 / p99 / all", fmt.Sprintf("%v / %v / %v", pct(ready, 50), pct(ready, 99), allReady.Round(time.Millisecond))},
		{"memory per node (RSS / Go heap)", fmt.Sprintf("%.2f / %.2f MB", perNodeMB(selfRSS, selfRSS0), perNodeMB(heap, heap0))},
		{"broker memory per client", fmt.Sprintf("%.1f KB (%d clients, %.0f MB in all)", float64(brokerRSS-brokerRSS0)/float64(clients)/1024, clients, float64(brokerRSS)/(1<<20))},
		{"signaling messages per node per minute, idle", fmt.Sprintf("%.3f (over %v)", float64(idleMsgs)/float64(n)/idle.Minutes(), idle)},
		{"MQTT keepalives per node per minute, idle", fmt.Sprintf("%d (PINGREQ and PINGRESP every %v on each of %d broker connections)",
			4*clients/n, signaling.DefaultKeepAlive, clients/n)},
		{"TURN probes per node per minute", fmt.Sprintf("%.1f (a STUN Binding over TCP to each TURN server every %v)", time.Minute.Seconds()/turn.DefaultPoolInterval.Seconds(), turn.DefaultPoolInterval)},
		{"echo p50 / p99", fmt.Sprintf("%v / %v (%d failed of %d)", pct(echoLat, 50), pct(echoLat, 99), echoErrs, pairs)},
		{"connect p50 / p99", fmt.Sprintf("%v / %v (%d failed of %d)", pct(connLat, 50), pct(connLat, 99), connErrs, pairs)},
		{"connects per second (16 at once)", fmt.Sprintf("%.1f", float64(len(connLat))/connWall.Seconds())},
		{"load average before / after", load0 + " / " + load1},
	}
	// To stderr: the benchmark's own log keeps only ten lines.
	for _, r := range rows {
		fmt.Fprintf(os.Stderr, "| %s | %s |\n", r[0], r[1])
	}
	b.ReportMetric(pct(ready, 99).Seconds()*1000, "ready-p99-ms")
	b.ReportMetric(perNodeMB(selfRSS, selfRSS0), "MB/node")
	b.ReportMetric(float64(idleMsgs)/float64(n)/idle.Minutes(), "idle-msgs/node/min")
	b.ReportMetric(pct(echoLat, 50).Seconds()*1000, "echo-p50-ms")
	b.ReportMetric(pct(echoLat, 99).Seconds()*1000, "echo-p99-ms")
	b.ReportMetric(pct(connLat, 50).Seconds()*1000, "connect-p50-ms")
	b.ReportMetric(pct(connLat, 99).Seconds()*1000, "connect-p99-ms")
	b.ReportMetric(float64(len(connLat))/connWall.Seconds(), "connects/s")
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 2 {
		b.Fatalf("%s %q: want a number of at least 2", name, v)
	}
	return n
}

// pct is the p-th percentile of ds (0 for none).
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	i := min(len(s)-1, len(s)*p/100)
	return s[i].Round(10 * time.Microsecond)
}

// rssOf sums the resident memory of processes, in bytes.
func rssOf(pids ...int) int64 {
	var total int64
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				total += kb << 10
			}
		}
	}
	return total
}

func heapInUse() int64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(raw))[:3], " ")
}

// raiseFileLimit lifts the soft descriptor limit to the hard one: each
// node holds a listener and its broker connections.
func raiseFileLimit(b *testing.B) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		b.Fatal(err)
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		b.Logf("raise the file limit: %v", err)
	}
}
