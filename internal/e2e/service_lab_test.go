package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// needTools skips (fails under CI) when a tool is missing; sbin
// directories are searched too.
func needTools(t *testing.T, tools ...string) map[string]string {
	t.Helper()
	paths := map[string]string{}
	for _, tool := range tools {
		p, err := exec.LookPath(tool)
		if err != nil {
			for _, dir := range []string{"/usr/sbin", "/sbin"} {
				if _, serr := os.Stat(filepath.Join(dir, tool)); serr == nil {
					p, err = filepath.Join(dir, tool), nil
					break
				}
			}
		}
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required under CI: %v", tool, err)
			}
			t.Skipf("%s not found: %v", tool, err)
		}
		paths[tool] = p
	}
	return paths
}

// waitListening waits until something on h accepts on addr (tcp) or a
// process is up (udp: the probe is the caller's).
func waitListening(t *testing.T, h *natlab.Host, p *natlab.Process, addr string) {
	t.Helper()
	waitFor(t, "a server on "+addr, p, 20*time.Second, func() (bool, error) {
		err := h.Do(func() error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		return err == nil, err
	})
}

// run runs a command on h and returns its output; it fails the test when
// the command fails.
func runOn(t *testing.T, h *natlab.Host, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := h.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestServicesAcrossNATs reaches real servers on a node behind a hard NAT
// from a node behind an easy one, through reachd services: ssh (OpenSSH's
// sshd, with ProxyCommand "reachd nc PEER/ssh") runs a command and scp
// copies 64 MiB intact; curl fetches from python's http.server through a
// TCP forward, also across a WAN address change of the serving side's
// router; dig resolves a name from dnsmasq through a UDP forward.
func TestServicesAcrossNATs(t *testing.T) {
	tools := needTools(t, "sshd", "ssh", "scp", "ssh-keygen", "python3", "curl", "dnsmasq", "dig")
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	ra, rb := lab.AddRouter(natlab.Hard), lab.AddRouter(natlab.Easy)
	nodes := startLabNodes(t, wan, ntp.String(), map[string]*natlab.Host{"a": ra.AddHost(), "b": rb.AddHost()})
	a, b := nodes["a"], nodes["b"]
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	at := func(name string) string { return filepath.Join(dir, name) }

	// The servers, on b's host: sshd, an HTTP server, a DNS server.
	runOn(t, b.host, 30*time.Second, tools["ssh-keygen"], "-q", "-t", "ed25519", "-N", "", "-f", at("host_key"))
	runOn(t, a.host, 30*time.Second, tools["ssh-keygen"], "-q", "-t", "ed25519", "-N", "", "-f", at("client_key"))
	pub, err := os.ReadFile(at("client_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(at("authorized_keys"), pub, 0o600)
	os.MkdirAll("/run/sshd", 0o755) // sshd's privilege separation directory
	os.WriteFile(at("sshd_config"), []byte(fmt.Sprintf(`Port 2222
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PidFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
`, at("host_key"), at("authorized_keys"), at("sshd.pid"))), 0o600)
	sshd := b.host.Start(t, tools["sshd"], "-D", "-e", "-f", at("sshd_config"))
	www := at("www")
	os.MkdirAll(www, 0o755)
	big := make([]byte, 64<<20)
	rand.Read(big)
	os.WriteFile(filepath.Join(www, "big"), big, 0o644)
	web := b.host.Start(t, tools["python3"], "-m", "http.server", "--bind", "127.0.0.1", "--directory", www, "8080")
	dns := b.host.Start(t, tools["dnsmasq"], "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		"--listen-address=127.0.0.1", "--bind-interfaces", "--port=5353", "--address=/svc.lab/10.11.12.13",
		"--user=root", "--pid-file="+at("dnsmasq.pid"))
	waitListening(t, b.host, sshd, "127.0.0.1:2222")
	waitListening(t, b.host, web, "127.0.0.1:8080")
	waitListening(t, b.host, dns, "127.0.0.1:5353") // dnsmasq answers TCP too

	put := func(name, body string) {
		t.Helper()
		var problem map[string]any
		if status, err := b.api.do("PUT", "/v1/services/"+name, body, &problem); err != nil || status != 201 {
			t.Fatalf("PUT service %s: %d %v %v", name, status, problem, err)
		}
	}
	put("ssh", `{"target":"127.0.0.1:2222","allow":["`+a.info.NodeID+`"]}`)
	put("web", `{"target":"127.0.0.1:8080","allow":["any"]}`)
	put("dns", `{"target":"127.0.0.1:5353","protocol":"udp","allow":["`+a.info.NodeID+`"]}`)
	forward := func(svc, proto string) string {
		t.Helper()
		var f struct {
			Listen string `json:"listen"`
			Detail string `json:"detail"`
		}
		body, _ := json.Marshal(map[string]string{"peer": b.info.Address, "service": svc, "protocol": proto})
		if status, err := a.api.do("POST", "/v1/forwards", string(body), &f); err != nil || status != 201 {
			t.Fatalf("POST forward to %s: %d %s %v", svc, status, f.Detail, err)
		}
		return f.Listen
	}

	// ssh checks host names: an address is not one, so the proxy command
	// names the peer and ssh a placeholder.
	proxy := fmt.Sprintf("ProxyCommand=%s nc '%s/ssh'", reachdBin, b.info.Address)
	sshOpts := []string{"-i", at("client_key"), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", proxy}
	t.Run("ssh runs a command", func(t *testing.T) {
		out := runOn(t, a.host, time.Minute, tools["ssh"], append(sshOpts, "root@peer", "echo reached; ip -4 -o addr show")...)
		if !strings.Contains(out, "reached") || !strings.Contains(out, b.host.IP().String()) {
			t.Errorf("ssh output %q: want the command's, run on b (%s)", out, b.host.IP())
		}
	})
	t.Run("scp copies 64 MiB", func(t *testing.T) {
		src := at("scp-src")
		os.WriteFile(src, big, 0o644)
		start := time.Now()
		runOn(t, a.host, 3*time.Minute, tools["scp"], append(sshOpts, src, "root@peer:"+at("scp-dst"))...)
		t.Logf("scp of 64 MiB took %v", time.Since(start).Round(time.Millisecond))
		if fileSum(t, at("scp-dst")) != sha256.Sum256(big) {
			t.Error("the copy differs from the original")
		}
	})
	t.Run("dig through a UDP forward", func(t *testing.T) {
		listen := forward("dns", "udp")
		host, port, _ := net.SplitHostPort(listen)
		out := runOn(t, a.host, time.Minute, tools["dig"], "@"+host, "-p", port, "svc.lab", "A", "+short", "+time=5", "+tries=3")
		if strings.TrimSpace(out) != "10.11.12.13" {
			t.Errorf("dig answered %q, want 10.11.12.13", out)
		}
	})
	t.Run("curl through a TCP forward", func(t *testing.T) {
		listen := forward("web", "tcp")
		runOn(t, a.host, 2*time.Minute, tools["curl"], "-sSf", "-o", at("curl-1"), "http://"+listen+"/big")
		if fileSum(t, at("curl-1")) != sha256.Sum256(big) {
			t.Error("the download differs from the file served")
		}
		t.Run("across a WAN address change of the serving side", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			out := at("curl-2")
			cmd := a.host.Command(ctx, tools["curl"], "-sSf", "--limit-rate", "8M", "-o", out, "http://"+listen+"/big")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "a quarter of the download", nil, time.Minute, func() (bool, error) {
				fi, err := os.Stat(out)
				return err == nil && fi.Size() >= 16<<20, err
			})
			ip, err := rb.ChangeWANIP()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("router b's WAN address is now %s", ip)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("curl across the change: %v: %s", err, stderr.Bytes())
			}
			if fileSum(t, out) != sha256.Sum256(big) {
				t.Error("the download across the change differs from the file served")
			}
		})
	})
}
