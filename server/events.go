package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// sseKeepAlive is how often an idle event stream gets a comment line, so
// proxies and clients see it is alive.
const sseKeepAlive = 15 * time.Second

// events streams the node's events as server-sent events: "id" is the
// event's ID, "event" its type, "data" its JSON. A client that reconnects
// with Last-Event-ID (header, or the last_event_id query parameter) gets
// the events it missed from a bounded buffer; when some were dropped from
// the buffer the stream starts with a "reset" event, after which the client
// should reload the state (GET /v1/node, GET /v1/connections).
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	flusher, ok := w.(http.Flusher)
	if !ok {
		return fmt.Errorf("response writer cannot flush")
	}
	last, err := lastEventID(r)
	if err != nil {
		return err
	}
	// A new client starts at the present unless it asked to resume; the
	// present is taken before the client can see the stream is open, so
	// nothing it causes after that is missed.
	if last == nil {
		id := s.cfg.Node.LastEventID()
		last = &id
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil // the headers are the answer; no stream follows
	}
	// The stream's ID from the start, so a client that loses it before the
	// first event still resumes from here.
	fmt.Fprintf(w, "retry: 2000\nid: %d\n\n", *last)
	flusher.Flush()

	after := *last
	keepAlive := time.NewTicker(sseKeepAlive)
	defer keepAlive.Stop()
	for {
		evs, lost, next := s.cfg.Node.Events(after)
		if lost {
			fmt.Fprintf(w, "event: reset\ndata: {\"reason\":\"events were dropped from the buffer; reload the state\"}\n\n")
			lost = false
		}
		for _, ev := range evs {
			b, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, b); err != nil {
				return nil // the client went away
			}
			after = ev.ID
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return nil
		case <-s.ctx.Done():
			return nil
		case <-next:
		case <-keepAlive.C:
			if _, err := fmt.Fprintf(w, ": keepalive\n\n"); err != nil {
				return nil
			}
			flusher.Flush()
		}
	}
}

func lastEventID(r *http.Request) (*uint64, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("last_event_id")
	}
	if v == "" {
		return nil, nil
	}
	id, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return nil, badRequest("Last-Event-ID %q: want an event ID", v)
	}
	return &id, nil
}
