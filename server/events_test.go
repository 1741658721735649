package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	id, typ string
	data    map[string]any
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
				json.Unmarshal([]byte(line[6:]), &ev.data)
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
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp, readEvents(t, resp)
}

// next waits for the next event of type typ matching ok.
func next(t *testing.T, ch <-chan sseEvent, typ string, ok func(sseEvent) bool) sseEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, open := <-ch:
			if !open {
				t.Fatalf("event stream ended waiting for %s", typ)
			}
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
	if a := trying.data["attempt"].(map[string]any); a["strategy"] != "direct" || a["outcome"] != "trying" || a["peer"] != p.b.ID() {
		t.Errorf("first attempt event %v", a)
	}
	next(t, evs, "attempt", func(e sseEvent) bool { return e.data["attempt"].(map[string]any)["outcome"] == "ok" })
	opened := next(t, evs, "connection", func(e sseEvent) bool { return e.data["connection"].(map[string]any)["id"] == id })

	// Bytes are reported (at most once a second) while they flow.
	call(t, "POST", p.apiA+"/v1/connections/"+id+"/send", "some bytes")
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
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("bad Last-Event-ID: %d, want 400", resp.StatusCode)
	}
}
