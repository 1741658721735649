package natprobe_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/natprobe"
)

func TestDialBackCodec(t *testing.T) {
	preamble := []byte("RCHD\x02 and the rest")
	for _, tt := range []struct {
		name string
		req  natprobe.DialBackRequest
	}{
		{"ipv4 with data and timeout", natprobe.DialBackRequest{Target: netip.MustParseAddrPort("203.0.113.7:40000"), Data: preamble, Timeout: 750 * time.Millisecond}},
		{"unspecified ipv4", natprobe.DialBackRequest{Target: netip.MustParseAddrPort("0.0.0.0:1")}},
		{"ipv6", natprobe.DialBackRequest{Target: netip.MustParseAddrPort("[2001:db8::1]:65535"), Data: preamble}},
		{"unspecified ipv6", natprobe.DialBackRequest{Target: netip.MustParseAddrPort("[::]:40000")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := stun.Build(stun.TransactionID, stun.BindingRequest, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			var dec stun.Message
			if err := stun.Decode(m.Raw, &dec); err != nil {
				t.Fatal(err)
			}
			var got natprobe.DialBackRequest
			if err := got.GetFrom(&dec); err != nil {
				t.Fatalf("GetFrom: %v", err)
			}
			if got.Target != tt.req.Target || !bytes.Equal(got.Data, tt.req.Data) || got.Timeout != tt.req.Timeout {
				t.Errorf("decoded %+v, want %+v", got, tt.req)
			}
		})
	}
	for _, tt := range []struct {
		name string
		req  natprobe.DialBackRequest
	}{
		{"port 0", natprobe.DialBackRequest{Target: netip.MustParseAddrPort("203.0.113.7:0")}},
		{"no ip", natprobe.DialBackRequest{}},
		{"data without magic", natprobe.DialBackRequest{Target: netip.MustParseAddrPort("203.0.113.7:1"), Data: []byte("GET / HTTP/1.0\r\n")}},
		{"data too long", natprobe.DialBackRequest{Target: netip.MustParseAddrPort("203.0.113.7:1"), Data: append([]byte("RCHD"), make([]byte, natprobe.DialBackDataMax)...)}},
	} {
		t.Run("refused/"+tt.name, func(t *testing.T) {
			if _, err := stun.Build(stun.TransactionID, stun.BindingRequest, tt.req); !errors.Is(err, natprobe.ErrBadDialBack) {
				t.Errorf("Build: %v, want ErrBadDialBack", err)
			}
		})
	}
	for _, res := range []natprobe.DialBackResult{
		{Outcome: natprobe.DialBackAnswered, Connect: 12 * time.Millisecond, Answer: []byte("O")},
		{Outcome: natprobe.DialBackTimeout, Answer: []byte{}},
		{Outcome: natprobe.DialBackSilent, Connect: 70 * time.Second, Answer: []byte{}}, // saturates at 65535 ms
	} {
		t.Run("result/"+res.Outcome.String(), func(t *testing.T) {
			m, err := stun.Build(stun.TransactionID, stun.BindingSuccess, res)
			if err != nil {
				t.Fatal(err)
			}
			var got natprobe.DialBackResult
			if err := got.GetFrom(m); err != nil {
				t.Fatal(err)
			}
			want := min(res.Connect, 65535*time.Millisecond)
			if got.Outcome != res.Outcome || got.Connect != want || !bytes.Equal(got.Answer, res.Answer) {
				t.Errorf("decoded %+v, want %+v", got, res)
			}
		})
	}
}

func TestReachZeroIsUnknown(t *testing.T) {
	b, err := json.Marshal(natprobe.Interface{})
	if err != nil || !strings.Contains(string(b), `"reach":{"state":"unknown"}`) {
		t.Errorf("zero interface marshals to %s (%v), want reach state unknown", b, err)
	}
}

func TestClassifyReach(t *testing.T) {
	answered := natprobe.DialBackCheck{Server: "a", Outcome: natprobe.DialBackAnswered, Accepted: true}
	foreign := natprobe.DialBackCheck{Server: "a", Outcome: natprobe.DialBackAnswered} // another listener answered
	timeout := natprobe.DialBackCheck{Server: "b", Outcome: natprobe.DialBackTimeout}
	unsupported := natprobe.DialBackCheck{Server: "c", Error: "the server does not offer dial-back"}
	for _, tt := range []struct {
		name   string
		checks []natprobe.DialBackCheck
		want   natprobe.ReachState
	}{
		{"none", nil, natprobe.ReachUnknown},
		{"unsupported", []natprobe.DialBackCheck{unsupported}, natprobe.ReachUnknown},
		{"one reached", []natprobe.DialBackCheck{timeout, answered, unsupported}, natprobe.ReachReachable},
		{"timed out", []natprobe.DialBackCheck{timeout, unsupported}, natprobe.ReachUnreachable},
		{"another listener", []natprobe.DialBackCheck{foreign}, natprobe.ReachUnreachable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := natprobe.ClassifyReach(tt.checks)
			if r.State != tt.want {
				t.Errorf("state %q, want %q", r.State, tt.want)
			}
			if (r.State == natprobe.ReachUnknown) != (r.Reason != "") {
				t.Errorf("reason %q with state %q", r.Reason, r.State)
			}
		})
	}
}

