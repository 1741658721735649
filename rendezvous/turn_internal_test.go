package rendezvous

import (
	"errors"
	"net"
	"testing"
	"time"
)

// A TCP connection to TURN that never sends a byte is closed after
// turnFirstByteTimeout; one that sent a request may then stay idle.
func TestTURNSilentConnectionClosed(t *testing.T) {
	defer func(d time.Duration) { turnFirstByteTimeout = d }(turnFirstByteTimeout)
	turnFirstByteTimeout = 200 * time.Millisecond

	s, err := New(Config{MQTTListen: "127.0.0.1:0", TURNListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	tests := []struct {
		name       string
		send       []byte
		wantClosed bool
	}{
		{name: "silent", wantClosed: true},
		// A STUN Binding request header and body (RFC 5389), nothing else.
		{name: "spoke", send: []byte{
			0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42,
			1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", s.TURNAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tt.send != nil {
				if _, err := c.Write(tt.send); err != nil {
					t.Fatal(err)
				}
				// The Binding response proves the server read the request.
				if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Read(make([]byte, 512)); err != nil {
					t.Fatalf("no binding response: %v", err)
				}
			}
			// Closed by the server well within this bound, or kept open
			// past several timeouts.
			if err := c.SetReadDeadline(time.Now().Add(5 * turnFirstByteTimeout)); err != nil {
				t.Fatal(err)
			}
			_, err = c.Read(make([]byte, 1))
			var ne net.Error
			timedOut := errors.As(err, &ne) && ne.Timeout()
			if closed := !timedOut; closed != tt.wantClosed {
				t.Fatalf("read: %v; closed by the server = %v, want %v", err, closed, tt.wantClosed)
			}
		})
	}
}
