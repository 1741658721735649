package rendezvous_test

import (
	"crypto/rand"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/reachd/reachd/rendezvous"
)

// This file checks the STUN server against what other clients send and
// expect: stuntman's requests, RFC 3489 clients, unknown attributes, and
// third-party tools from Debian (installed by .ci/run).

// requireTool returns the path of a program the test runs. It skips the
// test when the program is missing, or fails it when CI=true.
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI (Debian package %s): %v", name, pkg, err)
		}
		t.Skipf("%s not installed (apt-get install %s): %v", name, pkg, err)
	}
	return path
}

func mappedAddress(m *stun.Message) netip.AddrPort {
	var a stun.MappedAddress
	if a.GetFrom(m) != nil {
		return netip.AddrPort{}
	}
	return apFrom(a.IP, a.Port)
}

func addrAttr(m *stun.Message, typ stun.AttrType) netip.AddrPort {
	var a stun.MappedAddress
	if a.GetFromAs(m, typ) != nil {
		return netip.AddrPort{}
	}
	return apFrom(a.IP, a.Port)
}

// stuntmanRequest is the request stuntman's stunclient sends for its basic
// binding test, over UDP and TCP alike (stuncore/stunclienttests.cpp): the
// header with the magic cookie and a random transaction ID, then a
// CHANGE-REQUEST with no flag set, and nothing else.
func stuntmanRequest(t *testing.T) (raw []byte, txid [stun.TransactionIDSize]byte) {
	t.Helper()
	raw = []byte{
		0x00, 0x01, 0x00, 0x08, // Binding request, 8 bytes of attributes
		0x21, 0x12, 0xa4, 0x42, // magic cookie
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // transaction ID
		0x00, 0x03, 0x00, 0x04, 0, 0, 0, 0, // CHANGE-REQUEST, no flags
	}
	rand.Read(raw[8:20])
	copy(txid[:], raw[8:20])
	return raw, txid
}

func TestSTUNStuntmanRequest(t *testing.T) {
	for _, listen := range [][]string{{"127.0.0.1:0"}, {"127.0.0.1:0", "127.0.0.2:0"}} {
		s := startSTUN(t, rendezvous.STUNConfig{Listen: listen})
		a := s.Addrs()[0]
		check := func(t *testing.T, resp *stun.Message, txid [stun.TransactionIDSize]byte, local netip.AddrPort) {
			t.Helper()
			if resp.Type != stun.BindingSuccess || resp.TransactionID != txid {
				t.Fatalf("got %v (code %d), want binding success for the request", resp.Type, errorCode(resp))
			}
			if x, m := xorMapped(t, resp), mappedAddress(resp); x != local || m != local {
				t.Errorf("xor-mapped-address %v mapped-address %v, want both %v", x, m, local)
			}
			if o := responseOrigin(resp); o != a {
				t.Errorf("response-origin %v, want %v", o, a)
			}
		}
		t.Run(strconv.Itoa(len(listen))+" addresses tcp", func(t *testing.T) {
			c := dialTCP(t, "127.0.0.1", a)
			for range 2 { // the connection stays usable
				raw, txid := stuntmanRequest(t)
				if _, err := c.Write(raw); err != nil {
					t.Fatal(err)
				}
				check(t, readTCPMessage(t, c), txid, c.LocalAddr().(*net.TCPAddr).AddrPort())
			}
		})
		t.Run(strconv.Itoa(len(listen))+" addresses udp", func(t *testing.T) {
			c := listenUDP(t, "127.0.0.1")
			raw, txid := stuntmanRequest(t)
			req := new(stun.Message)
			if err := stun.Decode(raw, req); err != nil {
				t.Fatal(err)
			}
			resp, from := udpExchange(t, c, a, req)
			if from != a {
				t.Errorf("answered from %v, want %v", from, a)
			}
			check(t, resp, txid, c.LocalAddr().(*net.UDPAddr).AddrPort())
		})
	}
}

// rawAttr is an attribute of any type and value.
type rawAttr struct {
	typ stun.AttrType
	val []byte
}

func (a rawAttr) AddTo(m *stun.Message) error {
	m.Add(a.typ, a.val)
	return nil
}

