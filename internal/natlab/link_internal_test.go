package natlab

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestLinkValidate(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		link    Link
		wantErr string // a substring of the error; "" for none
	}{
		{"zero", Link{}, ""},
		{"delay_jitter_loss", Link{Delay: 50 * ms, Jitter: 10 * ms, Loss: 0.01}, ""},
		{"jitter_equals_delay", Link{Delay: 5 * ms, Jitter: 5 * ms, Reorder: true}, ""},
		{"total_loss", Link{Loss: 1}, ""},
		{"negative_delay", Link{Delay: -ms}, "delay"},
		{"negative_jitter", Link{Delay: ms, Jitter: -ms}, "jitter"},
		{"jitter_over_delay", Link{Delay: ms, Jitter: 2 * ms}, "exceeds the delay"},
		{"negative_loss", Link{Loss: -0.1}, "loss"},
		{"loss_over_one", Link{Loss: 1.5}, "loss"},
		{"loss_nan", Link{Loss: math.NaN()}, "loss"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.link.validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("validate: %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("validate: %v, want an error about %q", err, tt.wantErr)
			}
		})
	}
}

func TestLinkString(t *testing.T) {
	tests := []struct {
		link Link
		want string
	}{
		{Link{}, "delay 0s"},
		{Link{Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 0.01}, "delay 50ms ±10ms, loss 1%"},
		{Link{Delay: time.Millisecond, Jitter: time.Millisecond, Reorder: true}, "delay 1ms ±1ms reordering"},
		{Link{Loss: 1e-9}, "delay 0s, loss 1e-07%"},
	}
	for _, tt := range tests {
		if got := tt.link.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.link, got, tt.want)
		}
	}
}

// TestSetLinkWithoutLink checks that a router built without a Link refuses
// SetLink, rather than silently ignoring it.
func TestSetLinkWithoutLink(t *testing.T) {
	r := &Router{}
	if err := r.setLink(Link{Delay: time.Millisecond}); !errors.Is(err, errNoLink) {
		t.Fatalf("setLink on a router without a link: %v, want %v", err, errNoLink)
	}
	if s := r.LinkStats(); s != (LinkStats{}) {
		t.Errorf("LinkStats of a router without a link: %+v, want zero", s)
	}
}

func TestLinkOption(t *testing.T) {
	var c routerConfig
	for _, o := range []RouterOption{RejectWithReset(), Link{Delay: time.Second}, Link{Loss: 0.5}} {
		o.applyRouter(&c)
	}
	if !c.reset || c.link == nil || *c.link != (Link{Loss: 0.5}) {
		t.Errorf("config %+v (link %+v), want reset and the last link", c, c.link)
	}
}
