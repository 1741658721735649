package natprobe_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/natprobe"
	"github.com/reachd/reachd/rendezvous"
)

var loopback = natprobe.LocalAddr{Name: "lo", Index: 1, IP: netip.MustParseAddr("127.0.0.1")}

func onlyLoopback() ([]natprobe.LocalAddr, error) { return []natprobe.LocalAddr{loopback}, nil }

func startSTUN(t *testing.T, listen ...string) []netip.AddrPort {
	t.Helper()
	s, err := rendezvous.NewSTUNServer(rendezvous.STUNConfig{Listen: listen})
	if err != nil {
		t.Fatalf("start stun server on %v: %v", listen, err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Addrs()
}

func newProber(t *testing.T, cfg natprobe.Config) *natprobe.Prober {
	t.Helper()
	if cfg.Interfaces == nil {
		cfg.Interfaces = onlyLoopback
	}
	p, err := natprobe.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// checkNoLeak fails when goroutines started during the test outlive it.
func checkNoLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		// Closing sockets wakes goroutines that are about to exit; give
		// them a moment, polling rather than sleeping a fixed time.
		deadline := time.Now().Add(time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
	})
}

func TestProbeLoopback(t *testing.T) {
	rfc5780 := startSTUN(t, "127.0.0.1:0", "127.0.0.2:0")
	plain := startSTUN(t, "127.0.0.1:0")
	plain2 := startSTUN(t, "127.0.0.3:0")

	tests := []struct {
		name          string
		servers       []netip.AddrPort
		wantMapping   natprobe.Behavior
		wantFiltering natprobe.Behavior
		wantMappings  int // UDP mapping observations
	}{
		{"one rfc 5780 server", rfc5780[:1], natprobe.BehaviorEndpointIndependent, natprobe.BehaviorEndpointIndependent, 3},
		{"both addresses as two servers", rfc5780, natprobe.BehaviorEndpointIndependent, natprobe.BehaviorEndpointIndependent, 4},
		{"two plain servers", []netip.AddrPort{plain[0], plain2[0]}, natprobe.BehaviorEndpointIndependent, natprobe.BehaviorUntested, 2},
		{"one plain server", plain, natprobe.BehaviorUntested, natprobe.BehaviorUntested, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeak(t)
			var servers []string
			for _, s := range tt.servers {
				servers = append(servers, s.String())
			}
			p := newProber(t, natprobe.Config{STUNServers: servers})
			rep := p.Probe(t.Context())
			if len(rep.Interfaces) != 1 || rep.Error != "" {
				t.Fatalf("report has %d interfaces, error %q; want 1, none", len(rep.Interfaces), rep.Error)
			}
			ifc := rep.Interfaces[0]
			if ifc.Name != "lo" || ifc.Index != 1 || ifc.IP != loopback.IP {
				t.Errorf("interface = %s/%d/%s, want lo/1/127.0.0.1", ifc.Name, ifc.Index, ifc.IP)
			}
			for _, proto := range []struct {
				name          string
				r             natprobe.Result
				wantFiltering natprobe.Behavior
			}{
				{"udp", ifc.UDP, tt.wantFiltering},
				{"tcp", ifc.TCP, natprobe.BehaviorUntested},
			} {
				r := proto.r
				if r.NAT != address.NATOpen || r.Delta != address.DeltaEqual || r.DeltaValue != 0 {
					t.Errorf("%s: nat %v delta %v %d, want open equal 0 (reason %q, notes %q)",
						proto.name, r.NAT, r.Delta, r.DeltaValue, r.Reason, r.Notes)
				}
				if r.ExternalIP != loopback.IP {
					t.Errorf("%s: external ip = %v, want %v", proto.name, r.ExternalIP, loopback.IP)
				}
				if r.MappedAddr != r.LocalAddr || r.LocalAddr.Addr() != loopback.IP {
					t.Errorf("%s: mapped %v local %v, want equal on %v", proto.name, r.MappedAddr, r.LocalAddr, loopback.IP)
				}
				if r.Mapping != tt.wantMapping || r.Filtering != proto.wantFiltering {
					t.Errorf("%s: mapping %v filtering %v, want %v %v (notes %q)",
						proto.name, r.Mapping, r.Filtering, tt.wantMapping, proto.wantFiltering, r.Notes)
				}
				if r.Reason != "" {
					t.Errorf("%s: reason = %q, want none", proto.name, r.Reason)
				}
				if len(r.Mappings) != tt.wantMappings {
					t.Errorf("%s: %d mapping observations, want %d: %v", proto.name, len(r.Mappings), tt.wantMappings, r.Mappings)
				}
				if len(r.Servers) != len(tt.servers) {
					t.Errorf("%s: %d server results, want %d", proto.name, len(r.Servers), len(tt.servers))
				}
				for i, s := range r.Servers {
					if s.Addr != tt.servers[i] || s.Mapped != r.LocalAddr || s.Error != "" {
						t.Errorf("%s: server %d = %+v, want %v mapping %v", proto.name, i, s, tt.servers[i], r.LocalAddr)
					}
				}
				if len(r.DeltaConsecutive) != 4 || len(r.DeltaRandom) != 4 {
					t.Errorf("%s: %d consecutive and %d random delta samples, want 4 each",
						proto.name, len(r.DeltaConsecutive), len(r.DeltaRandom))
				}
			}
			if ifc.UDP.LocalAddr.Port() == 0 || rep.Finished.Before(rep.Started) {
				t.Errorf("report times %v..%v, udp local %v", rep.Started, rep.Finished, ifc.UDP.LocalAddr)
			}
		})
	}
}

