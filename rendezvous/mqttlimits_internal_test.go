package rendezvous

import (
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// An MQTT 5 client may ask in DISCONNECT for a session expiry longer than
// the one it was granted; mochi would keep its session that long.
func TestLimitHookCapsDisconnectExpiry(t *testing.T) {
	h := &limitHook{limits: mqttLimits{sessionExpiry: time.Minute}}
	tests := []struct {
		name      string
		typ       byte
		flag      bool
		ask, want uint32
	}{
		{"disconnect asking for ever", packets.Disconnect, true, 1<<32 - 1, 60},
		{"disconnect within the cap", packets.Disconnect, true, 30, 30},
		{"disconnect without expiry", packets.Disconnect, false, 0, 0},
		{"not a disconnect", packets.Publish, true, 1 << 20, 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: tt.typ}}
			pk.Properties.SessionExpiryIntervalFlag = tt.flag
			pk.Properties.SessionExpiryInterval = tt.ask
			out, err := h.OnPacketRead(nil, pk)
			if err != nil || out.Properties.SessionExpiryInterval != tt.want {
				t.Fatalf("OnPacketRead: expiry %d, %v; want %d", out.Properties.SessionExpiryInterval, err, tt.want)
			}
		})
	}
}
