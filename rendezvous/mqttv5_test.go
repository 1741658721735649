package rendezvous_test

import (
	"bufio"
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/reachd/reachd/rendezvous"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/signaling"
)

// v5Client is a bare MQTT 5 client over TCP, with mochi's packet codec, to
// see exactly what the broker sends.
type v5Client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

// dialV5 connects and sends CONNECT signed in as a new node; it returns the
// client and the broker's CONNACK.
func dialV5(t *testing.T, s *rendezvous.Server) (*v5Client, packets.Packet) {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.MQTTAddr(), waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitLimit))
	nid := newIdentity(t)
	cl := &v5Client{t: t, c: c, r: bufio.NewReader(c)}
	cl.write(packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: 5,
		Connect: packets.ConnectParams{
			ProtocolName:     []byte("MQTT"),
			Clean:            true,
			Keepalive:        30,
			ClientIdentifier: t.Name(),
			UsernameFlag:     true,
			Username:         []byte(nid.NodeID()),
			PasswordFlag:     true,
			Password:         []byte(password(t, nid, s, time.Now())),
		},
	})
	ack := cl.read()
	if ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		t.Fatalf("CONNACK: type %d, reason %#x", ack.FixedHeader.Type, ack.ReasonCode)
	}
	return cl, ack
}

func (cl *v5Client) write(pk packets.Packet) {
	cl.t.Helper()
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	}
	if err != nil {
		cl.t.Fatal(err)
	}
	if _, err := cl.c.Write(buf.Bytes()); err != nil {
		cl.t.Fatal(err)
	}
}

// read reads one packet.
func (cl *v5Client) read() packets.Packet {
	cl.t.Helper()
	b, err := cl.r.ReadByte()
	if err != nil {
		cl.t.Fatalf("read: %v", err)
	}
	pk := packets.Packet{ProtocolVersion: 5}
	if err := pk.FixedHeader.Decode(b); err != nil {
		cl.t.Fatal(err)
	}
	n, _, err := packets.DecodeLength(cl.r)
	if err != nil {
		cl.t.Fatalf("read: %v", err)
	}
	pk.FixedHeader.Remaining = n
	body := make([]byte, n)
	if _, err := readFull(cl.r, body); err != nil {
		cl.t.Fatalf("read: %v", err)
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	}
	if err != nil {
		cl.t.Fatal(err)
	}
	return pk
}

func readFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// The CONNACK tells an MQTT 5 client the broker's limits.
func TestMQTTv5ConnackAnnouncesLimits(t *testing.T) {
	const maxPacket, maxInflight = 4096, 20
	s := rendezvoustest.Start(t, func(c *rendezvous.Config) { c.MQTTMaxPacket, c.MQTTMaxInflight = maxPacket, maxInflight })
	_, ack := dialV5(t, s)
	p := ack.Properties
	if p.MaximumPacketSize != maxPacket {
		t.Errorf("Maximum Packet Size = %d, want %d", p.MaximumPacketSize, maxPacket)
	}
	if !p.RetainAvailableFlag || p.RetainAvailable != 0 {
		t.Errorf("Retain Available = %d (present %v), want 0", p.RetainAvailable, p.RetainAvailableFlag)
	}
	if p.ReceiveMaximum != maxInflight {
		t.Errorf("Receive Maximum = %d, want %d", p.ReceiveMaximum, maxInflight)
	}
	if !p.WildcardSubAvailableFlag || p.WildcardSubAvailable != 0 {
		t.Errorf("Wildcard Subscription Available = %d (present %v), want 0", p.WildcardSubAvailable, p.WildcardSubAvailableFlag)
	}
}

// What exceeds the limits is refused with its reason code, in a DISCONNECT
// the client can read, not a reset.
func TestMQTTv5RefusalsCarryReasonCode(t *testing.T) {
	const maxPacket = 1024
	s := rendezvoustest.Start(t, func(c *rendezvous.Config) { c.MQTTMaxPacket = maxPacket })
	topic := signaling.GroupTopicPrefix + "limits"
	tests := []struct {
		name string
		pk   packets.Packet
		want packets.Code
	}{
		{"oversized packet", packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
			TopicName:   topic, PacketID: 1, Payload: make([]byte, 4*maxPacket),
		}, packets.ErrPacketTooLarge},
		{"retain", packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true},
			TopicName:   topic, PacketID: 1, Payload: []byte("kept?"),
		}, packets.ErrRetainNotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl, _ := dialV5(t, s)
			tt.pk.ProtocolVersion = 5
			// The whole packet is sent before anything is read, so the
			// broker closes with unread data pending.
			cl.write(tt.pk)
			pk := cl.read()
			if pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != tt.want.Code {
				t.Fatalf("got packet type %d reason %#x, want DISCONNECT %#x", pk.FixedHeader.Type, pk.ReasonCode, tt.want.Code)
			}
			if _, err := cl.r.ReadByte(); err == nil {
				t.Error("the connection stayed open after DISCONNECT")
			}
		})
	}
}
