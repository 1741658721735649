package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reachd/reachd/identity"
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

func (n *lossyNode) SubscribeEvents(after uint64, queue int) ([]*node.EventRecord, bool, *node.EventSub) {
	recs, _, sub := n.Node.SubscribeEvents(after, queue)
	return recs, !n.reported.Swap(true), sub
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

// A stream whose client stops reading is dropped, with a reconnect hint at
// its end, while a client that keeps reading gets every event; the node
// goes on emitting all the while.
func TestEventsSlowStreamDropped(t *testing.T) {
	n := nodetest.Start(t, rendezvoustest.Start(t))
	addr := startServer(t, Config{Node: n}).Addr()
	// Events of some size: each policy change sends the node's info, with
	// its allow list.
	var ids []string
	for range 200 {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, identity.NodeIDFromKey(pub))
	}
	for _, id := range ids[1:] {
		if _, err := n.AllowPeer(id); err != nil {
			t.Fatal(err)
		}
	}

	// The slow client reads the stream's head, then nothing, through a
	// receive buffer of fixed size (not under a loopback segment, 64 KiB,
	// or the window stays shut).
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if err := slow.(*net.TCPConn).SetReadBuffer(256 << 10); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(slow, "GET /v1/events HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr)
	slowR := bufio.NewReaderSize(slow, 512)
	for {
		line, err := slowR.ReadString('\n')
		if err != nil {
			t.Fatalf("slow stream head: %v", err)
		}
		if strings.HasPrefix(line, "id: ") {
			break
		}
	}

	// The fast client reads everything as it comes.
	resp, err := http.Get("http://" + addr + "/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var fastLast atomic.Uint64
	var fastDropped atomic.Bool
	progress := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, ": dropped") {
				fastDropped.Store(true)
			}
			if id, ok := strings.CutPrefix(line, "id: "); ok {
				v, _ := strconv.ParseUint(id, 10, 64)
				fastLast.Store(v)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		}
	}()
	waitFast := func(id uint64) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for fastLast.Load() < id {
			select {
			case <-progress:
			case <-deadline:
				t.Fatalf("the fast client is at event %d, want %d", fastLast.Load(), id)
			}
		}
	}

	// Far more than the slow client's socket buffers hold, in bursts the
	// fast client reads before the next.
	const rounds, burst = 20, 50
	for range rounds {
		for range burst / 2 {
			n.AllowPeer(ids[0])
			n.DisallowPeer(ids[0])
		}
		waitFast(n.LastEventID())
	}
	if fastDropped.Load() {
		t.Error("the fast client was dropped")
	}

	// The slow client, reading at last, finds the hint at the end.
	slow.SetReadDeadline(time.Now().Add(20 * time.Second))
	rest, err := io.ReadAll(slowR)
	if err != nil {
		t.Fatalf("slow stream: %v (%d bytes, last %q)", err, len(rest), rest[max(0, len(rest)-300):])
	}
	i := bytes.Index(rest, []byte("\n: dropped: "))
	if i < 0 {
		t.Fatalf("the slow stream ended without the drop hint (%d bytes, last: %q)", len(rest), rest[max(0, len(rest)-200):])
	}
	tail := string(rest[i:])
	if !strings.Contains(tail, "\nretry: 1000\n") || strings.Contains(tail, "\nevent: ") {
		t.Errorf("stream tail %q: want the hint with retry: 1000 and no event after it", tail)
	}
	if bytes.Contains(rest, []byte(fmt.Sprintf("\nid: %d\n", n.LastEventID()))) {
		t.Error("the slow client got every event")
	}
}
