package natlab_test

import (
	"context"
	"strings"
	"testing"

	"github.com/reachd/reachd/internal/natlab"
)

// Each lab host is a machine of its own: programs run in it read a
// /etc/machine-id of its own.
func TestHostsHaveTheirOwnMachineID(t *testing.T) {
	lab := natlab.New(t)
	r := lab.AddRouter(natlab.Easy)
	ids := map[string]string{}
	for _, h := range []*natlab.Host{r.AddHost(), r.AddHost(), lab.AddRouter(natlab.Hard).AddHost()} {
		out, err := h.Command(context.Background(), "cat", "/etc/machine-id").Output()
		if err != nil {
			t.Fatalf("%s: %v", h.Name(), err)
		}
		id := strings.TrimSpace(string(out))
		if len(id) != 32 {
			t.Errorf("%s: machine id %q", h.Name(), id)
		}
		if other, dup := ids[id]; dup {
			t.Errorf("%s and %s share machine id %s", other, h.Name(), id)
		}
		ids[id] = h.Name()
	}
}

// Hosts can share a machine ID, as clones of one image do; the others keep
// their own.
func TestHostsShareMachineID(t *testing.T) {
	lab := natlab.New(t)
	a, b := lab.AddRouter(natlab.Easy).AddHost(), lab.AddRouter(natlab.Hard).AddHost()
	c := b.Router().AddHost()
	id, err := a.MachineID()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetMachineID(id); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		h    *natlab.Host
		same bool
	}{{b, true}, {c, false}} {
		out, err := tt.h.Command(context.Background(), "cat", "/etc/machine-id").Output()
		if err != nil {
			t.Fatalf("%s: %v", tt.h.Name(), err)
		}
		if got := strings.TrimSpace(string(out)); (got == id) != tt.same {
			t.Errorf("%s: machine id %s, shares %s = %v, want %v", tt.h.Name(), got, id, got == id, tt.same)
		}
	}
}
