package bench_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/server"
)

// size is what one benchmark iteration moves, one way.
const size = 64 << 20

// BenchmarkDatapath moves one stream from one side to the other through
// each layer, in one process: raw loopback TCP, crypto/tls 1.3 alone,
// reachd's secured stream (node.Conn, no API), the secured stream between
// two plain TCP hops (secured-tcp-hops: the floor of any bridge to it on
// the same cores, a copy in and a copy out), the API's WebSocket stream
// (a WebSocket client on each node) and POST /send with GET /recv (1 MiB
// requests), and the WebSocket path's two hops alone with no node between
// them (websocket-hops: what any WebSocket bridge pays on top of the
// stream it bridges, on the same cores). Each reports MB/s, allocs/MiB
// (whole process) and cpu-s/GiB (the process's user and system CPU: both
// nodes, both APIs and the clients). The two API paths run again against
// real reachd processes (-reachd), where cpu-s/GiB is the CPU of the two
// daemons alone.
func BenchmarkDatapath(b *testing.B) {
	rv := rendezvoustest.Start(b)
	x, y := nodetest.Start(b, rv), nodetest.Start(b, rv)
	apiX, apiY := startAPI(b, x), startAPI(b, y)

	b.Run("raw-tcp", func(b *testing.B) {
		c, s := tcpPair(b)
		move(b, cpuTime, func(p []byte) error { _, err := c.Write(p); return err }, 1<<20, s.Read, 256<<10)
	})
	b.Run("tls", func(b *testing.B) {
		c, s := tcpPair(b)
		cfg := selfSigned(b)
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
		ts := tls.Server(s, cfg)
		go tc.Handshake()
		if err := ts.Handshake(); err != nil {
			b.Fatal(err)
		}
		move(b, cpuTime, func(p []byte) error { _, err := tc.Write(p); return err }, 1<<20, ts.Read, 16<<10)
	})
	b.Run("secured", func(b *testing.B) {
		out, in := connect(b, x, y)
		ctx := context.Background()
		move(b, cpuTime, func(p []byte) error { _, err := out.Write(p); return err }, 1<<20,
			func(p []byte) (int, error) { return in.ReadInto(ctx, p) }, 1<<20)
	})
	b.Run("secured-tcp-hops", func(b *testing.B) {
		// The floor of any bridge to the secured stream: a plain TCP hop
		// into it and one out of it, with nothing but a copy between.
		out, in := connect(b, x, y)
		wc, ws := tcpPair(b)
		rc, rs := tcpPair(b)
		ctx := context.Background()
		go pump(make([]byte, 256<<10), out.Write, ws.Read)
		go pump(make([]byte, 256<<10), rs.Write, func(p []byte) (int, error) { return in.ReadInto(ctx, p) })
		move(b, cpuTime, func(p []byte) error { _, err := wc.Write(p); return err }, 1<<20, rc.Read, 256<<10)
	})
	b.Run("websocket", func(b *testing.B) {
		out, in := connect(b, x, y)
		moveWebSocket(b, cpuTime, apiX, out.ID(), apiY, in.ID())
	})
	b.Run("websocket-hops", func(b *testing.B) {
		in, out := relayHops(b)
		moveWebSocket(b, cpuTime, in, "", out, "")
	})
	b.Run("send-recv", func(b *testing.B) {
		out, in := connect(b, x, y)
		moveSendRecv(b, cpuTime, apiX, out.ID(), apiY, in.ID())
	})
	d := startDaemons(b)
	b.Run("websocket-reachd", func(b *testing.B) {
		idX, idY := d.connect(b)
		moveWebSocket(b, d.cpu, d.apiX, idX, d.apiY, idY)
	})
	b.Run("send-recv-reachd", func(b *testing.B) {
		idX, idY := d.connect(b)
		moveSendRecv(b, d.cpu, d.apiX, idX, d.apiY, idY)
	})
}

