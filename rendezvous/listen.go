package rendezvous

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/reachd/reachd/internal/logthrottle"
)

// bindAttempts bounds the retries when a port-0 UDP port is taken on TCP.
const bindAttempts = 10

// throttled passes on h's records below warn level and lets through a few
// warnings and errors and then one a second, each with the count held back:
// the servers here log some per packet or per client, which a stranger
// repeats at will.
func throttled(h slog.Handler) slog.Handler {
	return logthrottle.NewHandler(h, slog.LevelWarn, time.Second, logthrottle.DefaultBurst)
}

// parseHostPort splits a "host:port" listen address whose host is an IP
// literal or empty (all addresses; returned as the invalid Addr).
func parseHostPort(s string) (netip.Addr, uint16, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("bad port %q", port)
	}
	if host == "" {
		return netip.Addr{}, uint16(p), nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("host must be an ip literal: %w", err)
	}
	return ip.Unmap(), uint16(p), nil
}

// listenUDPTCP binds UDP and TCP on the same port of addr ("host:port"). With
// port 0 it picks a free UDP port and retries when that port is taken on TCP.
func listenUDPTCP(addr string) (*net.UDPConn, *net.TCPListener, error) {
	ip, port, err := parseHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	udpNet, tcpNet := "udp", "tcp"
	switch {
	case !ip.IsValid() || ip.IsUnspecified():
	case ip.Is4():
		udpNet, tcpNet = "udp4", "tcp4"
	default:
		udpNet, tcpNet = "udp6", "tcp6"
	}
	var ua *net.UDPAddr
	if ip.IsValid() {
		ua = net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, port))
	} else {
		ua = &net.UDPAddr{Port: int(port)}
	}
	for range bindAttempts {
		uc, err := net.ListenUDP(udpNet, ua)
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		ta := &net.TCPAddr{IP: ua.IP, Port: uc.LocalAddr().(*net.UDPAddr).Port, Zone: ua.Zone}
		tl, err := net.ListenTCP(tcpNet, ta)
		if err == nil {
			return uc, tl, nil
		}
		_ = uc.Close()
		if port != 0 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("listen tcp %s: %w", ta, err)
		}
	}
	return nil, nil, fmt.Errorf("listen %s: no port free on both udp and tcp after %d attempts", addr, bindAttempts)
}
