package userbehavior

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// WSMethodKind is the statistics method of WebSocket rows: "WS connect NAME" for the
// handshake, "WS NAME" for each request's round trip.
const WSMethodKind = "WS"

// wsShared is what a Runner's users share for WebSocket: the dialer (its write
// buffers are pooled, so an idle socket holds none) and the run's defaults.
type wsShared struct {
	dialer  *websocket.Dialer
	maxMsg  int64 // the body cap, per message received; <= 0: none
	timeout time.Duration
	base    *url.URL // a ws(s):// or http(s):// run host, for relative URLs
}

// wsReadBuffer is a socket's read buffer: small, as an idle socket keeps it (the
// least gorilla/websocket takes, a control frame's 125 bytes). Longer messages are
// read through it in pieces.
const wsReadBuffer = 125

func newWSShared(base *url.URL, cfg HTTPConfig, timeout time.Duration) *wsShared {
	d := &websocket.Dialer{
		HandshakeTimeout: timeout,
		ReadBufferSize:   wsReadBuffer,
		WriteBufferSize:  4096,
		WriteBufferPool:  &sync.Pool{},
		TLSClientConfig:  &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify}, //nolint:gosec // the user's explicit choice
		Proxy:            nil,
	}
	return &wsShared{dialer: d, maxMsg: cfg.options().maxBody, timeout: timeout, base: base}
}

// WSDial says what socket to open.
type WSDial struct {
	// URL is ws:// or wss://, or a path resolved against the run's host (ws, wss,
	// http or https; http becomes ws).
	URL          string
	Header       http.Header
	Subprotocols []string
	// Name is the socket's rows' name; default the URL's path.
	Name    string
	Timeout time.Duration // the handshake's; 0: the run's request timeout
}

// WSConn is one user's WebSocket. It is used by the user's goroutine only; a read
// waits on a goroutine of its own only while the user waits for a message, or after
// a wait timed out until a message (or the close) comes.
type WSConn struct {
	c       *websocket.Conn // nil when the handshake failed
	key     string          // the URL as asked and the name: DialWS's reuse
	rec     *aggregate.Recorder
	name    string
	timeout time.Duration
	err     error        // why the socket is closed, once it is
	pending chan wsFrame // a read in progress, or nil
	closed  bool         // Close was called or the socket failed
	cap     int64        // the body cap, for messages
}

// wsFrame is one message read, or why reading stopped.
type wsFrame struct {
	text bool
	data []byte
	err  error
}

// DialWS returns u's open socket to d.URL with d.Name if it has one (a task may ask
// for its socket each time, without keeping it), or opens one and records the
// handshake under "WS" and "connect NAME". A failed handshake returns a closed
// WSConn whose Err says why: it was counted as a failed connect.
func (u *User) DialWS(ctx context.Context, d WSDial) (*WSConn, error) {
	if u.r == nil {
		return nil, errors.New("WebSocket: the user was not made by a Runner")
	}
	key := d.URL + "\x00" + d.Name
	for _, h := range u.held {
		if c, ok := h.(*WSConn); ok && c.key == key && !c.closed {
			return c, nil
		}
	}
	sh := u.r.shared.ws
	target, err := sh.resolve(d.URL)
	if err != nil {
		return nil, err
	}
	name := d.Name
	if name == "" {
		name = target.Path
		if name == "" {
			name = "/"
		}
	}
	c := &WSConn{key: key, rec: u.rec, name: name, timeout: sh.timeout, cap: sh.maxMsg}
	t := d.Timeout
	if t == 0 {
		t = sh.timeout
	}
	dialer := sh.dialer
	if len(d.Subprotocols) > 0 {
		dd := *sh.dialer
		dd.Subprotocols = d.Subprotocols
		dialer = &dd
	}
	dctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	start := time.Now()
	conn, resp, err := dialer.DialContext(dctx, target.String(), d.Header)
	end := time.Now()
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	sample := aggregate.Sample{Endpoint: aggregate.Endpoint{Method: WSMethodKind, Name: "connect " + name}, Latency: end.Sub(start), URL: target.String()}
	if err != nil {
		c.err, c.closed = wsDialError(err, resp), true
		sample.Err = c.err.Error()
		u.rec.Record(sample, end)
		return c, nil
	}
	u.rec.Record(sample, end)
	if sh.maxMsg > 0 {
		conn.SetReadLimit(sh.maxMsg)
	}
	c.c = conn
	u.hold(c)
	return c, nil
}

// resolve makes raw a ws:// or wss:// URL.
func (sh *wsShared) resolve(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("bad URL %q: %w", raw, err)
	}
	if !u.IsAbs() {
		if sh.base == nil {
			return nil, fmt.Errorf("relative URL %q and no host given", raw)
		}
		u = sh.base.ResolveReference(u)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("URL %q: want ws:// or wss://", raw)
	}
	return u, nil
}

