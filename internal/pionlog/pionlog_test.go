package pionlog_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/reachd/reachd/internal/pionlog"
)

func TestLevelsAndScope(t *testing.T) {
	var out bytes.Buffer
	f := pionlog.New(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})))
	l := f.NewLogger("turnc")
	l.Debugf("hidden %d", 1)
	l.Tracef("hidden %d", 2)
	l.Infof("allocated %s", "127.0.0.1:5000")
	l.Error("lost")
	got := out.String()
	if strings.Contains(got, "hidden") {
		t.Errorf("below-level messages were logged:\n%s", got)
	}
	for _, want := range []string{`level=INFO msg="allocated 127.0.0.1:5000" scope=turnc`, `level=ERROR msg=lost scope=turnc`} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
}