func TestSTUNUnknownAttributes(t *testing.T) {
	s := startSTUN(t, rendezvous.STUNConfig{Listen: []string{"127.0.0.1:0", "127.0.0.2:0"}})
	a := s.Addrs()[0]
	responsePort := rawAttr{stun.AttrResponsePort, []byte{0x12, 0x34, 0, 0}}
	padding := rawAttr{stun.AttrPadding, make([]byte, 64)}
	tests := []struct {
		name        string
		attrs       []stun.Setter
		wantUnknown []stun.AttrType // nil: success
	}{
		{"response-port", []stun.Setter{responsePort}, []stun.AttrType{stun.AttrResponsePort}},
		{"padding", []stun.Setter{padding}, []stun.AttrType{stun.AttrPadding}},
		{"both", []stun.Setter{responsePort, padding}, []stun.AttrType{stun.AttrResponsePort, stun.AttrPadding}},
		{"rfc 3489 response-address", []stun.Setter{rawAttr{stun.AttrType(0x0002), make([]byte, 8)}}, []stun.AttrType{stun.AttrType(0x0002)}},
		{"unknown optional", []stun.Setter{rawAttr{0x8050, []byte{1, 2, 3, 4}}}, nil},
		{"credentials ignored", []stun.Setter{stun.NewUsername("a:b"), stun.NewShortTermIntegrity("pass")}, nil},
	}
	c := listenUDP(t, "127.0.0.1")
	tc := dialTCP(t, "127.0.0.1", a)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := bindingRequest(t, tt.attrs...)
			udpResp, _ := udpExchange(t, c, a, req)
			tc.Write(req.Raw)
			for proto, resp := range map[string]*stun.Message{"udp": udpResp, "tcp": readTCPMessage(t, tc)} {
				if tt.wantUnknown == nil {
					if resp.Type != stun.BindingSuccess {
						t.Errorf("%s: %v code %d, want success", proto, resp.Type, errorCode(resp))
					}
					continue
				}
				if resp.Type != stun.BindingError || errorCode(resp) != stun.CodeUnknownAttribute {
					t.Errorf("%s: %v code %d, want error 420", proto, resp.Type, errorCode(resp))
					continue
				}
				var unknown stun.UnknownAttributes
				if err := unknown.GetFrom(resp); err != nil || len(unknown) != len(tt.wantUnknown) {
					t.Errorf("%s: unknown-attributes %v (%v), want %v", proto, unknown, err, tt.wantUnknown)
					continue
				}
				for i := range unknown {
					if unknown[i] != tt.wantUnknown[i] {
						t.Errorf("%s: unknown-attributes %v, want %v", proto, unknown, tt.wantUnknown)
					}
				}
			}
		})
	}
}

// rfc3489Exchange sends an RFC 3489 Binding request (no magic cookie: a
// 16-byte transaction ID) with the given attributes and returns the
// answer, decoded after checking its header, and where it came from.
func rfc3489Exchange(t *testing.T, c *net.UDPConn, dst netip.AddrPort, attrs []byte) (*stun.Message, netip.AddrPort) {
	t.Helper()
	req := make([]byte, 20, 20+len(attrs))
	binary.BigEndian.PutUint16(req[0:2], 0x0001)
	binary.BigEndian.PutUint16(req[2:4], uint16(len(attrs)))
	rand.Read(req[4:20])
	req[4] = 0x7f // never the magic cookie
	req = append(req, attrs...)
	if _, err := c.WriteToUDPAddrPort(req, dst); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(stunTestTimeout))
	buf := make([]byte, 1500)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no answer to an rfc 3489 request: %v", err)
	}
	raw := buf[:n]
	if string(raw[4:20]) != string(req[4:20]) {
		t.Fatalf("answer's 16-byte transaction id %x, want the request's %x", raw[4:20], req[4:20])
	}
	binary.BigEndian.PutUint32(raw[4:8], 0x2112A442) // let pion decode it
	m := new(stun.Message)
	if err := stun.Decode(raw, m); err != nil {
		t.Fatalf("decode answer: %v", err)
	}
	for _, typ := range []stun.AttrType{stun.AttrXORMappedAddress, stun.AttrFingerprint, stun.AttrOtherAddress, stun.AttrResponseOrigin} {
		if m.Contains(typ) {
			t.Errorf("answer to an rfc 3489 client has %v", typ)
		}
	}
	return m, netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
}

