package main

import (
	"bufio"
	"bytes"
	"io"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	ID   string
	Type string // "message" when the stream names none
	Data []byte
}

// maxSSELine bounds one line of an event stream (a node event carries the
// node's whole state).
const maxSSELine = 8 << 20

// readSSE reads a text/event-stream from r and calls fn for each event,
// until r ends (nil), fails, or fn returns an error. Comments and "retry"
// lines are skipped; an event without data is not dispatched (as browsers
// do).
func readSSE(r io.Reader, fn func(sseEvent) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxSSELine)
	var ev sseEvent
	var data [][]byte
	for sc.Scan() {
		line := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if len(line) == 0 {
			if data != nil {
				ev.Data = bytes.Join(data, []byte("\n"))
				if ev.Type == "" {
					ev.Type = "message"
				}
				if err := fn(ev); err != nil {
					return err
				}
			}
			ev, data = sseEvent{ID: ev.ID}, nil
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			ev.Type = string(value)
		case "data":
			data = append(data, bytes.Clone(value))
		case "id":
			ev.ID = string(value)
		}
	}
	return sc.Err()
}
