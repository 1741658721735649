package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/openapi/openapitest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	id, typ string
	data    map[string]any
	raw     []byte // data as sent
}

// readEvents reads server-sent events from resp into a channel.
func readEvents(t *testing.T, resp *http.Response) <-chan sseEvent {
	ch := make(chan sseEvent, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.typ != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.typ = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.raw = []byte(line[6:])
				json.Unmarshal(ev.raw, &ev.data)
			}
		}
	}()
	return ch
}

func openEvents(t *testing.T, url, lastID string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := openapitest.Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp, readEvents(t, resp)
}

// next waits for the next event of type typ matching ok. Each event's data
// is checked against the OpenAPI document's schemas.
func next(t *testing.T, ch <-chan sseEvent, typ string, ok func(sseEvent) bool) sseEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, open := <-ch:
			if !open {
				t.Fatalf("event stream ended waiting for %s", typ)
			}
			schema := "Event"
			if ev.typ == "reset" {
				schema = "ResetEvent"
			} else if ev.typ != ev.data["type"] {
				t.Errorf("event %s has data of type %v", ev.typ, ev.data["type"])
			}
			openapitest.CheckSchema(t, schema, ev.raw)
			if ev.typ == typ && (ok == nil || ok(ev)) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event", typ)
		}
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func TestEvents(t *testing.T) {
	p := startPair(t)
	_, evs := openEvents(t, p.apiA+"/v1/events", "")

	status, conn, _ := call(t, "POST", p.apiA+"/v1/connections", `{"address":"`+p.b.Address()+`","strategies":["direct"]}`)
	if status != 201 {
		t.Fatalf("connect: %d %v", status, conn)
	}
	id := conn["id"].(string)
	trying := next(t, evs, "attempt", nil)
	if a := trying.data["attempt"].(map[string]any); a["name"] != "direct" || a["outcome"] != "trying" || a["peer"] != p.b.ID() {
		t.Errorf("first attempt event %v", a)
	}
	next(t, evs, "attempt", func(e sseEvent) bool { return e.data["attempt"].(map[string]any)["outcome"] == "ok" })
	opened := next(t, evs, "connection", func(e sseEvent) bool { return e.data["connection"].(map[string]any)["id"] == id })

	// Bytes are reported (at most once a second) while they flow.
	sendData(t, p.apiA, id, "some bytes")
	next(t, evs, "bytes", func(e sseEvent) bool {
		for _, c := range e.data["connections"].([]any) {
			if c := c.(map[string]any); c["id"] == id && c["bytes_sent"] == float64(10) {
				return true
			}
		}
		return false
	})

	// Resume after the opening event: what came since is replayed.
	call(t, "DELETE", p.apiA+"/v1/connections/"+id, "")
	_, resumed := openEvents(t, p.apiA+"/v1/events", opened.id)
	closed := next(t, resumed, "connection", func(e sseEvent) bool {
		return e.data["connection"].(map[string]any)["state"] == "closed"
	})
	if c, o := atoi(closed.id), atoi(opened.id); c <= o {
		t.Errorf("resumed event %d is not after %d", c, o)
	}

	// A bad Last-Event-ID is a problem, not a stream.
	req, _ := http.NewRequest("GET", p.apiA+"/v1/events", nil)
	req.Header.Set("Last-Event-ID", "yesterday")
	resp, err := openapitest.Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("bad Last-Event-ID: %d, want 400", resp.StatusCode)
	}
}

// lossyNode is a real node whose event buffer reports, once, that events
// were dropped.
type lossyNode struct {
	*node.Node
	reported atomic.Bool
}

func (n *lossyNode) Events(after uint64) ([]node.Event, bool, <-chan struct{}) {
	evs, _, next := n.Node.Events(after)
	return evs, !n.reported.Swap(true), next
}

func TestEventsReset(t *testing.T) {
	rv := rendezvoustest.Start(t)
	n := &lossyNode{Node: nodetest.Start(t, rv)}
	api := "http://" + startServer(t, Config{Node: n}).Addr()
	_, evs := openEvents(t, api+"/v1/events?last_event_id=0", "")
	first := next(t, evs, "reset", nil) // data checked against ResetEvent
	if first.id != "" || first.data["reason"] == nil {
		t.Errorf("reset event id %q, data %v", first.id, first.data)
	}
	// Then the buffered events follow, from the first.
	select {
	case ev := <-evs:
		if ev.id != "1" {
			t.Errorf("first event after the reset: %s %s, want id 1", ev.typ, ev.id)
		}
		openapitest.CheckSchema(t, "Event", ev.raw)
	case <-time.After(10 * time.Second):
		t.Fatal("no event after the reset")
	}
}
