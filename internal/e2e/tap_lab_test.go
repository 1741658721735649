package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// TestTAPOverConnections: two hosts behind NATs attach TAP devices to
// their ends of a connection, one pair punched and one relayed; ping
// works across, and a TCP transfer between the TAP addresses moves 64 MiB
// intact.
func TestTAPOverConnections(t *testing.T) {
	nodes, _ := labMatrix(t)
	for i, tt := range []struct{ from, to, strategy string }{
		{"easy-a", "easy-b", "punch"},
		{"hard-a", "hard-b", "relay"},
	} {
		t.Run(tt.strategy, func(t *testing.T) {
			from, to := nodes[tt.from], nodes[tt.to]
			status, c := connect(t, from, to, tt.strategy)
			if status != http.StatusCreated {
				t.Fatalf("connect: %d %s", status, c.Detail)
			}
			in := to.inbound(t, from.info.NodeID, tt.strategy)
			ipA, ipB := fmt.Sprintf("10.99.%d.1", i), fmt.Sprintf("10.99.%d.2", i)
			attachTAPs(t, from, to, c.ID, in.ID, ipA, ipB)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if out, err := from.host.Command(ctx, "ping", "-c", "3", "-W", "5", ipB).CombinedOutput(); err != nil {
				t.Fatalf("ping %s over the TAP link: %v\n%s", ipB, err, out)
			} else if !strings.Contains(string(out), " 0% packet loss") {
				t.Errorf("ping lost packets:\n%s", out)
			}
			took := tcpAcross(t, from.host, to.host, ipB, 64<<20)
			t.Logf("64 MiB over the TAP link in %v", took.Round(time.Millisecond))
			from.close(t, c.ID)
		})
	}
}

// tcpAcross sends size random bytes from a TCP client in src to a server
// on ip in dst, checks they arrive intact, and returns how long it took.
func tcpAcross(t testing.TB, src, dst *natlab.Host, ip string, size int) time.Duration {
	t.Helper()
	return tcpAcrossDuring(t, src, dst, ip, size, 0, nil)
}

// tcpAcrossDuring is tcpAcross sending at about rate bytes a second (0:
// as fast as it goes), running event, when not nil, once a quarter was
// sent.
func tcpAcrossDuring(t testing.TB, src, dst *natlab.Host, ip string, size, rate int, event func()) time.Duration {
	t.Helper()
	var ln net.Listener
	if err := dst.Do(func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(ip, "9000"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan [32]byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- [32]byte{}
			return
		}
		defer c.Close()
		h := sha256.New()
		io.Copy(h, c)
		got <- [32]byte(h.Sum(nil))
	}()
	data := make([]byte, size)
	rand.Read(data)
	want := sha256.Sum256(data)
	var c net.Conn
	if err := src.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", net.JoinHostPort(ip, "9000"), 10*time.Second)
		return err
	}); err != nil {
		t.Fatalf("dial over the TAP link: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	start := time.Now()
	const piece = 64 << 10
	for off := 0; off < size; off += piece {
		if off == size/4 && event != nil {
			event()
		}
		if _, err := c.Write(data[off:min(size, off+piece)]); err != nil {
			t.Fatalf("send over the TAP link after %d bytes: %v", off, err)
		}
		pace(start, min(size, off+piece), rate)
	}
	c.(*net.TCPConn).CloseWrite()
	select {
	case sum := <-got:
		if sum != want {
			t.Fatal("the TAP link delivered other bytes than were sent")
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the transfer over the TAP link did not finish")
	}
	return time.Since(start)
}

// attachTAPs backs both ends of a connection with TAP devices at ipA and
// ipB (/24).
func attachTAPs(t testing.TB, from, to *labNode, idFrom, idTo, ipA, ipB string) {
	t.Helper()
	for _, side := range []struct {
		n      *labNode
		id, ip string
	}{{from, idFrom, ipA}, {to, idTo, ipB}} {
		var info struct {
			Name string `json:"name"`
		}
		status, err := side.n.api.do("POST", "/v1/connections/"+side.id+"/tap", `{"ip":"`+side.ip+`/24"}`, &info)
		if err != nil || status != http.StatusCreated || info.Name == "" {
			t.Fatalf("%s: POST tap: %d %v %+v", side.n.name, status, err, info)
		}
	}
}

// BenchmarkTAPGoodput measures TCP goodput between two hosts' TAP devices
// over a direct connection against the goodput of the connection itself
// (its WebSocket stream), on clean links and on links with 50 ms each way
// and 1 % loss (TCP inside TCP: the inner TCP sees the outer one's
// retransmissions as delay). Run it with
//
//	go test -run '^$' -bench TAPGoodput -benchtime 2x ./internal/e2e
func BenchmarkTAPGoodput(b *testing.B) {
	for _, tt := range []struct {
		link natlab.Link
		size int
	}{
		{natlab.Link{}, 64 << 20},
		{natlab.Link{Delay: 50 * time.Millisecond, Loss: 0.01}, 4 << 20},
	} {
		b.Run(strings.ReplaceAll(tt.link.String(), " ", "_"), func(b *testing.B) {
			lab := natlab.New(b)
			ntp := lab.StartNTP(b)
			wan := startRendezvous(b, lab)
			ha := lab.AddRouter(natlab.Public, linkOpts(tt.link)...).AddHost()
			hb := lab.AddRouter(natlab.Public, linkOpts(tt.link)...).AddHost()
			nodes := startLabNodes(b, wan, ntp.Addr().String(), map[string]*natlab.Host{"a": ha, "b": hb})
			from, to := nodes["a"], nodes["b"]
			var conn, overTAP []float64
			for range b.N {
				_, c := timedConnect(b, from, to, "direct")
				in := to.inbound(b, from.info.NodeID, "direct")
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				wsA, wsB := from.stream(ctx, b, c.ID), to.stream(ctx, b, in.ID)
				conn = append(conn, oneWay(ctx, b, wsA, wsB, tt.size))
				wsA.CloseNow()
				wsB.CloseNow()
				cancel()
				from.close(b, c.ID)

				_, c = timedConnect(b, from, to, "direct")
				in = to.inbound(b, from.info.NodeID, "direct")
				attachTAPs(b, from, to, c.ID, in.ID, "10.99.0.1", "10.99.0.2")
				took := tcpAcross(b, ha, hb, "10.99.0.2", tt.size)
				overTAP = append(overTAP, float64(tt.size)/took.Seconds()/1e6)
				from.close(b, c.ID)
			}
			b.ReportMetric(medianFloat(conn), "conn-MB/s")
			b.ReportMetric(medianFloat(overTAP), "tap-MB/s")
			b.ReportMetric(medianFloat(overTAP)/medianFloat(conn), "tap/conn")
		})
	}
}

func medianFloat(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
