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
       reachd nc [flags] --id ID

Like netcat, through the node behind --api: connects to the peer at ADDRESS
(progress on stderr), or attaches to the node's connection ID (one the peer
opened, say), then copies stdin to the peer and the peer's bytes to stdout.
At the end of stdin our side of the stream ends: the peer reads EOF and can
still answer, until its side ends too. When the peer's side ends first, nc
exits. A connection nc opened is closed when nc exits.

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
		info, err := c.connect(ctx, cf.request(pos[0]), stderr)
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

// pipe copies stdin to connection id's stream and the stream to stdout.
// At the end of stdin it closes the WebSocket normally, which ends our
// side of the connection, and reads the rest of the peer's stream with
// GET .../recv until the peer's side ends. When the WebSocket is closed
// normally first, the peer's side has ended: pipe returns nil once all
// was written to stdout.
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

	q := newMsgQueue(wsQueueLimit)
	readerDone := make(chan struct{})
	reading := make(chan struct{}) // closed as the reader first reads
	go func() {
		defer close(readerDone)
		close(reading)
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				q.close(err)
				return
			}
			q.push(b)
		}
	}()
	fromPeer := make(chan error, 1) // all the stream said is written out
	go func() { fromPeer <- q.writeTo(stdout) }()
	toPeer := make(chan error, 1)
	go func() { toPeer <- copyToWS(ctx, ws, stdin) }()
	// stop ends the stream and waits for the goroutines that end with it.
	stop := func() {
		ws.CloseNow()
		q.abort()
		<-readerDone
	}

	select {
	case err := <-fromPeer:
		// The stream ended before stdin did.
		stop()
		if interruptRead(stdin) {
			<-toPeer
		}
		return streamEnd(ctx, err)
	case err := <-toPeer:
		var se *sendError
		if errors.As(err, &se) {
			// The stream ended while we sent: its end says why.
			err := <-fromPeer
			stop()
			return streamEnd(ctx, err)
		}
		if err != nil {
			stop()
			<-fromPeer
			if ctx.Err() != nil {
				return errInterrupted
			}
			return err
		}
		// End of stdin: end our side. What the peer sent meanwhile still
		// arrives until the node's close frame, as long as the reader is
		// reading: the close handshake drops the messages it reads itself.
		// So the reader must not wait on the output from now on.
		q.unbound()
		<-reading
		closeErr := ws.Close(websocket.StatusNormalClosure, "end of input")
		<-readerDone
		err = <-fromPeer
		var oe *outputError
		switch {
		case errors.As(err, &oe):
			return err
		case closeErr != nil && websocket.CloseStatus(err) != websocket.StatusNormalClosure:
			// Neither the handshake nor the reader saw a normal end.
			return streamEnd(ctx, err)
		}
		return c.recvRest(ctx, id, stdout)
	case <-ctx.Done():
		stop()
		// The writer ends unless stdout is stuck (a stopped terminal);
		// the process is ending anyway.
		select {
		case <-fromPeer:
		case <-time.After(time.Second):
		}
		if interruptRead(stdin) {
			<-toPeer
		}
		return errInterrupted
	}
}

// wsQueueLimit is how many bytes of the peer's may wait for stdout.
const wsQueueLimit = 1 << 20

// streamEnd words how the peer's stream ended: a normal closure is the end
// of the peer's side.
func streamEnd(ctx context.Context, err error) error {
	var oe *outputError
	switch {
	case websocket.CloseStatus(err) == websocket.StatusNormalClosure:
		return nil
	case errors.As(err, &oe):
		return err
	case ctx.Err() != nil:
		return errInterrupted
	case websocket.CloseStatus(err) != -1:
		var ce websocket.CloseError
		errors.As(err, &ce)
		return fmt.Errorf("connection ended: %s (%v)", ce.Reason, ce.Code)
	}
	return fmt.Errorf("stream: %w", err)
}

// copyToWS sends what r yields as binary messages; nil at the end of r.
func copyToWS(ctx context.Context, ws *websocket.Conn, r io.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if werr := ws.Write(ctx, websocket.MessageBinary, buf[:n]); werr != nil {
				return &sendError{werr}
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read input: %w", err)
		}
	}
}

// sendError is a failure to send on the WebSocket.
type sendError struct{ err error }

func (e *sendError) Error() string { return "send: " + e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// interruptRead unblocks a Read on r if r has read deadlines (pipes,
// sockets), reporting whether it could. A terminal or a blocking file
// cannot be interrupted; its reader ends with the process.
func interruptRead(r io.Reader) bool {
	d, ok := r.(interface{ SetReadDeadline(time.Time) error })
	return ok && d.SetReadDeadline(time.Now()) == nil
}

// recvPoll is how long one GET .../recv waits for bytes.
const recvPoll = 30 * time.Second

// recvRest copies the rest of the peer's stream to w with GET .../recv
// until the peer's side ends (410).
func (c *apiClient) recvRest(ctx context.Context, id string, w io.Writer) error {
	path := fmt.Sprintf("%s/recv?max=%d&timeout_ms=%d", connPath(id), 1<<20, recvPoll.Milliseconds())
	for {
		rctx, cancel := context.WithTimeout(ctx, recvPoll+10*time.Second)
		resp, err := c.do(rctx, http.MethodGet, path, nil, "")
		if err != nil {
			cancel()
			var ae *apiError
			if errors.As(err, &ae) && ae.Status == http.StatusGone {
				return nil
			}
			return err
		}
		_, err = io.Copy(w, resp.Body)
		resp.Body.Close()
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return errInterrupted
			}
			return fmt.Errorf("receive: %w", err)
		}
	}
}