// wsDialError is a failed handshake, grouped by cause like HTTP failures.
func wsDialError(err error, resp *http.Response) error {
	if errors.Is(err, websocket.ErrBadHandshake) && resp != nil {
		return fmt.Errorf("handshake: HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return transportError(err)
}

// Name is the socket's rows' name.
func (c *WSConn) Name() string { return c.name }

// Err is why the socket is closed (nil while it is open, or after Close).
func (c *WSConn) Err() error { return c.err }

// Open reports whether the socket can still send and receive.
func (c *WSConn) Open() bool { return !c.closed }

// Subprotocol is what the server chose.
func (c *WSConn) Subprotocol() string {
	if c.c == nil {
		return ""
	}
	return c.c.Subprotocol()
}

func (c *WSConn) usable() error {
	if c.closed {
		if c.err != nil {
			return fmt.Errorf("socket closed: %v", c.err)
		}
		return errors.New("socket closed")
	}
	return nil
}

// Send sends a text (text true) or binary message.
func (c *WSConn) Send(text bool, data []byte) error {
	if err := c.usable(); err != nil {
		return err
	}
	kind := websocket.BinaryMessage
	if text {
		kind = websocket.TextMessage
	}
	_ = c.c.SetWriteDeadline(time.Now().Add(c.timeout))
	if err := c.c.WriteMessage(kind, data); err != nil {
		c.fail(err)
		return fmt.Errorf("send: %v", c.err)
	}
	return nil
}

// Ping sends a ping; the server's pong is handled as frames are read.
func (c *WSConn) Ping() error {
	if err := c.usable(); err != nil {
		return err
	}
	if err := c.c.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.timeout)); err != nil {
		c.fail(err)
		return fmt.Errorf("ping: %v", c.err)
	}
	return nil
}

// Recv waits up to timeout (0: until a message, the close, or ctx's end) for the
// next message. ok is false when none came: the socket closed (Err says why, nil
// for a clean close) or the wait timed out (the socket stays open).
func (c *WSConn) Recv(ctx context.Context, timeout time.Duration) (text bool, data []byte, ok bool) {
	if c.closed {
		return false, nil, false
	}
	if c.pending == nil {
		ch := make(chan wsFrame, 1)
		c.pending = ch
		conn := c.c
		go func() {
			kind, data, err := conn.ReadMessage()
			ch <- wsFrame{text: kind == websocket.TextMessage, data: data, err: err}
		}()
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case f := <-c.pending:
		c.pending = nil
		if f.err != nil {
			c.fail(f.err)
			return false, nil, false
		}
		return f.text, f.data, true
	case <-expired:
		return false, nil, false
	case <-ctx.Done():
		return false, nil, false
	}
}

// fail closes the socket after err.
func (c *WSConn) fail(err error) {
	if c.closed {
		return
	}
	c.closed = true
	c.err = wsError(err, c.cap)
	_ = c.c.Close()
}

// wsError is why a socket stopped, grouped by cause: nil for a normal close.
func wsError(err error, limit int64) error {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		switch ce.Code {
		case websocket.CloseNormalClosure:
			return nil
		case websocket.CloseAbnormalClosure: // no close frame: the library's own code
			return errors.New("connection closed by the server without a close frame")
		}
		msg := fmt.Sprintf("closed by the server: %d", ce.Code)
		if ce.Text != "" {
			msg += " " + ce.Text
		}
		return errors.New(msg)
	case errors.Is(err, websocket.ErrReadLimit):
		return errors.New("message exceeds " + formatBytes(limit) + " cap")
	case errors.Is(err, net.ErrClosed):
		return errors.New("socket closed")
	}
	e := transportError(err)
	if strings.Contains(e.Error(), "unexpected EOF") || errors.Is(err, errClosedEarly) {
		return errors.New("connection closed by the server without a close frame")
	}
	return e
}

// Request sends a message and waits up to timeout (0: the run's request timeout)
// for the first reply accept takes (nil: any), recording the round trip under "WS"
// and the socket's name. It returns the reply, or ok false when none came: the
// round trip was recorded as failed.
func (c *WSConn) Request(ctx context.Context, text bool, msg []byte, accept func(text bool, data []byte) (bool, error), timeout time.Duration) (replyText bool, reply []byte, ok bool, err error) {
	if timeout == 0 {
		timeout = c.timeout
	}
	start := time.Now()
	record := func(failure string) {
		end := time.Now()
		c.rec.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: WSMethodKind, Name: c.name},
			Latency: end.Sub(start), Bytes: int64(len(reply)), Err: failure}, end)
	}
	if err := c.usable(); err != nil {
		record(err.Error())
		return false, nil, false, nil
	}
	if err := c.Send(text, msg); err != nil {
		record(err.Error())
		return false, nil, false, nil
	}
	deadline := start.Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			record(fmt.Sprintf("timeout: no reply within %v", timeout))
			return false, nil, false, nil
		}
		t, data, got := c.Recv(ctx, left)
		if !got {
			switch {
			case StoppedAtStop(ctx):
				// Cut by the run's stop: counted apart, neither a success nor a failure.
				c.rec.Count(aggregate.CancelledCounter, 1)
			case ctx.Err() != nil:
				record("aborted: user stopped")
			case c.closed:
				msg := "closed by the server"
				if c.err != nil {
					msg = c.err.Error()
				}
				record(msg)
			default:
				record(fmt.Sprintf("timeout: no reply within %v", timeout))
			}
			return false, nil, false, nil
		}
		if accept != nil {
			yes, err := accept(t, data)
			if err != nil {
				return false, nil, false, err
			}
			if !yes {
				continue
			}
		}
		reply = data
		record("")
		return t, data, true, nil
	}
}

// Close sends a close frame and closes the socket; later calls do nothing.
func (c *WSConn) Close() error {
	if c.c == nil || c.closed {
		return nil
	}
	c.closed = true
	_ = c.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	return c.c.Close()
}