// moveWebSocket moves the stream from a WebSocket client of apiX's
// connection idX to one of apiY's idY, in messages of 256 KiB.
func moveWebSocket(b *testing.B, cpu func() time.Duration, apiX, idX, apiY, idY string) {
	ctx := context.Background()
	wx, wy := dialStream(b, apiX, idX), dialStream(b, apiY, idY)
	var r io.Reader
	move(b, cpu, func(p []byte) error { return wx.Write(ctx, websocket.MessageBinary, p) }, 256<<10,
		func(p []byte) (int, error) {
			for {
				if r == nil {
					_, m, err := wy.Reader(ctx)
					if err != nil {
						return 0, err
					}
					r = m
				}
				n, err := r.Read(p)
				if err == io.EOF {
					r, err = nil, nil
				}
				if n > 0 || err != nil {
					return n, err
				}
			}
		}, 256<<10)
}

// relayHops serves the two WebSocket hops of the API's stream with no node
// between them: what arrives on the first is written to the second as it
// comes, in pieces of up to 256 KiB, as the API does. It returns the
// addresses to give moveWebSocket (any connection ID).
func relayHops(b *testing.B) (in, out string) {
	outs := make(chan *websocket.Conn, 1)
	done := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/in/", func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ws.SetReadLimit(1 << 20)
		var o *websocket.Conn
		select {
		case o = <-outs:
		case <-done:
			return
		}
		ctx := context.Background()
		buf := make([]byte, 256<<10)
		write := func(p []byte) (int, error) { return len(p), o.Write(ctx, websocket.MessageBinary, p) }
		for {
			_, m, err := ws.Reader(ctx)
			if err != nil {
				return
			}
			if pump(buf, write, m.Read) != io.EOF {
				return
			}
		}
	})
	mux.HandleFunc("/out/", func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		outs <- ws
		<-done
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	b.Cleanup(func() { close(done); srv.Close() })
	return ln.Addr().String() + "/in", ln.Addr().String() + "/out"
}

// moveSendRecv moves the stream with POST /send to apiX's connection idX
// and GET /recv from apiY's idY, 1 MiB a request.
func moveSendRecv(b *testing.B, cpu func() time.Duration, apiX, idX, apiY, idY string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.Cleanup(client.CloseIdleConnections)
	send := "http://" + apiX + "/v1/connections/" + idX + "/send"
	recv := "http://" + apiY + "/v1/connections/" + idY + "/recv?max=1048576&timeout_ms=10000"
	move(b, cpu, func(p []byte) error {
		resp, err := client.Post(send, "application/octet-stream", bytes.NewReader(p))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("send: %s", resp.Status)
		}
		return nil
	}, 1<<20, func(p []byte) (int, error) {
		resp, err := client.Get(recv)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("recv: %s", resp.Status)
		}
		return io.ReadFull(resp.Body, p[:resp.ContentLength])
	}, 1<<20)
}

