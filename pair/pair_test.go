package pair

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/signaling"
)

// side is one node of a pairing test: a real signaling client on the
// embedded broker, a Manager, and what it saved and reported.
type side struct {
	id     string
	card   Card
	tap    *tapSignal
	m      *Manager
	events chan Event

	mu    sync.Mutex
	saved []Result
}

// tapSignal is the signaling client with every message the manager's
// handlers receive recorded, so a test can deliver them again.
type tapSignal struct {
	*signaling.Client
	mu       sync.Mutex
	handlers map[string]signaling.Handler // by type; "group" for the offer's topic
	got      []*signaling.Message
	replies  map[string]int // by type: pair_reply, pair_done, error
}

func (t *tapSignal) record(h signaling.Handler, key string) signaling.Handler {
	t.mu.Lock()
	t.handlers[key] = h
	t.mu.Unlock()
	return func(ctx context.Context, m *signaling.Message) {
		t.mu.Lock()
		t.got = append(t.got, m)
		t.mu.Unlock()
		h(ctx, m)
	}
}

func (t *tapSignal) JoinGroup(topic string, key [32]byte, h signaling.Handler) (*signaling.Group, error) {
	return t.Client.JoinGroup(topic, key, t.record(h, "group"))
}

func (t *tapSignal) Handle(k signaling.Kind, h signaling.Handler) {
	t.Client.Handle(k, t.record(h, k.Name()))
}

func (t *tapSignal) Reply(ctx context.Context, req *signaling.Message, k signaling.Kind, body any) error {
	t.mu.Lock()
	t.replies[k.Name()]++
	t.mu.Unlock()
	return t.Client.Reply(ctx, req, k, body)
}

// redeliver hands every recorded message to its handler again.
func (t *tapSignal) redeliver(ctx context.Context) {
	t.mu.Lock()
	got := slices.Clone(t.got)
	t.mu.Unlock()
	for _, m := range got {
		key := m.Type
		if msgHello.Is(m) {
			key = "group"
		}
		t.mu.Lock()
		h := t.handlers[key]
		t.mu.Unlock()
		h(ctx, m)
	}
}

func newSide(t *testing.T, broker string, edit func(*Config)) *side {
	t.Helper()
	ident, err := identity.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := signaling.New(signaling.Config{Identity: ident, Brokers: []string{broker},
		ConnectRetryInterval: 100 * time.Millisecond, MaxReconnectInterval: 200 * time.Millisecond, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &side{id: ident.NodeID(), events: make(chan Event, 16)}
	a := address.Address{SignalOffsets: []int{0}, NodeID: s.id, MachineID: "0123456789abcdef"}
	s.card = Card{Address: a.String(), Host: "host-" + s.id[:4]}
	s.tap = &tapSignal{Client: c, handlers: map[string]signaling.Handler{}, replies: map[string]int{}}
	cfg := Config{Self: s.id, Signal: s.tap, Card: func() Card { return s.card },
		Paired: func(r Result) (string, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.saved = append(s.saved, r)
			if r.Name == "" {
				return r.Card.Host, nil
			}
			return r.Name, nil
		},
		OnEvent:     func(ev Event) { s.events <- ev },
		StepTimeout: 3 * time.Second, Resend: 200 * time.Millisecond}
	if edit != nil {
		edit(&cfg)
	}
	s.m, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.m.Close)
	return s
}

func (s *side) savedResults() []Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.saved)
}

// next waits for s's next event.
func (s *side) next(t *testing.T) Event {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no pairing event")
		return Event{}
	}
}

// final waits for s's first event that is not "started".
func (s *side) final(t *testing.T) Event {
	t.Helper()
	for {
		if ev := s.next(t); ev.State != StateStarted {
			return ev
		}
	}
}

func pairOf(t *testing.T, edit func(*Config)) (offerer, joiner *side) {
	t.Helper()
	url := rendezvoustest.MQTTURL(rendezvoustest.Start(t))
	return newSide(t, url, edit), newSide(t, url, edit)
}

