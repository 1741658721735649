package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/reachd/reachd/server"
)

// apiFlags are the flags every client of a node's REST API takes.
type apiFlags struct {
	api   string
	token string
}

func (f *apiFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.api, "api", server.DefaultAddr, "the node's REST API `address`: host:port or http[s]://host:port")
	fs.StringVar(&f.token, "api-token", "", "Bearer `token` of the API, when it has one")
}

// client makes the API client the flags describe.
func (f *apiFlags) client() (*apiClient, error) {
	base, err := apiBase(f.api)
	if err != nil {
		return nil, usagef("--api %q: %v", f.api, err)
	}
	return &apiClient{base: base, token: f.token, http: &http.Client{}}, nil
}

// apiBase turns host:port or an http(s) URL into the API's base URL.
func apiBase(s string) (*url.URL, error) {
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		u, err := url.Parse(s)
		if err != nil {
			return nil, err
		}
		if u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
			return nil, errors.New("want host:port or http://host:port")
		}
		u.Path = ""
		return u, nil
	}
	if err := validHostPort(s); err != nil {
		return nil, err
	}
	return &url.URL{Scheme: "http", Host: s}, nil
}

// apiClient calls a node's REST API. It has no overall timeout: each call
// is bounded by its context (event streams and long polls last).
type apiClient struct {
	base  *url.URL
	token string
	http  *http.Client
}

func (c *apiClient) url(path string) string { return c.base.String() + path }

// wsURL is the WebSocket URL of path.
func (c *apiClient) wsURL(path string) string {
	u := *c.base
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	return u.String() + path
}

func (c *apiClient) header() http.Header {
	h := make(http.Header)
	if c.token != "" {
		h.Set("Authorization", "Bearer "+c.token)
	}
	return h
}

// do sends a request and returns the response of a 2xx answer; anything
// else is an *apiError, an *unreachableError, or errInterrupted when ctx
// ended.
func (c *apiClient) do(ctx context.Context, method, path string, body io.Reader, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header = c.header()
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, c.errorOf(resp)
	}
	return resp, nil
}

// transportError words a failed request: the context's end, or an API that
// does not answer.
func (c *apiClient) transportError(ctx context.Context, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return errInterrupted
	case ctx.Err() != nil:
		return fmt.Errorf("the API at %s did not answer in time: %w", c.base, ctx.Err())
	}
	return &unreachableError{base: c.base.String(), err: err}
}

// errorOf reads a failed answer into an *apiError; its body is a problem
// when the API wrote it.
func (c *apiClient) errorOf(resp *http.Response) error {
	e := &apiError{Status: resp.StatusCode, tokenSent: c.token != ""}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/problem+json" || mt == "application/json" {
		json.Unmarshal(b, &e.Problem)
	}
	if e.Problem.Detail == "" && e.Problem.Title == "" {
		e.Problem.Detail = strings.TrimSpace(string(b))
		if len(e.Problem.Detail) > 200 {
			e.Problem.Detail = e.Problem.Detail[:200] + "…"
		}
	}
	return e
}

// get returns the body of a GET.
func (c *apiClient) get(ctx context.Context, path string) ([]byte, error) {
	resp, err := c.do(ctx, http.MethodGet, path, nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, c.transportError(ctx, err))
	}
	return b, nil
}

// getJSON decodes the JSON answer of a GET into v.
func (c *apiClient) getJSON(ctx context.Context, path string, v any) error {
	b, err := c.get(ctx, path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: decode answer: %w", path, err)
	}
	return nil
}

// postJSON posts in as JSON and decodes the answer into out.
func (c *apiClient) postJSON(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodPost, path, bytes.NewReader(body), "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("POST %s: decode answer: %w", path, err)
	}
	return nil
}

// delete sends a DELETE and discards the answer.
func (c *apiClient) delete(ctx context.Context, path string) error {
	resp, err := c.do(ctx, http.MethodDelete, path, nil, "")
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}
