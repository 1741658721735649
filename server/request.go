package server

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// maxJSONBody caps JSON request bodies.
const maxJSONBody = 1 << 20

// problemType is the URI of one of the API's problem types, documented in
// the OpenAPI document.
func problemType(name string) string { return "https://reachd.dev/problems/" + name }

func badRequest(format string, args ...any) *Problem {
	return typedProblem("bad-request", http.StatusBadRequest, format, args...)
}

// decodeJSON reads one JSON object into v, refusing unknown fields, trailing
// data and oversized bodies with a message that says what is wrong.
func decodeJSON(r *http.Request, v any) error {
	if err := checkJSONType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			return badRequest("body larger than %d bytes: a JSON request is small", maxJSONBody)
		case errors.Is(err, io.EOF):
			return badRequest("empty body: send a JSON object")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("malformed JSON: the body ends early")
		case errors.As(err, &syn):
			return badRequest("malformed JSON at byte %d: %v", syn.Offset, err)
		case errors.As(err, &typ):
			return badRequest("field %q: want %s, got JSON %s", typ.Field, typ.Type, typ.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return badRequest("%s", strings.TrimPrefix(err.Error(), "json: "))
		default:
			return badRequest("bad JSON body: %v", err)
		}
	}
	if dec.More() {
		return badRequest("trailing data after the JSON object")
	}
	return nil
}

// checkJSONType accepts a request's Content-Type when it is absent or
// exactly the media type application/json (any case, parameters allowed,
// a charset only if it is UTF-8): "application/jsonfoo" is not JSON.
func checkJSONType(ct string) error {
	if ct == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return badRequest("content type %q: send application/json", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return badRequest("content type %q: JSON is UTF-8", ct)
	}
	return nil
}

// timeoutParam turns a millisecond count into a duration: 0 means def,
// negative or above max is refused. The count is compared before it is
// converted, so one too large for a time.Duration cannot wrap round into
// range.
func timeoutParam(name string, ms int64, def, max time.Duration) (time.Duration, error) {
	switch {
	case ms == 0:
		return def, nil
	case ms < 0 || ms > max.Milliseconds():
		return 0, badRequest("%s %d: want 1 to %d", name, ms, max.Milliseconds())
	}
	return time.Duration(ms) * time.Millisecond, nil
}
