package signaling

import (
	"encoding/json"
	"fmt"
	"sync"
)

// The message set is closed and typed. Each message type is a Type value,
// made once by NewType in the package that handles it, next to its body's
// Go type (strategy: connect_back, punch, relay and their replies; node:
// address and locate; network: net_announce, net_leave; names: the name
// service's; this package: echo and error). A Client sends, requests, replies to and handles only Types, so
// nothing sends or waits for a type no package declared, and a message is
// read by one Decode that checks its type before its body.

// Kind is a message type as the Client takes it. Only Type values satisfy
// it.
type Kind interface {
	// Name is the type's name on the wire (the envelope's type).
	Name() string
	kind()
}

// Type is a message type whose body is a T.
type Type[T any] struct{ name string }

var (
	typesMu sync.Mutex
	types   = map[string]Kind{}
)

// NewType declares the message type name with body T. Each name is
// declared once, at package initialisation: a second declaration panics.
func NewType[T any](name string) Type[T] {
	typesMu.Lock()
	defer typesMu.Unlock()
	if _, ok := types[name]; ok || name == "" {
		panic(fmt.Sprintf("signaling: message type %q declared twice or empty", name))
	}
	t := Type[T]{name: name}
	types[name] = t
	return t
}

// KindOf returns the declared message type name, for code that meets a
// type by its name (tests, tools); false when no package declared it.
func KindOf(name string) (Kind, bool) {
	typesMu.Lock()
	defer typesMu.Unlock()
	k, ok := types[name]
	return k, ok
}

func (t Type[T]) Name() string   { return t.name }
func (t Type[T]) String() string { return t.name }
func (Type[T]) kind()            {}

// Is reports whether m is of type t.
func (t Type[T]) Is(m *Message) bool { return m.Type == t.name }

// Decode checks that m is of type t and reads its body.
func (t Type[T]) Decode(m *Message) (T, error) {
	var body T
	if m.Type != t.name {
		return body, fmt.Errorf("%w: got %q, want %q", ErrWrongType, m.Type, t.name)
	}
	if err := json.Unmarshal(m.Body, &body); err != nil {
		return body, fmt.Errorf("signaling: decode %s body: %w", m.Type, err)
	}
	return body, nil
}

// Messages of this package.
var (
	// Echo asks for an EchoReply with the same body.
	Echo = NewType[json.RawMessage]("echo")
	// EchoReply answers an Echo.
	EchoReply = NewType[json.RawMessage]("echo_reply")
	// Error refuses a request, saying why.
	Error = NewType[ErrorBody]("error")
)