// TestSTUNRFC3489 checks the answer to clients without the magic cookie
// (README.md, "STUN"): as RFC 5389 section 12.2 suggests, with RFC 3489's
// SOURCE-ADDRESS and CHANGED-ADDRESS, and honouring CHANGE-REQUEST.
func TestSTUNRFC3489(t *testing.T) {
	s := startSTUN(t, rendezvous.STUNConfig{Listen: []string{"127.0.0.1:0", "127.0.0.2:0"}})
	a, b := s.Addrs()[0], s.Addrs()[1]
	c := listenUDP(t, "127.0.0.1")
	local := c.LocalAddr().(*net.UDPAddr).AddrPort()
	changeBoth := []byte{0x00, 0x03, 0x00, 0x04, 0, 0, 0, 0x06}

	tests := []struct {
		name     string
		attrs    []byte
		wantFrom netip.AddrPort
	}{
		{"plain", nil, a},
		{"no change", []byte{0x00, 0x03, 0x00, 0x04, 0, 0, 0, 0}, a},
		{"change ip and port", changeBoth, b},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, from := rfc3489Exchange(t, c, a, tt.attrs)
			if resp.Type != stun.BindingSuccess {
				t.Fatalf("got %v code %d, want binding success", resp.Type, errorCode(resp))
			}
			if m := mappedAddress(resp); m != local {
				t.Errorf("mapped-address %v, want %v", m, local)
			}
			if from != tt.wantFrom || addrAttr(resp, stun.AttrSourceAddress) != tt.wantFrom {
				t.Errorf("answered from %v, source-address %v, want %v", from, addrAttr(resp, stun.AttrSourceAddress), tt.wantFrom)
			}
			if ch := addrAttr(resp, stun.AttrChangedAddress); ch != b {
				t.Errorf("changed-address %v, want %v", ch, b)
			}
		})
	}
	t.Run("one ip", func(t *testing.T) {
		one := startSTUN(t, rendezvous.STUNConfig{Listen: []string{"127.0.0.1:0", "127.0.0.1:0"}})
		resp, _ := rfc3489Exchange(t, c, one.Addrs()[0], nil)
		if resp.Type != stun.BindingSuccess || addrAttr(resp, stun.AttrChangedAddress).IsValid() {
			t.Errorf("got %v changed-address %v, want success without changed-address", resp.Type, addrAttr(resp, stun.AttrChangedAddress))
		}
		resp, _ = rfc3489Exchange(t, c, one.Addrs()[0], changeBoth)
		if resp.Type != stun.BindingError || errorCode(resp) != stun.CodeUnknownAttribute {
			t.Errorf("change ip: got %v code %d, want error 420", resp.Type, errorCode(resp))
		}
	})
}

// TestSTUNClientStun runs Debian's stun-client (vovida's RFC 3489 client,
// `stun`) against a server with two IPs: with no NAT on loopback it must
// find the host open.
func TestSTUNClientStun(t *testing.T) {
	bin := requireTool(t, "stun", "stun-client")
	s := startSTUN(t, rendezvous.STUNConfig{Listen: []string{"127.0.0.1:0", "127.0.0.2:0"}})
	_, out := runTool(t, bin, s.Addrs()[0].String())
	t.Logf("%s:\n%s", bin, out)
	if !strings.Contains(out, "Primary: Open") {
		t.Errorf("stun did not report an open host:\n%s", out)
	}
}

// TestSTUNNatDiscovery runs coturn's turnutils_natdiscovery (RFC 5780
// mapping and filtering discovery) against a server with two IPs.
func TestSTUNNatDiscovery(t *testing.T) {
	bin := requireTool(t, "turnutils_natdiscovery", "coturn")
	s := startSTUN(t, rendezvous.STUNConfig{Listen: []string{"127.0.0.1:0", "127.0.0.2:0"}})
	a := s.Addrs()[0]
	_, out := runTool(t, bin, "-m", "-f", "-p", strconv.Itoa(int(a.Port())), a.Addr().String())
	t.Logf("%s:\n%s", bin, out)
	for _, want := range []string{"NAT with Endpoint Independent Mapping!", "NAT with Endpoint Independent Filtering!", "No ALG: Mapped == XOR-Mapped"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "Not received mapped address attribute") {
		t.Errorf("turnutils_natdiscovery missed MAPPED-ADDRESS")
	}
}