// wrongWords is code with its last word changed.
func wrongWords(c string) string {
	parts := strings.Split(c, "-")
	if parts[3] == words[0] {
		parts[3] = words[1]
	} else {
		parts[3] = words[0]
	}
	return strings.Join(parts, "-")
}

func TestPairRightCode(t *testing.T) {
	o, j := pairOf(t, nil)
	ctx := context.Background()
	info, err := o.m.Offer(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := j.m.Join(ctx, strings.ToUpper(strings.ReplaceAll(info.Code, "-", " ")), "office")
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	if res.PeerID != o.id || res.Card != o.card || res.Name != "office" {
		t.Errorf("joiner got %+v, want the offerer %s with card %+v under office", res, o.id, o.card)
	}
	ev := o.final(t)
	if ev.State != StateCompleted || ev.Peer != j.id || ev.Name != j.card.Host {
		t.Errorf("offerer event %+v, want completed with %s saved as %s", ev, j.id, j.card.Host)
	}
	saved := o.savedResults()
	if len(saved) != 1 || saved[0].PeerID != j.id || saved[0].Card != j.card {
		t.Errorf("offerer saved %+v, want the joiner's card %+v once", saved, j.card)
	}
	if ev := j.final(t); ev.State != StateCompleted || ev.Peer != o.id {
		t.Errorf("joiner event %+v, want completed with %s", ev, o.id)
	}
}

// TestPairWrongCodeEndsOffer: a wrong code fails on both sides and uses the
// offer, so the right code fails after it.
func TestPairWrongCodeEndsOffer(t *testing.T) {
	o, j := pairOf(t, nil)
	ctx := context.Background()
	info, err := o.m.Offer(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.m.Join(ctx, wrongWords(info.Code), "x"); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("Join with a wrong code = %v, want ErrWrongCode", err)
	}
	if ev := o.final(t); ev.State != StateFailed || ev.Peer != j.id || ev.Reason != ErrWrongCode.Error() {
		t.Errorf("offerer event %+v, want failed: %v", ev, ErrWrongCode)
	}
	if _, err := j.m.Join(ctx, info.Code, "x"); !errors.Is(err, ErrCodeUsed) {
		t.Fatalf("Join with the right code after a wrong one = %v, want ErrCodeUsed", err)
	}
	if s := append(o.savedResults(), j.savedResults()...); len(s) != 0 {
		t.Errorf("saved %+v after a wrong code, want nothing", s)
	}
}

// TestPairOneUse: a code that paired once does not pair again.
func TestPairOneUse(t *testing.T) {
	o, j := pairOf(t, nil)
	ctx := context.Background()
	info, err := o.m.Offer(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.m.Join(ctx, info.Code, "o"); err != nil {
		t.Fatal(err)
	}
	if _, err := j.m.Join(ctx, info.Code, "o2"); !errors.Is(err, ErrCodeUsed) {
		t.Fatalf("second Join = %v, want ErrCodeUsed", err)
	}
	if n := len(o.savedResults()); n != 1 {
		t.Errorf("offerer saved %d peers, want 1", n)
	}
}

// TestPairExpiry: an offer nobody used ends at its TTL with an event, and
// its code finds nobody afterwards.
func TestPairExpiry(t *testing.T) {
	o, j := pairOf(t, func(c *Config) { c.TTL = 500 * time.Millisecond; c.StepTimeout = time.Second })
	ctx := context.Background()
	info, err := o.m.Offer(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if ev := o.next(t); ev.State != StateExpired || ev.Role != RoleOffer {
		t.Fatalf("event %+v, want the offer expired", ev)
	}
	if _, err := j.m.Join(ctx, info.Code, "x"); !errors.Is(err, ErrNoOffer) {
		t.Fatalf("Join after expiry = %v, want ErrNoOffer", err)
	}
}

// TestPairReplay: every message each side's handlers received, delivered
// again after the pairing, changes nothing: no second save, no event, no
// second pair_done (a hello to a used offer gets "used", as any would).
func TestPairReplay(t *testing.T) {
	o, j := pairOf(t, nil)
	ctx := context.Background()
	info, err := o.m.Offer(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.m.Join(ctx, info.Code, "o"); err != nil {
		t.Fatal(err)
	}
	if ev := o.final(t); ev.State != StateCompleted {
		t.Fatalf("offerer event %+v, want completed", ev)
	}
	j.final(t)
	o.tap.mu.Lock()
	got := len(o.tap.got)
	o.tap.mu.Unlock()
	if got < 2 {
		t.Fatalf("offerer recorded %d messages, want the hello and the confirm", got)
	}
	o.tap.redeliver(ctx)
	j.tap.redeliver(ctx)
	o.m.Close() // waits for its sends: the counts are final
	j.m.Close()
	if n := len(o.savedResults()); n != 1 {
		t.Errorf("offerer saved %d times, want 1", n)
	}
	if n := len(j.savedResults()); n != 1 {
		t.Errorf("joiner saved %d times, want 1", n)
	}
	o.tap.mu.Lock()
	defer o.tap.mu.Unlock()
	if n := o.tap.replies[msgDone.Name()]; n != 1 {
		t.Errorf("offerer sent pair_done %d times, want 1", n)
	}
	if n := o.tap.replies[signaling.Error.Name()]; n != 0 {
		t.Errorf("offerer sent %d errors, want none", n)
	}
	for _, s := range []*side{o, j} {
		select {
		case ev := <-s.events:
			t.Errorf("event %+v after the replay, want none", ev)
		default:
		}
	}
}

func TestCode(t *testing.T) {
	if !slices.IsSorted(words[:]) || len(slices.Compact(slices.Clone(words[:]))) != 256 {
		t.Fatal("the word list must be 256 sorted unique words")
	}
	c, err := NewCode(strings.NewReader("\x12\x34\x00\x01\xff"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "4661-" + words[0] + "-" + words[1] + "-" + words[255]; c.String() != want {
		t.Errorf("code %q, want %q", c, want)
	}
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"7-amber-falcon-river", "7-amber-falcon-river", true},
		{" 7 Amber FALCON river ", "7-amber-falcon-river", true},
		{"0-amber-falcon-river", "", false},
		{"10000-amber-falcon-river", "", false},
		{"7-amber-falcon", "", false},
		{"7-amber-falcon-rivers", "", false},
		{"x-amber-falcon-river", "", false},
	} {
		got, err := ParseCode(tc.in)
		if tc.ok != (err == nil) || (tc.ok && got.String() != tc.want) {
			t.Errorf("ParseCode(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if !tc.ok && !errors.Is(err, ErrCodeSyntax) {
			t.Errorf("ParseCode(%q) error %v, want ErrCodeSyntax", tc.in, err)
		}
	}
}

// TestPairMalformedHelloIsNoGuess: a hello whose share is not a valid
// group element (here the neutral element, which CPace refuses) or has the
// wrong size does not use the offer: the right code still pairs.
func TestPairMalformedHelloIsNoGuess(t *testing.T) {
	o, j := pairOf(t, nil)
	ctx := context.Background()
	info, err := o.m.Offer(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	o.tap.mu.Lock()
	h := o.tap.handlers["group"]
	o.tap.mu.Unlock()
	for _, body := range []string{
		`{"sid":"AAAAAAAAAAAAAAAAAAAAAA==","share":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`,
		`{"sid":"AAAAAAAAAAAAAAAAAAAAAA==","share":"AAAA"}`,
		`{"sid":"AA==","share":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`,
		`not json`,
	} {
		h(ctx, &signaling.Message{Type: msgHello.Name(), ID: "x", From: j.id, Body: []byte(body)})
	}
	if _, err := j.m.Join(ctx, info.Code, "o"); err != nil {
		t.Fatalf("Join after malformed hellos: %v", err)
	}
	if ev := o.final(t); ev.State != StateCompleted {
		t.Errorf("offerer event %+v, want completed", ev)
	}
}
