package server

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"testing"
	"time"

	"github.com/reachd/reachd/tap"
)

// TestTAPRoutes backs one end of a connection with a TAP device through
// the API: the device appears with the answered name, MAC and MTU; the
// kernel's frames from it reach the peer length-prefixed; the data routes
// answer 409 while it lasts; bad input is 400 and a second device 409;
// DELETE removes the device and closes the connection.
func TestTAPRoutes(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("TAP devices need root")
		}
		t.Skip("TAP devices need root")
	}
	p := startPair(t)
	idA, idB := connectPair(t, p)
	base := p.apiA + "/v1/connections/" + idA

	for _, bad := range []string{`{}`, `{"ip":"10.99.0.1"}`, `{"ip":"10.99.0.1/24","mtu":10}`, `{"ip":"10.99.0.1/24","name":"this-name-is-far-too-long"}`} {
		if status, body, _ := call(t, "POST", base+"/tap", bad); status != 400 {
			t.Errorf("POST tap %s: %d %v, want 400", bad, status, body)
		}
	}
	status, info, _ := call(t, "POST", base+"/tap", `{"ip":"10.99.7.1/24","name":"reachtest0"}`)
	if status != 201 || info["name"] != "reachtest0" || info["mtu"] != 1500.0 {
		t.Fatalf("POST tap: %d %v", status, info)
	}
	ifc, err := net.InterfaceByName("reachtest0")
	if err != nil || ifc.HardwareAddr.String() != info["mac"] || ifc.MTU != 1500 || ifc.Flags&net.FlagUp == 0 {
		t.Fatalf("device %+v (%v), want up with MAC %v and MTU 1500", ifc, err, info["mac"])
	}
	if status, body, _ := call(t, "POST", base+"/tap", `{"ip":"10.99.8.1/24"}`); status != 409 {
		t.Errorf("second TAP: %d %v, want 409", status, body)
	}
	if status, _ := sendData(t, p.apiA, idA, "x"); status != 409 {
		t.Errorf("send on a tapped connection: %d, want 409", status)
	}
	if status, _ := raw(t, "GET", base+"/recv?timeout_ms=0", nil); status != 409 {
		t.Errorf("recv on a tapped connection: %d, want 409", status)
	}
	_, conn, _ := call(t, "GET", base, "")
	if tapInfo, _ := conn["tap"].(map[string]any); tapInfo["name"] != "reachtest0" {
		t.Errorf("the connection shows tap %v", conn["tap"])
	}

	// The kernel resolves a neighbour on the device's LAN: its ARP request
	// is a frame from the device's MAC, which B reads off the connection.
	c, err := net.Dial("udp", "10.99.7.9:9")
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("x"))
	c.Close()
	bConn, ok := p.b.Conn(idB)
	if !ok {
		t.Fatal("B lost its connection")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	framer := tap.NewFramer(readerFunc(func(b []byte) (int, error) { return bConn.ReadInto(ctx, b) }))
	frame := make([]byte, 2048)
	for {
		n, err := framer.ReadFrame(frame)
		if err != nil {
			t.Fatalf("B reading frames: %v", err)
		}
		if n >= 42 && binary.BigEndian.Uint16(frame[12:14]) == 0x0806 {
			if src := net.HardwareAddr(frame[6:12]).String(); src != info["mac"] {
				t.Errorf("ARP from %s, want the device's %v", src, info["mac"])
			}
			if target := net.IP(frame[38:42]).String(); target != "10.99.7.9" {
				t.Errorf("ARP for %s, want 10.99.7.9", target)
			}
			break
		}
	}

	status, closed, _ := call(t, "DELETE", base+"/tap", "")
	if status != 200 || closed["state"] != "closed" {
		t.Errorf("DELETE tap: %d %v, want 200 and the connection closed", status, closed)
	}
	if _, err := net.InterfaceByName("reachtest0"); err == nil {
		t.Error("the device is still there after DELETE")
	}
	if status, body, _ := call(t, "DELETE", base+"/tap", ""); status != 404 {
		t.Errorf("DELETE tap again: %d %v, want 404", status, body)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error)  { return f(p) }
func (f readerFunc) Write(p []byte) (int, error) { return len(p), nil }
