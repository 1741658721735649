package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/coder/websocket"
)

const ncUsage = `usage: reachd nc [flags] ADDRESS
       reachd nc [flags] ADDRESS/SERVICE
       reachd nc [flags] --id ID

Like netcat, through the node behind --api: connects to the peer at ADDRESS
(progress on stderr), or attaches to the node's connection ID (one the peer
opened, say), then copies stdin to the peer and the peer's bytes to stdout.
At the end of stdin our side of the stream ends: the peer reads EOF and can
still answer, until its side ends too. When the peer's side ends first, nc
exits. A connection nc opened is closed when nc exits.

ADDRESS/SERVICE connects to the peer's service (its "reachd serve" name),
for example as ssh's proxy: ssh -o ProxyCommand='reachd nc %h/ssh' ADDRESS.
ADDRESS may also be a node ID or a name from the address book (reachd peers):
ssh -o ProxyCommand='reachd nc %h/ssh' laptop.

flags:
`

func runNC(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reachd nc", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), ncUsage); fs.PrintDefaults() }
	var af apiFlags
	af.register(fs)
	var cf connectFlags
	cf.register(fs)
	id := fs.String("id", "", "attach to the existing connection `ID` instead of connecting")
	pos, err := parseFlags(fs, args, stderr, 1)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0 && *id == "":
		return usagef("missing the peer's ADDRESS (or --id ID)")
	case len(pos) == 1 && *id != "":
		return usagef("give either ADDRESS or --id, not both")
	case len(pos) == 1 && pos[0] == "":
		return usagef("empty ADDRESS")
	}
	if err := cf.check(); err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	if *id == "" {
		req := cf.request(pos[0])
		req.Address, req.Service = splitService(pos[0])
		info, err := c.connect(ctx, req, stderr)
		if err != nil {
			return err
		}
		printConnected(stderr, info)
		*id = info.ID
		defer func() {
			// Close the connection we opened, also when interrupted.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			c.delete(dctx, connPath(info.ID))
		}()
	}
	return c.pipe(ctx, *id, stdin, stdout)
}

func connPath(id string) string { return "/v1/connections/" + url.PathEscape(id) }

// wsReadLimit bounds one message from the API (it sends up to 64 KiB).
const wsReadLimit = 1 << 20

// pipe copies stdin to connection id's stream and the stream to stdout,
// with the stream's half-close: at the end of stdin an empty message ends
// our side (the peer reads EOF and may still answer), and an empty message
// from the node says the peer's side has ended, after which pipe returns
// nil once everything was written out.
func (c *apiClient) pipe(ctx context.Context, id string, stdin io.Reader, stdout io.Writer) error {
	ws, resp, err := websocket.Dial(ctx, c.wsURL(connPath(id)+"/stream"), &websocket.DialOptions{
		HTTPClient: c.http,
		HTTPHeader: c.header(),
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return c.errorOf(resp)
		}
		return c.transportError(ctx, err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(wsReadLimit)

	toPeer := make(chan error, 1)
	go func() { toPeer <- copyToWS(ctx, ws, stdin) }()
	err = copyFromWS(ctx, ws, stdout)
	if err == nil {
		// The peer has finished: so do we, as netcat does.
		ws.Close(websocket.StatusNormalClosure, "done")
	} else {
		ws.CloseNow()
	}
	if interruptRead(stdin) {
		<-toPeer
	}
	return err
}

// copyFromWS writes the peer's messages to w until the peer's end of
// stream (nil) or the stream fails.
func copyFromWS(ctx context.Context, ws *websocket.Conn, w io.Writer) error {
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return streamEnd(ctx, err)
		}
		if len(b) == 0 {
			return nil
		}
		if _, err := w.Write(b); err != nil {
			return &outputError{err}
		}
	}
}

// outputError is a failure to write the output.
type outputError struct{ err error }

func (e *outputError) Error() string { return "write output: " + e.err.Error() }
func (e *outputError) Unwrap() error { return e.err }

// streamEnd words how the stream ended: a normal closure is the end of the
// peer's side.
func streamEnd(ctx context.Context, err error) error {
	switch {
	case websocket.CloseStatus(err) == websocket.StatusNormalClosure:
		return nil
	case ctx.Err() != nil:
		return errInterrupted
	case websocket.CloseStatus(err) != -1:
		var ce websocket.CloseError
		errors.As(err, &ce)
		return fmt.Errorf("connection ended: %s (%v)", ce.Reason, ce.Code)
	}
	return fmt.Errorf("stream: %w", err)
}

// copyToWS sends what r yields as binary messages, then the empty message
// that ends our side of the stream.
func copyToWS(ctx context.Context, ws *websocket.Conn, r io.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if werr := ws.Write(ctx, websocket.MessageBinary, buf[:n]); werr != nil {
				return fmt.Errorf("send: %w", werr)
			}
		}
		if errors.Is(err, io.EOF) {
			return ws.Write(ctx, websocket.MessageBinary, nil)
		}
		if err != nil {
			return fmt.Errorf("read input: %w", err)
		}
	}
}

// interruptRead unblocks a Read on r if r has read deadlines (pipes,
// sockets), reporting whether it could. A terminal or a blocking file
// cannot be interrupted; its reader ends with the process.
func interruptRead(r io.Reader) bool {
	d, ok := r.(interface{ SetReadDeadline(time.Time) error })
	return ok && d.SetReadDeadline(time.Now()) == nil
}
