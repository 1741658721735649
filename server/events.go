package server

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/reachd/reachd/node"
)

// sseKeepAlive is how often an idle event stream gets a comment line, so
// proxies and clients see it is alive.
const sseKeepAlive = 15 * time.Second

// sseWriteTimeout bounds each sseWriteChunk written to an event stream: a
// client that takes nothing for this long is cut off.
const (
	sseWriteTimeout = 30 * time.Second
	sseWriteChunk   = 64 << 10
)

// sseBatch is how long a stream lets events gather before it writes them.
const sseBatch = 20 * time.Millisecond

// sseRetryAfterDrop is the reconnect delay (ms) a dropped stream is given.
const sseRetryAfterDrop = 1000

// events streams the node's events as server-sent events: "id" is the
// event's ID, "event" its type, "data" its JSON, encoded once by the node
// for every stream. A client that reconnects with Last-Event-ID (header,
// or the last_event_id query parameter) gets the events it missed from a
// bounded buffer; when some were dropped from the buffer the stream starts
// with a "reset" event, after which the client should reload the state
// (GET /v1/node, GET /v1/connections). A client that falls more than
// node.DefaultEventQueue events behind is dropped rather than slowing the
// node: its stream ends with a comment saying so and a "retry:" hint, and
// it resumes by reconnecting with Last-Event-ID, as EventSource does.
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
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil // the headers are the answer; no stream follows
	}
	backlog, lost, sub := s.cfg.Node.SubscribeEvents(*last, 0)
	defer sub.Close()
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// The stream's ID from the start, so a client that loses it before the
	// first event still resumes from here.
	buf := fmt.Appendf(nil, "retry: 2000\nid: %d\n\n", *last)
	if lost {
		buf = append(buf, "event: reset\ndata: {\"reason\":\"events were dropped from the buffer; reload the state\"}\n\n"...)
	}
	for _, rec := range backlog {
		if buf, err = appendEvent(buf, rec); err != nil {
			return err
		}
	}
	write := func() bool {
		defer func() { buf = buf[:0] }()
		for b := buf; len(b) > 0; {
			n := min(len(b), sseWriteChunk)
			_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
			if _, err := w.Write(b[:n]); err != nil {
				return false
			}
			b = b[n:]
		}
		flusher.Flush()
		return true
	}
	if !write() {
		return nil // the client went away
	}

	keepAlive := time.NewTicker(sseKeepAlive)
	defer keepAlive.Stop()
	batch := time.NewTimer(sseBatch)
	batch.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-s.ctx.Done():
			return nil
		case rec, ok := <-sub.C():
			// A burst (a connect makes several events) gathers for
			// sseBatch, or until the queue is half full, and goes out in
			// one write: one wake-up and one write per stream, not one
			// per event. Meanwhile the node's sends to this stream only
			// queue.
			if ok {
				batch.Reset(sseBatch)
				select {
				case <-batch.C:
				case <-sub.Hurry():
					batch.Stop()
				case <-r.Context().Done():
					return nil
				case <-s.ctx.Done():
					return nil
				}
			}
			for ok && rec != nil {
				if buf, err = appendEvent(buf, rec); err != nil {
					return err
				}
				select {
				case rec, ok = <-sub.C():
				default:
					rec = nil
				}
			}
			if !ok && sub.Dropped() {
				buf = fmt.Appendf(buf, ": dropped: this stream fell more than %d events behind; reconnect with Last-Event-ID to resume\nretry: %d\n\n",
					node.DefaultEventQueue, sseRetryAfterDrop)
			}
			if !write() || !ok {
				return nil
			}
		case <-keepAlive.C:
			buf = append(buf, ": keepalive\n\n"...)
			if !write() {
				return nil
			}
		}
	}
}

// appendEvent appends rec as a server-sent event.
func appendEvent(buf []byte, rec *node.EventRecord) ([]byte, error) {
	data, err := rec.JSON()
	if err != nil {
		return buf, err
	}
	buf = append(buf, "id: "...)
	buf = strconv.AppendUint(buf, rec.Event.ID, 10)
	buf = append(buf, "\nevent: "...)
	buf = append(buf, rec.Event.Type...)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, data...)
	return append(buf, "\n\n"...), nil
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