func TestApplyReach(t *testing.T) {
	ext := netip.MustParseAddr("203.0.113.9")
	open := natprobe.Result{NAT: address.NATOpen, Mapping: natprobe.BehaviorEndpointIndependent, Filtering: natprobe.BehaviorUntested, Delta: address.DeltaEqual, ExternalIP: ext}
	cone := natprobe.Result{NAT: address.NATPortRestrictedCone, Mapping: natprobe.BehaviorEndpointIndependent, Filtering: natprobe.BehaviorUntested, Delta: address.DeltaPreserving, ExternalIP: ext}
	sym := natprobe.Result{NAT: address.NATSymmetric, Delta: address.DeltaRandom, ExternalIP: ext}
	reachable := natprobe.Reach{State: natprobe.ReachReachable, Port: 40000}
	unreachable := natprobe.Reach{State: natprobe.ReachUnreachable, Port: 40000}
	unknown := natprobe.Reach{State: natprobe.ReachUnknown}
	for _, tt := range []struct {
		name      string
		in        natprobe.Result
		reach     natprobe.Reach
		nat       address.NATType
		delta     address.DeltaType
		filtering natprobe.Behavior
		noted     bool
	}{
		{"forwarded cone becomes open", cone, reachable, address.NATOpen, address.DeltaPreserving, natprobe.BehaviorUntested, true},
		{"open stays open", open, reachable, address.NATOpen, address.DeltaEqual, natprobe.BehaviorUntested, false},
		{"filtered open becomes port-restricted", open, unreachable, address.NATPortRestrictedCone, address.DeltaEqual, natprobe.BehaviorAddressPortDependent, true},
		{"cone stays cone", cone, unreachable, address.NATPortRestrictedCone, address.DeltaPreserving, natprobe.BehaviorUntested, false},
		{"symmetric stays when unreachable", sym, unreachable, address.NATSymmetric, address.DeltaRandom, natprobe.BehaviorUnknown, false},
		{"unknown changes nothing", open, unknown, address.NATOpen, address.DeltaEqual, natprobe.BehaviorUntested, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := natprobe.ApplyReach(tt.in, tt.reach)
			if got.NAT != tt.nat || got.Delta != tt.delta || got.Filtering != tt.filtering || got.ExternalIP != ext {
				t.Errorf("got nat %v delta %v filtering %v ext %v, want %v %v %v %v", got.NAT, got.Delta, got.Filtering, got.ExternalIP, tt.nat, tt.delta, tt.filtering, ext)
			}
			if noted := len(got.Notes) > len(tt.in.Notes); noted != tt.noted {
				t.Errorf("notes %q, want a new note: %v", got.Notes, tt.noted)
			}
		})
	}
}

// answerer listens on loopback and answers every connection's first bytes
// with answer, or only accepts when answer is empty.
func answerer(t *testing.T, answer string) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4)
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, buf); err == nil && answer != "" {
				c.Write([]byte(answer))
			}
			c.Close()
		}
	}()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) uint16 {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	return port
}