func TestProbeUnreachable(t *testing.T) {
	// A UDP socket that never answers and a TCP listener on the same port
	// that never accepts: connections complete in the kernel, answers
	// never come.
	silentUDP, silentTCP := listenSilent(t)
	silentAddr := silentUDP.LocalAddr().(*net.UDPAddr).AddrPort()
	defer silentUDP.Close()
	defer silentTCP.Close()
	// A port nobody listens on: UDP goes unanswered, TCP is refused.
	closed, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.LocalAddr().String()
	closed.Close()

	const probeTimeout = 2 * time.Second
	tests := []struct {
		name       string
		servers    []string
		interfaces func() ([]natprobe.LocalAddr, error)
		wantReason string // substring of both reasons
	}{
		{"silent server", []string{silentAddr.String()}, nil, "no stun server answered"},
		{"closed port", []string{closedAddr}, nil, "no stun server answered"},
		{"silent and closed", []string{silentAddr.String(), closedAddr}, nil, "no stun server answered"},
		{"no servers", nil, nil, "no stun servers configured"},
		{"unresolvable", []string{"stun.invalid:3478"}, nil, "no stun server could be resolved"},
		{
			"no server of the family", []string{silentAddr.String()},
			func() ([]natprobe.LocalAddr, error) {
				return []natprobe.LocalAddr{{Name: "eth0", Index: 2, IP: netip.MustParseAddr("2001:db8::1")}}, nil
			},
			"no ipv6 stun server",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeak(t)
			p := newProber(t, natprobe.Config{
				STUNServers:        tt.servers,
				Interfaces:         tt.interfaces,
				TransactionTimeout: 200 * time.Millisecond,
				TCPTimeout:         300 * time.Millisecond,
				ProbeTimeout:       probeTimeout,
				LookupNetIP: func(ctx context.Context, network, host string) ([]netip.Addr, error) {
					return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
				},
			})
			start := time.Now()
			rep := p.Probe(t.Context())
			// A bound on correctness, not a speed test: Probe must not
			// outlive its own timeout.
			if d := time.Since(start); d > probeTimeout+500*time.Millisecond {
				t.Errorf("Probe took %v, want at most ProbeTimeout %v", d, probeTimeout)
			}
			if len(rep.Interfaces) != 1 {
				t.Fatalf("got %d interfaces, want 1", len(rep.Interfaces))
			}
			ifc := rep.Interfaces[0]
			for name, r := range map[string]natprobe.Result{"udp": ifc.UDP, "tcp": ifc.TCP} {
				if r.NAT != address.NATUnknown || r.Delta != address.DeltaUnknown || r.ExternalIP.IsValid() {
					t.Errorf("%s: nat %v delta %v external %v, want unknown, unknown, none", name, r.NAT, r.Delta, r.ExternalIP)
				}
				if !strings.Contains(r.Reason, tt.wantReason) {
					t.Errorf("%s: reason %q, want it to contain %q", name, r.Reason, tt.wantReason)
				}
				for _, s := range r.Servers {
					if s.Error == "" {
						t.Errorf("%s: server %s has no error", name, s.Server)
					}
				}
			}
		})
	}
}

// listenSilent binds UDP and TCP on one free loopback port.
func listenSilent(t *testing.T) (*net.UDPConn, *net.TCPListener) {
	t.Helper()
	for range 10 {
		u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(u.LocalAddr().(*net.UDPAddr).AddrPort()))
		if err == nil {
			return u, l
		}
		u.Close() // the TCP port was taken; try another
	}
	t.Fatal("no loopback port free for both udp and tcp")
	return nil, nil
}

