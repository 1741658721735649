package network

import (
	"strings"
	"testing"

	"github.com/reachd/reachd/signaling"
)

func TestDerive(t *testing.T) {
	a, err := Derive("lab", "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if err := signaling.ValidGroupTopic(a.Topic); err != nil {
		t.Fatalf("topic %q: %v", a.Topic, err)
	}
	if got := len(strings.TrimPrefix(a.Topic, signaling.GroupTopicPrefix)); got != 32 {
		t.Errorf("topic suffix has %d hex digits, want 32", got)
	}
	again, _ := Derive("lab", "correct horse battery staple")
	if again != a {
		t.Error("derivation is not deterministic")
	}
	for _, tt := range []struct{ name, secret string }{
		{"lab", "correct horse battery stapl3"},  // other secret
		{"lab2", "correct horse battery staple"}, // other name
	} {
		b, _ := Derive(tt.name, tt.secret)
		if b.Topic == a.Topic || b.Seal == a.Seal || b.Link == a.Link {
			t.Errorf("%s/%s shares a key with lab", tt.name, tt.secret)
		}
	}
	if a.Seal == a.Link {
		t.Error("seal and link keys are equal")
	}
	// The topic, which brokers see, is not the name.
	if strings.Contains(a.Topic, "lab") {
		t.Errorf("topic %q shows the name", a.Topic)
	}
}

func TestProof(t *testing.T) {
	k, _ := Derive("lab", "correct horse battery staple")
	other, _ := Derive("lab", "another secret of some length")
	const x, y = "aaaa", "bbbb"
	if k.proof(x, y) == k.proof(y, x) {
		t.Error("proof does not depend on the direction")
	}
	if k.proof(x, y) == other.proof(x, y) {
		t.Error("proof does not depend on the secret")
	}
}
