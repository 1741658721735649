package rendezvous_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// lockedBuffer is a log sink that goroutines of the server may write to
// while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// mochi's and pion's logs arrive in the configured slog logger, tagged with
// their component.
func TestLogsRouted(t *testing.T) {
	var out lockedBuffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := rendezvoustest.Start(t, rendezvoustest.WithLogger(log))
	checkBinding(t, "udp", s.TURNAddr()) // pion logs each request at debug level
	connectMQTT(t, rendezvoustest.MQTTURL(s), "log")

	logs := out.String()
	for _, want := range []string{
		`msg="mochi mqtt starting" component=mqtt`,                          // mochi's
		`msg="Received BindingRequest from 127.0.0.1:`,                      // pion's,
		`component=turn scope=turn`,                                         // tagged
		`msg="turn listening" component=turn addr=` + s.TURNAddr().String(), // ours
		`msg="stun listening" component=stun`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}
