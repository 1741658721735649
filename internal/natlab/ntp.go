package natlab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ntpReadyTimeout bounds how long StartNTP waits for chronyd to answer.
const ntpReadyTimeout = 15 * time.Second

// StartNTP runs chronyd in the WAN namespace as an NTP server on
// WANAddrs()[0] port 123, serving its own clock at stratum 8 (chronyd -x
// never adjusts the clock), and returns its address once it answers a
// query. In a lab built WithIPv6 it answers on WANAddrs6()[0] port 123 as
// well. tb's cleanup stops it. A second call returns the running server.
// It skips (or under CI=true fails) the test when chronyd is not installed.
func (l *Lab) StartNTP(tb testing.TB) netip.AddrPort {
	tb.Helper()
	l.mu.Lock()
	addr := l.ntp
	l.mu.Unlock()
	if addr.IsValid() {
		return addr
	}
	if _, err := exec.LookPath("chronyd"); err != nil {
		unavailable(tb, "StartNTP needs chronyd in PATH")
	}
	addr = netip.AddrPortFrom(wanAddrs[0], 123)
	dir := tb.TempDir()
	conf := filepath.Join(dir, "chrony.conf")
	binds := []netip.Addr{addr.Addr()}
	if l.v6 {
		binds = append(binds, wanAddrs6[0])
	}
	if err := os.WriteFile(conf, []byte(chronyConf(dir, binds...)), 0o600); err != nil {
		tb.Fatalf("natlab: ntp: %v", err)
	}
	// -x: leave the system clock alone; -d: foreground, log to stderr;
	// -u root: no privilege drop, so the temporary files stay writable.
	p := l.wan.Start(tb, "chronyd", "-x", "-d", "-u", "root", "-f", conf)

	ctx, cancel := context.WithTimeout(context.Background(), ntpReadyTimeout)
	defer cancel()
	if err := l.waitNTP(ctx, p, addr); err != nil {
		tb.Fatalf("natlab: ntp server %s: %v\nchronyd output:\n%s", addr, err, p.Output())
	}
	l.mu.Lock()
	l.ntp = addr
	l.mu.Unlock()
	return addr
}

// chronyConf is a chronyd configuration serving the local clock on addrs
// only (chronyd binds one IPv4 and one IPv6 address), with every state file
// in dir and no command sockets.
func chronyConf(dir string, addrs ...netip.Addr) string {
	var binds strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&binds, "bindaddress %s\n", a)
	}
	return fmt.Sprintf(`local stratum 8
allow
port 123
%scmdport 0
bindcmdaddress /
pidfile %s
driftfile %s
`, binds.String(), filepath.Join(dir, "chronyd.pid"), filepath.Join(dir, "chrony.drift"))
}

// waitNTP polls the server from the WAN namespace until it gives a
// synchronised answer, p exits or ctx ends.
func (l *Lab) waitNTP(ctx context.Context, p *Process, addr netip.AddrPort) error {
	var conn *net.UDPConn
	err := l.wan.Do(func() (err error) {
		conn, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(addr))
		return err
	})
	if err != nil {
		return err
	}
	defer conn.Close()
	var last error
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("no answer: %w (last: %v)", ctx.Err(), last)
		case <-p.Done():
			return errors.New("chronyd exited")
		default:
		}
		if last = ntpQuery(conn, 200*time.Millisecond); last == nil {
			return nil
		}
	}
}

// ntpQuery sends one SNTP client request on conn and checks the answer: a
// server-mode reply to this request from a synchronised server.
func ntpQuery(conn net.Conn, timeout time.Duration) error {
	req := make([]byte, 48)
	req[0] = 4<<3 | 3 // version 4, mode 3 (client)
	binary.BigEndian.PutUint64(req[40:], uint64(time.Now().UnixNano()))
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := conn.Write(req); err != nil {
		return err
	}
	resp := make([]byte, 128)
	for {
		n, err := conn.Read(resp)
		if err != nil {
			return err
		}
		if n < 48 || binary.BigEndian.Uint64(resp[24:]) != binary.BigEndian.Uint64(req[40:]) {
			continue // short, or an answer to an earlier request
		}
		leap, mode, stratum := resp[0]>>6, resp[0]&7, resp[1]
		switch {
		case mode != 4:
			return fmt.Errorf("reply mode %d", mode)
		case leap == 3 || stratum == 0 || stratum > 15:
			return fmt.Errorf("server not synchronised (leap %d, stratum %d)", leap, stratum)
		}
		return nil
	}
}