// TestProbeReach asks the rendezvous's STUN server for dial-backs to
// loopback listeners and checks what the report says.
func TestProbeReach(t *testing.T) {
	checkNoLeak(t)
	addrs := startSTUN(t, "127.0.0.1:0")
	data := func() []byte { return []byte("RCHD-probe") }
	acceptO := func(a []byte) bool { return len(a) > 0 && a[0] == 'O' }
	for _, tt := range []struct {
		name    string
		port    uint16
		state   natprobe.ReachState
		outcome natprobe.DialBackOutcome
		nat     address.NATType
		udp     address.NATType
	}{
		{"our listener answers", answerer(t, "O"), natprobe.ReachReachable, natprobe.DialBackAnswered, address.NATOpen, address.NATOpen},
		{"another listener answers", answerer(t, "S"), natprobe.ReachUnreachable, natprobe.DialBackAnswered, address.NATPortRestrictedCone, address.NATSymmetricUDPFirewall},
		{"silent listener", answerer(t, ""), natprobe.ReachUnreachable, natprobe.DialBackSilent, address.NATPortRestrictedCone, address.NATSymmetricUDPFirewall},
		{"closed port", closedPort(t), natprobe.ReachUnreachable, natprobe.DialBackRefused, address.NATPortRestrictedCone, address.NATSymmetricUDPFirewall},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newProber(t, natprobe.Config{STUNServers: []string{addrs[0].String()}})
			rep := p.ProbeReach(context.Background(), natprobe.DialBack{Port: tt.port, Data: data, Accept: acceptO})
			ifc := rep.Interfaces[0]
			if ifc.Reach.State != tt.state || len(ifc.Reach.Checks) != 1 || ifc.Reach.CheckedAt.IsZero() || ifc.Reach.Port != tt.port {
				t.Fatalf("reach %+v, want %s with one check on port %d", ifc.Reach, tt.state, tt.port)
			}
			c := ifc.Reach.Checks[0]
			if c.Outcome != tt.outcome || c.Dialed != netip.AddrPortFrom(loopback.IP, tt.port) {
				t.Errorf("check %+v, want outcome %s dialing %v:%d", c, tt.outcome, loopback.IP, tt.port)
			}
			// Loopback has no NAT: reachable stays open, unreachable is a filter.
			if ifc.TCP.NAT != tt.nat {
				t.Errorf("tcp NAT %s, want %s (notes %q)", ifc.TCP.NAT, tt.nat, ifc.TCP.Notes)
			}
			// UDP saw no NAT and could not test filtering (one server
			// address): a filtered TCP port says the interface is filtered.
			if ifc.UDP.NAT != tt.udp {
				t.Errorf("udp NAT %s, want %s (notes %q)", ifc.UDP.NAT, tt.udp, ifc.UDP.Notes)
			}
		})
	}
}

// TestProbeReachUnknown: a server without the extension (plainSTUN)
// leaves reachability unknown and the TCP result as STUN saw it; Probe
// alone checks nothing.
func TestProbeReachUnknown(t *testing.T) {
	p := newProber(t, natprobe.Config{STUNServers: []string{plainSTUN(t).String()}})
	port := closedPort(t)
	rep := p.ProbeReach(context.Background(), natprobe.DialBack{Port: port})
	ifc := rep.Interfaces[0]
	if ifc.Reach.State != natprobe.ReachUnknown || ifc.Reach.Reason == "" || len(ifc.Reach.Checks) != 1 || ifc.Reach.Checks[0].Error == "" {
		t.Errorf("reach %+v, want unknown with a reason and the failed check", ifc.Reach)
	}
	if ifc.TCP.NAT != address.NATOpen {
		t.Errorf("tcp NAT %s, want open as STUN saw it", ifc.TCP.NAT)
	}
	rep = p.Probe(context.Background())
	if r := rep.Interfaces[0].Reach; r.State != natprobe.ReachUnknown || len(r.Checks) != 0 {
		t.Errorf("Probe reach %+v, want unknown without checks", r)
	}
}

