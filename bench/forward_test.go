package bench_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/service"
)

// BenchmarkForward moves one stream through a forward to a peer's service
// (a local TCP hop on each side of the secured stream: client -> forward
// on x -> secured stream -> y -> the service's target), next to the
// secured stream alone (node.Conn) and to ssh -L through a local sshd
// (client -> ssh -> sshd -> target), in the same round. cpu-s/GiB is the
// CPU of this process (both nodes, the client and the target) and, for
// ssh-l, of ssh and sshd too. ssh-l is skipped without sshd.
func BenchmarkForward(b *testing.B) {
	rv := rendezvoustest.Start(b)
	x, y := nodetest.Start(b, rv), nodetest.Start(b, rv)

	b.Run("secured", func(b *testing.B) {
		out, in := connect(b, x, y)
		ctx := context.Background()
		move(b, cpuTime, func(p []byte) error { _, err := out.Write(p); return err }, 1<<20,
			func(p []byte) (int, error) { return in.ReadInto(ctx, p) }, 1<<20)
	})
	b.Run("forward", func(b *testing.B) {
		target, accepted := sinkListener(b)
		if _, _, err := y.PutService(service.Service{Name: "bench", Target: target, Allow: []string{x.ID()}}); err != nil {
			b.Fatal(err)
		}
		f, err := x.AddForward(service.Forward{Peer: y.Address(), Service: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { x.RemoveForward(f.ID) })
		c, err := net.Dial("tcp", f.Listen)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		s := <-accepted
		defer s.Close()
		move(b, cpuTime, func(p []byte) error { _, err := c.Write(p); return err }, 1<<20, s.Read, 256<<10)
	})
	b.Run("ssh-l", func(b *testing.B) {
		sshd, err := exec.LookPath("sshd")
		if err != nil {
			sshd = "/usr/sbin/sshd"
			if _, err := os.Stat(sshd); err != nil {
				b.Skip("no sshd")
			}
		}
		target, accepted := sinkListener(b)
		local, pids := sshTunnel(b, sshd, target)
		c, err := net.Dial("tcp", local)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		// The target also saw waitDial's probe, through the tunnel: the
		// connection is the one that carries the first byte.
		c.Write([]byte{1})
		var s net.Conn
		for s == nil {
			a := <-accepted
			if n, _ := a.Read(make([]byte, 1)); n == 1 {
				s = a
			} else {
				a.Close()
			}
		}
		defer s.Close()
		cpu := func() time.Duration { return cpuTime() + treeCPU(pids...) }
		move(b, cpu, func(p []byte) error { _, err := c.Write(p); return err }, 1<<20, s.Read, 256<<10)
	})
}

// sinkListener listens on loopback and hands over the connections it
// accepts.
func sinkListener(b *testing.B) (string, <-chan net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	ch := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ch <- c
		}
	}()
	return ln.Addr().String(), ch
}

// sshTunnel starts sshd on a free loopback port and ssh -L to target
// through it (chacha20-poly1305 or aes128-gcm as the two sides choose),
// and returns the tunnel's local address and the two processes' IDs.
func sshTunnel(b *testing.B, sshd, target string) (string, []int) {
	dir := b.TempDir()
	at := func(n string) string { return filepath.Join(dir, n) }
	for _, k := range []string{"host_key", "client_key"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", at(k)).CombinedOutput(); err != nil {
			b.Fatalf("ssh-keygen: %v %s", err, out)
		}
	}
	pub, _ := os.ReadFile(at("client_key.pub"))
	os.WriteFile(at("authorized_keys"), pub, 0o600)
	os.MkdirAll("/run/sshd", 0o755)
	sshPort, localPort := freePort(b), freePort(b)
	os.WriteFile(at("sshd_config"), []byte(fmt.Sprintf("Port %d\nListenAddress 127.0.0.1\nHostKey %s\nAuthorizedKeysFile %s\nPidFile %s\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n",
		sshPort, at("host_key"), at("authorized_keys"), at("sshd.pid"))), 0o600)
	d := exec.Command(sshd, "-D", "-e", "-f", at("sshd_config"))
	if err := d.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Process.Kill(); d.Wait() })
	waitDial(b, fmt.Sprintf("127.0.0.1:%d", sshPort))
	c := exec.Command("ssh", "-N", "-i", at("client_key"), "-p", strconv.Itoa(sshPort),
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
		"-L", fmt.Sprintf("127.0.0.1:%d:%s", localPort, target), "root@127.0.0.1")
	if err := c.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Process.Kill(); c.Wait() })
	local := fmt.Sprintf("127.0.0.1:%d", localPort)
	waitDial(b, local)
	return local, []int{d.Process.Pid, c.Process.Pid}
}

// waitDial waits until addr accepts a connection (it is closed at once).
func waitDial(b *testing.B, addr string) {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: %v", addr, err)
		}
	}
}

// treeCPU is the user and system CPU of the processes roots and all their
// descendants alive now, from /proc (clock ticks of 1/100 s).
func treeCPU(roots ...int) time.Duration {
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	ticks := map[int]int64{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := os.Open(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		line, _ := bufio.NewReader(f).ReadString('\n')
		f.Close()
		i := strings.LastIndexByte(line, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(line[i+1:]) // state ppid ... utime(12) stime(13)
		if len(fields) < 13 {
			continue
		}
		parent[pid], _ = strconv.Atoi(fields[1])
		u, _ := strconv.ParseInt(fields[11], 10, 64)
		s, _ := strconv.ParseInt(fields[12], 10, 64)
		ticks[pid] = u + s
	}
	in := map[int]bool{}
	for _, r := range roots {
		in[r] = true
	}
	var total int64
	for pid := range ticks {
		for p := pid; p > 1; p = parent[p] {
			if in[p] {
				total += ticks[pid]
				break
			}
		}
	}
	return time.Duration(total) * 10 * time.Millisecond
}
