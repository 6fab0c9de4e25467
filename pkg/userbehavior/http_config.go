package userbehavior

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The HTTP clients a worker can send with (HTTPConfig.Client).
const (
	// ClientFast is github.com/valyala/fasthttp's parser and writer over Stampede's
	// own connection pool: the default, about 2.5 times cheaper per request than
	// net/http (docs/benchmarks.md). HTTP/1.1 only.
	ClientFast = "fasthttp"
	// ClientNetHTTP is the standard library's client: HTTP/2 when the target offers
	// it over TLS.
	ClientNetHTTP = "nethttp"
)

// DefaultMaxBody is the body cap when HTTPConfig.MaxBody is 0.
const DefaultMaxBody = 10 << 20

// HTTPConfig is how a worker's users speak HTTP. The zero value is the default:
// fasthttp, a 10 MiB body cap, certificates verified, no TTFB or server-time rows.
type HTTPConfig struct {
	// Client is ClientFast ("fasthttp", also ""), or ClientNetHTTP ("nethttp").
	Client string
	// MaxBody caps the response body read per request (buffered, discarded or
	// streamed). A longer body fails the request ("body exceeds 10 MiB cap") and its
	// connection is closed, not reused. 0: DefaultMaxBody; < 0: no cap.
	MaxBody int64
	// InsecureSkipVerify accepts any TLS certificate from the target (self-signed
	// test environments). Verification is on by default.
	InsecureSkipVerify bool
	// Timings records, besides each request's own row, rows for its parts under the
	// request's name: "CONNECT" and "TLS" when it opened a new connection (the TCP
	// connect, the TLS handshake), "TTFB" (time to the response's header) and
	// "SERVER" (below). Off by default: the table stays one row per request.
	Timings bool
	// ServerTimeHeader names a response header that carries the time the target
	// spent ("X-Process-Time"), with an optional unit after a colon
	// ("X-Process-Time:ms"; s, ms or us; default s), recorded as method "SERVER".
	// When it is set, or Timings is, a Server-Timing header is read too where the
	// named one is absent (see parseServerTiming).
	ServerTimeHeader string
	// MaxConnsPerHost bounds the idle connections kept per target host (fasthttp
	// and net/http) when > 0; default 1024.
	MaxConnsPerHost int
	// TraceContext adds a W3C traceparent header with a fresh trace id to every
	// request a task did not give one itself (a task's own traceparent and any
	// tracestate pass as they are); TraceSample (0..1) is the share of them whose
	// sampled flag is set. The trace id of each of the slowest requests is kept
	// (aggregate.SlowRequest.TraceID).
	TraceContext bool
	TraceSample  float64
}

// Validate reports every problem of the configuration at once.
func (c HTTPConfig) Validate() error {
	var errs []error
	switch c.Client {
	case "", ClientFast, ClientNetHTTP:
	default:
		errs = append(errs, fmt.Errorf("HTTP client %q: want %q or %q", c.Client, ClientFast, ClientNetHTTP))
	}
	if _, _, err := parseServerTimeHeader(c.ServerTimeHeader); err != nil {
		errs = append(errs, err)
	}
	if c.MaxConnsPerHost < 0 {
		errs = append(errs, fmt.Errorf("max connections per host %d: want >= 0", c.MaxConnsPerHost))
	}
	return errors.Join(errs...)
}

// clientOptions are the parts of HTTPConfig every request reads, shared by the users
// of a worker.
type clientOptions struct {
	maxBody     int64 // <= 0: no cap
	timings     bool
	server      bool          // read the server's own timing: timings or serverName
	serverName  string        // canonical header name, "" when none was configured
	serverScale time.Duration // unit of a bare number in serverName
	trace       bool          // a traceparent on every request
	traceSample float64
}

func (c HTTPConfig) options() *clientOptions {
	o := &clientOptions{maxBody: c.MaxBody, timings: c.Timings, trace: c.TraceContext, traceSample: c.TraceSample}
	if o.maxBody == 0 {
		o.maxBody = DefaultMaxBody
	}
	o.serverName, o.serverScale, _ = parseServerTimeHeader(c.ServerTimeHeader)
	o.server = o.timings || o.serverName != ""
	return o
}

// httpStack is what a Runner's users share: the options and the connection pool of
// the chosen client. Each user gets its own sender from it (its cookie jar).
type httpStack struct {
	opts *clientOptions
	net  *http.Transport // ClientNetHTTP
	fast *fastPool       // ClientFast
}

// newHTTPStack builds the stack cfg asks for; tr, when not nil, is the net/http
// transport to use (the caller owns it).
func newHTTPStack(cfg HTTPConfig, tr *http.Transport) (*httpStack, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st := &httpStack{opts: cfg.options()}
	conns := cfg.MaxConnsPerHost
	if conns == 0 {
		conns = 1024
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // the user's explicit choice
	if cfg.Client == ClientNetHTTP {
		if tr == nil { // a transport the caller gives is used as it is
			tr = NewTransport(conns)
			tr.TLSClientConfig = tlsConf
		}
		st.net = tr
		return st, nil
	}
	st.fast = newFastPool(tlsConf, conns)
	return st, nil
}

// newSender is one user's sender.
func (st *httpStack) newSender() sender {
	if st.net != nil {
		return newNetHTTP(st.net, st.opts)
	}
	return newFastSender(st.fast, st.opts)
}

// closeIdle closes the connections no request uses; the stack stays usable.
func (st *httpStack) closeIdle() {
	if st.net != nil {
		st.net.CloseIdleConnections()
	}
	if st.fast != nil {
		st.fast.closeIdle()
	}
}

// parseServerTimeHeader reads "Name" or "Name:unit".
func parseServerTimeHeader(spec string) (string, time.Duration, error) {
	if spec == "" {
		return "", 0, nil
	}
	name, unit, _ := strings.Cut(spec, ":")
	name = strings.TrimSpace(name)
	scale := time.Second
	switch strings.TrimSpace(unit) {
	case "", "s":
	case "ms":
		scale = time.Millisecond
	case "us", "µs":
		scale = time.Microsecond
	default:
		return "", 0, fmt.Errorf("server time header %q: unit %q, want s, ms or us", spec, unit)
	}
	if name == "" || strings.ContainsAny(name, " \t\r\n:") {
		return "", 0, fmt.Errorf("server time header %q: want a header name, optionally with :s, :ms or :us", spec)
	}
	return http.CanonicalHeaderKey(name), scale, nil
}