// FuzzDialBackAttrs decodes arbitrary dial-back attribute values: never a
// panic, and what decodes re-encodes to the same value.
func FuzzDialBackAttrs(f *testing.F) {
	seed, _ := stun.Build(stun.TransactionID, stun.BindingRequest,
		natprobe.DialBackRequest{Target: netip.MustParseAddrPort("203.0.113.7:40000"), Data: []byte("RCHD\x02"), Timeout: time.Second})
	addr, _ := seed.Get(natprobe.AttrDialBack)
	f.Add(addr, []byte("RCHD\x02"), []byte{0x03, 0xe8}, []byte{1, 0, 0, 12, 'O'})
	f.Add([]byte{0, 2, 0, 0}, []byte("GET /"), []byte{1}, []byte{9, 0, 0, 0})
	f.Fuzz(func(t *testing.T, addr, data, timeout, result []byte) {
		m := new(stun.Message)
		m.Type = stun.BindingRequest
		m.Add(natprobe.AttrDialBack, addr)
		m.Add(natprobe.AttrDialBackData, data)
		m.Add(natprobe.AttrDialBackTimeout, timeout)
		m.Add(natprobe.AttrDialBackResult, result)
		m.WriteHeader()
		var req natprobe.DialBackRequest
		if req.GetFrom(m) == nil {
			again, err := stun.Build(stun.TransactionID, stun.BindingRequest, req)
			if err != nil {
				t.Fatalf("decoded %+v does not re-encode: %v", req, err)
			}
			var back natprobe.DialBackRequest
			if err := back.GetFrom(again); err != nil || back.Target != req.Target || !bytes.Equal(back.Data, req.Data) || back.Timeout != req.Timeout {
				t.Errorf("round trip %+v -> %+v (%v)", req, back, err)
			}
		}
		var res natprobe.DialBackResult
		if res.GetFrom(m) == nil {
			if res.Outcome == natprobe.DialBackNone || len(res.Answer) > natprobe.DialBackAnswerMax {
				t.Errorf("accepted result %+v", res)
			}
		}
	})
}

func TestApplyReachUDP(t *testing.T) {
	open := natprobe.Result{NAT: address.NATOpen, Filtering: natprobe.BehaviorUntested}
	openTested := natprobe.Result{NAT: address.NATOpen, Filtering: natprobe.BehaviorEndpointIndependent}
	cone := natprobe.Result{NAT: address.NATPortRestrictedCone, Filtering: natprobe.BehaviorAddressPortDependent}
	unreachable := natprobe.Reach{State: natprobe.ReachUnreachable, Port: 40000}
	for _, tt := range []struct {
		name  string
		in    natprobe.Result
		reach natprobe.Reach
		nat   address.NATType
	}{
		{"open while tcp is filtered is a firewall", open, unreachable, address.NATSymmetricUDPFirewall},
		{"open with endpoint-independent filtering stays", openTested, unreachable, address.NATOpen},
		{"open while tcp is reachable stays", open, natprobe.Reach{State: natprobe.ReachReachable}, address.NATOpen},
		{"open when nothing was checked stays", open, natprobe.Reach{State: natprobe.ReachUnknown}, address.NATOpen},
		{"a cone stays", cone, unreachable, address.NATPortRestrictedCone},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := natprobe.ApplyReachUDP(tt.in, tt.reach)
			if got.NAT != tt.nat {
				t.Errorf("nat %v, want %v", got.NAT, tt.nat)
			}
			if noted := len(got.Notes) > 0; noted != (got.NAT != tt.in.NAT) {
				t.Errorf("notes %q: want one exactly when the result changed", got.Notes)
			}
		})
	}
}

// plainSTUN answers Binding requests over TCP on loopback with the
// source's mapped address and nothing else: a STUN server that knows no
// dial-back.
func plainSTUN(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				src := c.RemoteAddr().(*net.TCPAddr)
				for {
					buf := make([]byte, 1500)
					if _, err := io.ReadFull(c, buf[:20]); err != nil {
						return
					}
					n := int(binary.BigEndian.Uint16(buf[2:4]))
					if _, err := io.ReadFull(c, buf[20:20+n]); err != nil {
						return
					}
					var req stun.Message
					if stun.Decode(buf[:20+n], &req) != nil {
						return
					}
					m, err := stun.Build(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
						&stun.XORMappedAddress{IP: src.IP, Port: src.Port}, stun.Fingerprint)
					if err != nil {
						return
					}
					c.Write(m.Raw)
				}
			})
		}
	})
	return ln.Addr().(*net.TCPAddr).AddrPort()
}
