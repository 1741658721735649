package signaling_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/reachd/reachd/signaling"
)

// The message types the tests of this package send and handle.
type portBody struct {
	Port int `json:"port"`
}

var (
	msgPort      = signaling.NewType[portBody]("test_port")
	msgPortReply = signaling.NewType[portBody]("test_port_reply")
	msgUnhandled = signaling.NewType[any]("test_unhandled")
	msgProbe     = signaling.NewType[json.RawMessage]("probe")
	msgFlood     = signaling.NewType[json.RawMessage]("flood")
	msgHello     = signaling.NewType[string]("hello")
)

// TestTypeDecode: a Type reads only messages of its own type, and a body
// that does not fit its Go type is an error that names the type.
func TestTypeDecode(t *testing.T) {
	m := &signaling.Message{Type: "test_port", Body: []byte(`{"port":7}`)}
	if b, err := msgPort.Decode(m); err != nil || b.Port != 7 {
		t.Fatalf("Decode = %+v, %v", b, err)
	}
	if _, err := msgPortReply.Decode(m); !errors.Is(err, signaling.ErrWrongType) {
		t.Fatalf("a test_port read as test_port_reply: %v, want ErrWrongType", err)
	}
	m.Body = []byte(`{"port":"seven"}`)
	if _, err := msgPort.Decode(m); err == nil {
		t.Fatal("a body of the wrong shape decoded")
	}
	if k, ok := signaling.KindOf("echo"); !ok || k.Name() != "echo" {
		t.Fatalf("KindOf(echo) = %v, %v", k, ok)
	}
	if _, ok := signaling.KindOf("no_such_type"); ok {
		t.Fatal("KindOf found a type nobody declared")
	}
}

// TestTypeDeclaredOnce: a second declaration of a name is a programming
// error, caught at start-up.
func TestTypeDeclaredOnce(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a second declaration of test_port did not panic")
		}
	}()
	signaling.NewType[portBody]("test_port")
}
