package node

import (
	"bytes"
	"testing"
)

// A subscriber that does not read is dropped once its queue is full, and
// told so; one that keeps up gets every event; the node never waits.
func TestEventsSlowSubscriberDropped(t *testing.T) {
	const queue = 4
	e := newEvents()
	_, _, fast := e.subscribe(0, queue)
	defer fast.Close()
	_, _, slow := e.subscribe(0, queue)
	defer slow.Close()

	for i := range 3 * queue {
		e.add(Event{Type: EventBytes})
		select {
		case r := <-fast.C():
			if r.Event.ID != uint64(i+1) {
				t.Fatalf("fast subscriber got event %d, want %d", r.Event.ID, i+1)
			}
		default:
			t.Fatalf("fast subscriber has no event %d", i+1)
		}
	}
	if fast.Dropped() {
		t.Error("the fast subscriber was dropped")
	}
	if !slow.Dropped() {
		t.Fatal("the slow subscriber was not dropped")
	}
	// It gets what was queued, in order, then the end.
	var got []uint64
	for r := range slow.C() {
		got = append(got, r.Event.ID)
	}
	if len(got) != queue || got[0] != 1 || got[queue-1] != queue {
		t.Errorf("slow subscriber got %v, want 1..%d", got, queue)
	}
}

// Every subscriber gets the same record, encoded once.
func TestEventsEncodedOnce(t *testing.T) {
	e := newEvents()
	_, _, a := e.subscribe(0, 0)
	defer a.Close()
	_, _, b := e.subscribe(0, 0)
	defer b.Close()
	e.add(Event{Type: EventPath, PathChange: &PathEvent{Peer: "p", Kind: "attached"}})
	ra, rb := <-a.C(), <-b.C()
	if ra != rb {
		t.Fatal("subscribers got different records")
	}
	ja, err := ra.JSON()
	if err != nil {
		t.Fatal(err)
	}
	jb, _ := rb.JSON()
	if &ja[0] != &jb[0] || !bytes.Contains(ja, []byte(`"kind":"attached"`)) {
		t.Errorf("JSON %s encoded twice or wrong", ja)
	}
}

// A backlog handed out stays as it was while the buffer moves on.
func TestEventsBacklogStable(t *testing.T) {
	e := newEvents()
	for range eventBuffer {
		e.add(Event{Type: EventBytes})
	}
	recs, lost, s := e.subscribe(0, 0)
	s.Close()
	if lost || len(recs) != eventBuffer || recs[0].Event.ID != 1 {
		t.Fatalf("backlog: %d records from %d, lost %v", len(recs), recs[0].Event.ID, lost)
	}
	for range 2 * eventBuffer {
		e.add(Event{Type: EventBytes})
	}
	for i, r := range recs {
		if r.Event.ID != uint64(i+1) {
			t.Fatalf("backlog[%d] changed to event %d", i, r.Event.ID)
		}
	}
	if _, lost, s := e.subscribe(1, 0); !lost {
		t.Error("resuming from an event no longer kept is not reported lost")
	} else {
		s.Close()
	}
}