func TestProbeInterfacesError(t *testing.T) {
	p := newProber(t, natprobe.Config{
		Interfaces: func() ([]natprobe.LocalAddr, error) { return nil, errors.New("boom") },
	})
	rep := p.Probe(t.Context())
	if !strings.Contains(rep.Error, "boom") || len(rep.Interfaces) != 0 {
		t.Errorf("report = %+v, want the error and no interfaces", rep)
	}
}

func TestProbeCancelled(t *testing.T) {
	checkNoLeak(t)
	addrs := startSTUN(t, "127.0.0.1:0", "127.0.0.2:0")
	p := newProber(t, natprobe.Config{STUNServers: []string{addrs[0].String()}})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	rep := p.Probe(ctx)
	if r := rep.Interfaces[0].UDP; r.NAT != address.NATUnknown || r.Reason == "" {
		t.Errorf("udp after cancel: nat %v reason %q, want unknown with a reason", r.NAT, r.Reason)
	}
}

func TestReportJSON(t *testing.T) {
	addrs := startSTUN(t, "127.0.0.1:0", "127.0.0.2:0")
	p := newProber(t, natprobe.Config{STUNServers: []string{addrs[0].String()}})
	b, err := json.Marshal(p.Probe(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Interfaces []struct {
			Name string `json:"name"`
			IP   string `json:"ip"`
			UDP  map[string]any
			TCP  map[string]any
		} `json:"interfaces"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	udp, tcp := got.Interfaces[0].UDP, got.Interfaces[0].TCP
	want := map[string]any{
		"nat": "open", "mapping": "endpoint_independent", "filtering": "endpoint_independent",
		"delta": "equal", "delta_value": 0.0, "external_ip": "127.0.0.1",
	}
	for k, v := range want {
		if udp[k] != v {
			t.Errorf("udp[%q] = %v, want %v in %s", k, udp[k], v, b)
		}
	}
	if tcp["filtering"] != "untested" || tcp["nat"] != "open" {
		t.Errorf("tcp = %v, want nat open, filtering untested", tcp)
	}
	if _, ok := udp["reason"]; ok {
		t.Errorf("udp has a reason: %v", udp["reason"])
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  natprobe.Config
	}{
		{"no port", natprobe.Config{STUNServers: []string{"127.0.0.1"}}},
		{"port zero", natprobe.Config{STUNServers: []string{"127.0.0.1:0"}}},
		{"no host", natprobe.Config{STUNServers: []string{":3478"}}},
		{"port out of range", natprobe.Config{STUNServers: []string{"stun.example:65536"}}},
		{"negative timeout", natprobe.Config{TransactionTimeout: -time.Second}},
		{"one delta sample", natprobe.Config{DeltaSamples: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := natprobe.New(tt.cfg); err == nil {
				t.Errorf("New(%+v) succeeded, want an error", tt.cfg)
			}
		})
	}
}

// TestProbeOneIPServer probes an RFC 5780 server with one IP and two ports,
// which sends no OTHER-ADDRESS: given both ports, the prober pairs them and
// runs the port-change filtering test; given one, it cannot.
func TestProbeOneIPServer(t *testing.T) {
	addrs := startSTUN(t, "127.0.0.1:0", "127.0.0.1:0")
	tests := []struct {
		name          string
		servers       []netip.AddrPort
		wantMapping   natprobe.Behavior
		wantFiltering natprobe.Behavior
		wantNote      string
	}{
		{"both ports", addrs, natprobe.BehaviorEndpointIndependent, natprobe.BehaviorAddressDependent, "only a port change was tested"},
		{"primary only", addrs[:1], natprobe.BehaviorUntested, natprobe.BehaviorUntested, "filtering untested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeak(t)
			var servers []string
			for _, s := range tt.servers {
				servers = append(servers, s.String())
			}
			r := newProber(t, natprobe.Config{STUNServers: servers}).Probe(t.Context()).Interfaces[0].UDP
			if r.Mapping != tt.wantMapping || r.Filtering != tt.wantFiltering {
				t.Errorf("mapping %v filtering %v, want %v %v (notes %q, reason %q)",
					r.Mapping, r.Filtering, tt.wantMapping, tt.wantFiltering, r.Notes, r.Reason)
			}
			if !strings.Contains(strings.Join(r.Notes, "; "), tt.wantNote) {
				t.Errorf("notes %q, want one containing %q", r.Notes, tt.wantNote)
			}
			for _, s := range r.Servers {
				if s.Other.IsValid() {
					t.Errorf("server %s sent OTHER-ADDRESS %s; a one-ip server must not", s.Addr, s.Other)
				}
			}
		})
	}
}
