package main

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestReadSSE(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []sseEvent
	}{
		{"as the API writes it", "retry: 2000\n\nid: 7\nevent: attempt\ndata: {\"a\":1}\n\n",
			[]sseEvent{{ID: "7", Type: "attempt", Data: []byte(`{"a":1}`)}}},
		{"several data lines join", "data: one\ndata: two\n\n",
			[]sseEvent{{Type: "message", Data: []byte("one\ntwo")}}},
		{"CRLF and no space after the colon", "event:x\r\ndata:y\r\n\r\n",
			[]sseEvent{{Type: "x", Data: []byte("y")}}},
		{"comments and events without data are skipped", ": keepalive\n\nevent: lonely\n\ndata: z\n\n",
			[]sseEvent{{Type: "message", Data: []byte("z")}}},
		{"the ID carries over, the type does not", "id: 3\nevent: a\ndata: 1\n\ndata: 2\n\n",
			[]sseEvent{{ID: "3", Type: "a", Data: []byte("1")}, {ID: "3", Type: "message", Data: []byte("2")}}},
		{"an unfinished event is dropped", "data: 1\n\ndata: 2\n",
			[]sseEvent{{Type: "message", Data: []byte("1")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []sseEvent
			err := readSSE(strings.NewReader(tt.in), func(e sseEvent) error {
				got = append(got, e)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadSSEStops(t *testing.T) {
	stop := errors.New("enough")
	n := 0
	err := readSSE(strings.NewReader("data: 1\n\ndata: 2\n\n"), func(sseEvent) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("readSSE = %v after %d events, want the callback's error after 1", err, n)
	}
}
