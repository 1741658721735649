package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
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
			for _, side := range []struct {
				n      *labNode
				id, ip string
			}{{from, c.ID, ipA}, {to, in.ID, ipB}} {
				var info struct {
					Name string `json:"name"`
					MAC  string `json:"mac"`
				}
				status, err := side.n.api.do("POST", "/v1/connections/"+side.id+"/tap", `{"ip":"`+side.ip+`/24"}`, &info)
				if err != nil || status != http.StatusCreated || info.Name == "" {
					t.Fatalf("%s: POST tap: %d %v %+v", side.n.name, status, err, info)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if out, err := from.host.Command(ctx, "ping", "-c", "3", "-W", "5", ipB).CombinedOutput(); err != nil {
				t.Fatalf("ping %s over the TAP link: %v\n%s", ipB, err, out)
			} else if !strings.Contains(string(out), " 0% packet loss") {
				t.Errorf("ping lost packets:\n%s", out)
			}
			tcpAcross(t, from.host, to.host, ipB, 64<<20)
			from.close(t, c.ID)
		})
	}
}

// tcpAcross sends size random bytes from a TCP client in src to a server
// on ip in dst, and checks they arrive intact.
func tcpAcross(t *testing.T, src, dst *natlab.Host, ip string, size int) {
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
		var sum [32]byte
		copy(sum[:], h.Sum(nil))
		got <- sum
	}()
	data := make([]byte, size)
	rand.Read(data)
	want := sha256.Sum256(data)
	start := time.Now()
	if err := src.Do(func() error {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, "9000"), 10*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(90 * time.Second))
		if _, err := io.Copy(c, bytes.NewReader(data)); err != nil {
			return err
		}
		return c.(*net.TCPConn).CloseWrite()
	}); err != nil {
		t.Fatalf("send over the TAP link: %v", err)
	}
	select {
	case sum := <-got:
		if sum != want {
			t.Fatal("the TAP link delivered other bytes than were sent")
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the transfer over the TAP link did not finish")
	}
	t.Logf("%d MiB over the TAP link in %v", size>>20, time.Since(start).Round(time.Millisecond))
}