// move runs b.N iterations, each writing size bytes with write (chunks of
// wsize) in a goroutine and reading them with read (into a buffer of
// rsize), and reports throughput, this process's allocations and the CPU
// time cpu counts.
func move(b *testing.B, cpu func() time.Duration, write func([]byte) error, wsize int, read func([]byte) (int, error), rsize int) {
	wbuf, rbuf := make([]byte, wsize), make([]byte, rsize)
	rand.Read(wbuf)
	errc := make(chan error, 1)
	b.SetBytes(size)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	cpu0 := cpu()
	b.ResetTimer()
	for range b.N {
		go func() {
			for left := size; left > 0; left -= wsize {
				if err := write(wbuf[:min(left, wsize)]); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		for n := 0; n < size; {
			m, err := read(rbuf)
			if err != nil {
				b.Fatalf("read after %d bytes: %v", n, err)
			}
			n += m
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	used := cpu() - cpu0
	runtime.ReadMemStats(&ms1)
	mib := float64(b.N) * size / (1 << 20)
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/mib, "allocs/MiB")
	b.ReportMetric(used.Seconds()/(mib/1024), "cpu-s/GiB")
}

// pump copies what read gives to write through buf until either fails,
// and returns that error (io.EOF at the end of what read gives).
func pump(buf []byte, write func([]byte) (int, error), read func([]byte) (int, error)) error {
	for {
		n, err := read(buf)
		if n > 0 {
			if _, werr := write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil {
			return err
		}
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func tcpPair(b *testing.B) (client, server net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func selfSigned(b *testing.B) *tls.Config {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS13,
	}
}

func startAPI(b *testing.B, n *node.Node) string {
	s, err := server.New(server.Config{Addr: "127.0.0.1:0", Node: n})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s.Addr()
}

// connect opens a direct connection from x to y and returns both ends.
func connect(b *testing.B, x, y *node.Node) (out, in *node.Conn) {
	addr, err := address.Parse(y.Address())
	if err != nil {
		b.Fatal(err)
	}
	out, err = x.Connect(context.Background(), addr, []string{node.StrategyDirect})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { out.Close() })
	return out, inbound(b, y, out)
}

// inbound waits for y's end of out: an inbound connection on out's path
// that no earlier call took (connections to one peer share its path).
func inbound(b *testing.B, y *node.Node, out *node.Conn) *node.Conn {
	info := out.Info()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, c := range y.Conns() {
			if ci := c.Info(); ci.Direction == node.Inbound && ci.RemoteAddr == info.LocalAddr && ci.State == node.StateOpen && !takenInbound[ci.ID] {
				takenInbound[ci.ID] = true
				return c
			}
		}
	}
	b.Fatalf("no inbound connection from %s", info.LocalAddr)
	return nil
}

func dialStream(b *testing.B, api, id string) *websocket.Conn {
	ws, _, err := websocket.Dial(context.Background(), "ws://"+api+"/v1/connections/"+id+"/stream", nil)
	if err != nil {
		b.Fatal(err)
	}
	ws.SetReadLimit(-1)
	b.Cleanup(func() { ws.CloseNow() })
	return ws
}

// BenchmarkIdle opens 1,000 connections between two nodes in this process,
// moves one byte each way on each, and reports what they hold while idle,
// per connection and side (each connection has two sides here): the
// process's resident memory, the live Go heap and the goroutine stacks.
func BenchmarkIdle(b *testing.B) {
	const conns = 1000
	rv := rendezvoustest.Start(b)
	// A thousand inbound connections from one peer: lift the per-peer
	// and total caps, which are the point of other tests.
	lift := func(c *node.Config) { c.Limits.MaxInbound, c.Limits.MaxInboundPerPeer = 4096, 4096 }
	x, y := nodetest.Start(b, rv, lift), nodetest.Start(b, rv, lift)
	connect(b, x, y) // warm up
	m0 := memory()
	ctx := context.Background()
	one := make([]byte, 1)
	for range conns {
		out, in := connect(b, x, y)
		if _, err := out.Write(one); err != nil {
			b.Fatal(err)
		}
		if _, err := in.ReadInto(ctx, one); err != nil {
			b.Fatal(err)
		}
		if _, err := in.Write(one); err != nil {
			b.Fatal(err)
		}
		if _, err := out.ReadInto(ctx, one); err != nil {
			b.Fatal(err)
		}
	}
	time.Sleep(time.Second)
	m1 := memory()
	sides := float64(2 * conns)
	b.ReportMetric(float64(m1.rss-m0.rss)/sides, "rss-B/side")
	b.ReportMetric(float64(m1.heap-m0.heap)/sides, "heap-B/side")
	b.ReportMetric(float64(m1.stack-m0.stack)/sides, "stack-B/side")
}

type mem struct{ rss, heap, stack int64 }

// memory measures the process after a collection that returns what it
// freed to the system.
func memory() mem {
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := mem{heap: int64(ms.HeapAlloc), stack: int64(ms.StackInuse)}
	status, _ := os.ReadFile("/proc/self/status")
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			m.rss = kb << 10
		}
	}
	return m
}
