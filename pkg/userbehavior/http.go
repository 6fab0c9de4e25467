package userbehavior

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// Request is one HTTP request made by a task.
type Request struct {
	Method string
	// URL is absolute, or a path (with query) resolved against the host.
	URL string
	// Name is the statistics row; by default the URL's path and query. Give one to
	// group dynamic URLs: "/item/[id]".
	Name    string
	Header  http.Header
	Query   url.Values
	Body    []byte
	Timeout time.Duration // 0: the client's default
	// Accept decides whether a status is a success; nil accepts status < 400.
	Accept func(status int) bool
	// NoRedirects returns 3xx responses as they are instead of following them.
	NoRedirects bool
	// Discard counts the body's bytes without keeping them: Response.Body and
	// Response.Header stay nil. The body cap (HTTPConfig.MaxBody) still applies.
	Discard bool
	// Deferred measures the request but leaves recording to the caller, who may
	// change the verdict with Response.Fail or Response.Succeed and must then call
	// Response.Commit.
	Deferred bool
	// LazyHeader keeps the final response's header as it came, in one copy shared
	// with the body, and leaves Response.Header nil until Response.Headers is called:
	// for a caller that seldom reads headers (a script). With the nethttp client the
	// header is already parsed and Response.Header is set as usual.
	LazyHeader bool
	// OnChunk, when set, receives the body as it arrives instead of Body: each read
	// chunk, or with SSE each event's data. Time to first chunk is recorded under
	// method "TTFC" and every gap between chunks under "ICL", both with the request's
	// name. An error from OnChunk ends the read and fails the request. The chunk is
	// only valid during the call.
	OnChunk func(chunk []byte) error
	// SSE parses the body as server-sent events (OnChunk gets each event's data).
	SSE bool

	noChunkRows bool // Generate records rows of its own (TTFT, ITL) instead
}

// Response is what a task gets back. Err is set when the request was recorded as a
// failure: a transport error, a status the request did not accept, or a body cut short.
type Response struct {
	Status  int
	Header  http.Header
	Body    []byte
	Size    int64         // body bytes received
	Elapsed time.Duration // until the body was read
	TTFB    time.Duration // until the response headers arrived
	Err     error

	trace      traceContext // the traceparent the client added (HTTPConfig.TraceContext)
	rawHeader  []byte       // with Request.LazyHeader: the header, encoded by appendRawHeader
	headersAt  time.Time
	chunkTimes []time.Time
	conn       connTimes // set by the sender when the request opened connections
	serverTime time.Duration
	hasServer  bool                // the target reported serverTime
	rec        *aggregate.Recorder // set while a deferred request awaits Commit
	sample     aggregate.Sample
	end        time.Time
	committed  bool
}

// connTimes is what opening new connections cost one request (a redirect may open
// more than one): the TCP connect and the TLS handshake, summed.
type connTimes struct {
	opened     int
	connect    time.Duration
	tls        time.Duration
	tlsStarted bool
}

// OK reports whether the request counts as a success.
func (r *Response) OK() bool { return r.Err == nil }

// Headers returns the response's header: Header, made from the header kept as it
// came on the first call when the request asked for a LazyHeader.
func (r *Response) Headers() http.Header {
	if r.Header == nil && r.rawHeader != nil {
		r.Header = parseRawHeader(r.rawHeader)
		r.rawHeader = nil
	}
	return r.Header
}

// Fail marks the response failed with msg, whatever its status.
func (r *Response) Fail(msg string) { r.Err = errors.New(msg) }

// Succeed marks the response successful, whatever its status (an expected 404).
func (r *Response) Succeed() { r.Err = nil }

// Commit records a deferred response with its final verdict; later calls do nothing.
func (r *Response) Commit() {
	if r.rec == nil || r.committed {
		return
	}
	r.committed = true
	r.sample.Err = ""
	if r.Err != nil {
		r.sample.Err = r.Err.Error()
	}
	r.rec.Record(r.sample, r.end)
}

// sender sends one request and fills resp: the seam where the HTTP implementation is
// chosen by measurement, without touching tasks or the recorder. timeout > 0 bounds
// the whole request from start (when the client began it); ctx ending aborts it.
type sender interface {
	send(ctx context.Context, req *Request, target *url.URL, start time.Time, timeout time.Duration, resp *Response) error
}

// HTTPClient is a user's HTTP session: its own cookie jar, keep-alive connections from
// the worker's shared pool, and every request recorded under its name.
type HTTPClient struct {
	base    *url.URL
	rec     *aggregate.Recorder
	s       sender
	timeout time.Duration
	opts    *clientOptions // shared by the worker's users; nil: defaults
	last    *resolved      // the last request's URL, resolved: most tasks repeat theirs
	scratch *Response      // the response of send, reused
}

// resolved is a request URL resolved against the host, with its default row name.
type resolved struct {
	url    string
	target *url.URL
	name   string
}

// Do sends req and records it. It never returns nil.
func (c *HTTPClient) Do(ctx context.Context, req *Request) *Response {
	resp := &Response{}
	c.do(ctx, req, resp)
	return resp
}

// DoInto is Do into a Response the caller provides, which it overwrites: for a
// caller that keeps the response inside a value of its own (one allocation, not two).
func (c *HTTPClient) DoInto(ctx context.Context, req *Request, resp *Response) {
	*resp = Response{}
	c.do(ctx, req, resp)
}

// send is Do for a caller that reads nothing of the response (the plain user): the
// client reuses one Response, so the request allocates nothing of its own.
func (c *HTTPClient) send(ctx context.Context, req *Request) {
	if req.Deferred {
		c.Do(ctx, req)
		return
	}
	if c.scratch == nil {
		c.scratch = new(Response)
	}
	r := c.scratch
	*r = Response{chunkTimes: r.chunkTimes[:0]}
	c.do(ctx, req, r)
}

// close ends what the client holds for its user: it is gone.
func (c *HTTPClient) close() {
	if cl, ok := c.s.(interface{ close() }); ok {
		cl.close()
	}
}

func (c *HTTPClient) do(ctx context.Context, req *Request, resp *Response) {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	target, sent, err := c.resolve(req)
	name := sent
	if req.Name != "" {
		name = req.Name
	}
	if name == "" {
		name = req.URL
	}
	start := time.Now()
	if err == nil {
		if ctx.Err() != nil {
			err = transportError(ctx.Err())
		} else {
			t := req.Timeout
			if t == 0 {
				t = c.timeout
			}
			c.opts.traceFor(req, resp)
			err = c.s.send(ctx, req, target, start, t, resp)
		}
	}
	end := time.Now()
	resp.Elapsed = end.Sub(start)
	if !resp.headersAt.IsZero() {
		resp.TTFB = resp.headersAt.Sub(start)
	}
	if err != nil && StoppedAtStop(ctx) {
		// Cut by the run's stop: counted apart, neither a success nor a failure.
		resp.Err = ErrStopped
		c.rec.Count(aggregate.CancelledCounter, 1)
		return
	}
	switch {
	case err != nil:
		resp.Err = err
	case req.Accept != nil && !req.Accept(resp.Status):
		resp.Err = fmt.Errorf("HTTP %d %s (not accepted)", resp.Status, http.StatusText(resp.Status))
	case req.Accept == nil && resp.Status >= 400:
		resp.Err = fmt.Errorf("HTTP %d %s", resp.Status, http.StatusText(resp.Status))
	}
	resp.sample = aggregate.Sample{
		Endpoint: aggregate.Endpoint{Method: method, Name: name},
		Latency:  resp.Elapsed,
		Bytes:    resp.Size,
	}
	resp.sample.URL = askedURL(req, target, sent) // the slowest-requests view shows what was really asked
	if resp.trace.set {
		resp.sample.TraceID = resp.trace.id
	}
	resp.end = end
	resp.rec = c.rec
	c.recordTimings(name, resp)
	if req.OnChunk != nil && !req.noChunkRows {
		c.recordChunks(name, start, resp)
	}
	if !req.Deferred {
		resp.Commit()
	}
}

// askedURL is the URL a request asked for, as the slowest-requests view shows it,
// whatever its method and row name: an absolute URL as the user wrote it, a
// relative one as the path and query sent (sent, resolve's name); the query its
// parameters added included. It allocates only for an absolute URL with
// parameters, which allocated already.
func askedURL(req *Request, target *url.URL, sent string) string {
	if target == nil || !strings.HasPrefix(req.URL, "http://") && !strings.HasPrefix(req.URL, "https://") {
		if sent == "" {
			return req.URL
		}
		return sent
	}
	if len(req.Query) > 0 {
		return target.String()
	}
	return req.URL
}

// recordTimings records the parts of a request the client saw, each as its own row
// under the request's name so that the request's own row stays the whole request.
// With HTTPConfig.Timings: a new connection's connect and TLS handshake ("CONNECT",
// "TLS") and time to first byte ("TTFB"). With Timings or a ServerTimeHeader: the
// time the target says it spent ("SERVER"), when it says so. Off by default: these
// rows are not requests, yet aggregate.Snapshot.Total counts every row.
func (c *HTTPClient) recordTimings(name string, resp *Response) {
	o := c.opts
	if o == nil || !o.timings && !resp.hasServer {
		return
	}
	at := resp.end
	if o.timings && resp.conn.opened > 0 {
		c.rec.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: "CONNECT", Name: name}, Latency: resp.conn.connect}, at)
		if resp.conn.tlsStarted {
			c.rec.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: "TLS", Name: name}, Latency: resp.conn.tls}, at)
		}
	}
	if resp.headersAt.IsZero() {
		return
	}
	if o.timings {
		c.rec.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: "TTFB", Name: name}, Latency: resp.TTFB}, at)
	}
	if resp.hasServer {
		c.rec.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: "SERVER", Name: name}, Latency: resp.serverTime}, at)
	}
}

// recordChunks records time to first chunk (TTFC) and the gaps between chunks (ICL,
// inter-chunk latency: a chunk may carry several tokens; model requests record
// per-token ITL through Generate).
func (c *HTTPClient) recordChunks(name string, start time.Time, resp *Response) {
	prev := start
	method := "TTFC"
	for _, at := range resp.chunkTimes {
		c.rec.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: method, Name: name}, Latency: at.Sub(prev)}, at)
		prev, method = at, "ICL"
	}
}

// Get is Do with method GET.
func (c *HTTPClient) Get(ctx context.Context, url string) *Response {
	return c.Do(ctx, &Request{Method: http.MethodGet, URL: url})
}

// Post is Do with method POST and a body.
func (c *HTTPClient) Post(ctx context.Context, url, contentType string, body []byte) *Response {
	return c.Do(ctx, &Request{Method: http.MethodPost, URL: url, Body: body,
		Header: http.Header{"Content-Type": {contentType}}})
}

// resolve returns req's absolute URL and its default row name (path and query). A
// URL that is not absolute is joined onto the host's base path, as Locust does:
// with host http://h/api/v1, "/hello" and "hello" both ask for /api/v1/hello (not
// RFC 3986 resolution, which would drop the base path); an absolute URL is sent as it
// is. A request that repeats the previous one's URL (a plain user's, a task that
// asks for the same path each time) reuses its resolution: senders never change a
// target. A plain path (see plainPath) is joined without parsing.
func (c *HTTPClient) resolve(req *Request) (*url.URL, string, error) {
	if l := c.last; l != nil && l.url == req.URL && len(req.Query) == 0 {
		return l.target, l.name, nil
	}
	if b := c.base; b != nil && b.Opaque == "" && b.RawPath == "" && plainPath(req.URL) {
		// The base's scheme, user and host, its path and then req's: the joined path
		// is its own request URI (the base's path is plain too, or url.Parse would
		// have kept a RawPath).
		path := joinPath(b.Path, req.URL)
		u := &url.URL{Scheme: b.Scheme, User: b.User, Host: b.Host, Path: path}
		if len(req.Query) > 0 {
			u.RawQuery = req.Query.Encode()
			if u.RawQuery != "" {
				return u, path + "?" + u.RawQuery, nil
			}
			return u, path, nil
		}
		c.remember(req.URL, u, path)
		return u, path, nil
	}
	raw := req.URL
	if c.base != nil && !isAbsoluteURL(raw) {
		raw = joinBase(c.base, raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", fmt.Errorf("bad URL: %w", err)
	}
	if !u.IsAbs() {
		if c.base == nil {
			return u, u.RequestURI(), fmt.Errorf("relative URL %q and no host given", req.URL)
		}
		u = c.base.ResolveReference(u) // "//host/path": a URL without its scheme
	}
	if len(req.Query) > 0 {
		q := u.Query()
		for k, vs := range req.Query {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
		u.RawQuery = q.Encode()
		return u, u.RequestURI(), nil
	}
	name := u.RequestURI()
	c.remember(req.URL, u, name)
	return u, name, nil
}

// isAbsoluteURL reports whether raw names its own scheme (http://..., https://...) or
// host (//host/path): then the host's base path does not apply.
func isAbsoluteURL(raw string) bool {
	if strings.HasPrefix(raw, "//") {
		return true
	}
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == ':':
			return i > 0
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return false
}

// joinBase is ref (a path, with query or not) joined onto base's path, as a URL to
// parse: base's scheme, user and host (as written, escapes kept), base's path
// without its trailing slash, one slash, and ref. A ref that is only a query or
// empty keeps base's path as it is.
func joinBase(base *url.URL, ref string) string {
	b := *base
	b.RawQuery, b.Fragment, b.RawFragment, b.ForceQuery = "", "", "", false
	s := b.String()
	if ref == "" || ref[0] == '?' || ref[0] == '#' {
		return s + ref
	}
	return strings.TrimSuffix(s, "/") + "/" + strings.TrimPrefix(ref, "/")
}

// joinPath is the path of a plain ref joined onto base's path, as joinBase does.
func joinPath(base, ref string) string {
	base = strings.TrimSuffix(base, "/")
	if base == "" {
		return ref
	}
	return base + ref
}

func (c *HTTPClient) remember(raw string, target *url.URL, name string) {
	if c.last == nil {
		c.last = &resolved{}
	}
	*c.last = resolved{url: raw, target: target, name: name}
}

// plainPath reports whether raw is an absolute path that url.Parse, ResolveReference
// and RequestURI would leave as it is: it starts with one "/", has no dot segment,
// query, fragment or escape, and only characters a path keeps unescaped.
func plainPath(raw string) bool {
	if len(raw) == 0 || raw[0] != '/' || len(raw) > 1 && raw[1] == '/' {
		return false
	}
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '/':
			if i+1 < len(raw) && (raw[i+1] == '.' || raw[i+1] == '/') {
				return false // a dot segment maybe, or an empty one: leave them to url
			}
		case c == '-', c == '_', c == '.', c == '~':
		default:
			return false
		}
	}
	return true
}

// transportError turns what a sender's transport returned into a message that groups
// failures by their cause: no URL (it is already the row's name), no address or port
// (ephemeral ports would make one row per connection).
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var capErr *bodyCapError
	switch {
	case errors.As(err, &capErr):
		return capErr
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return errors.New("timeout")
	case errors.Is(err, context.Canceled):
		return errors.New("aborted: user stopped")
	case errors.Is(err, errMalformed):
		return errMalformed
	}
	// Before *net.OpError, which wraps it: the resolver's address (and with several
	// resolvers, which one answered) would split one cause into rows.
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Errorf("lookup %s: %s", dnsErr.Name, dnsErr.Err)
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return errors.New("tls: failed to verify certificate: " + certReason(certErr.Err))
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		// "dial tcp 127.0.0.1:8080: connect: connection refused" -> "dial tcp: connect: connection refused"
		msg := oe.Op + " " + oe.Net + ": " + oe.Err.Error()
		return errors.New(strings.TrimSpace(msg))
	}
	if errors.Is(err, syscall.ECONNRESET) {
		return errors.New("connection reset by peer")
	}
	if err == io.EOF {
		return errClosedEarly
	}
	if msg := err.Error(); strings.Contains(msg, "malformed HTTP") {
		return errMalformed // net/http quotes what it read: one row per garbage otherwise
	}
	return err
}

// certReason is why a certificate failed verification, without what changes from
// one request to the next (an expired certificate's message holds the current time).
func certReason(err error) string {
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Reason == x509.Expired {
		return "x509: certificate has expired or is not yet valid"
	}
	return err.Error()
}

var (
	// errMalformed is a response that is not HTTP/1.x.
	errMalformed = errors.New("malformed HTTP response")
	// errClosedEarly is a connection the target closed before it answered.
	errClosedEarly = errors.New("connection closed before the response")
)

// bodyCapError is a response body longer than the client reads.
type bodyCapError struct{ max int64 }

func (e *bodyCapError) Error() string { return "body exceeds " + formatBytes(e.max) + " cap" }

// formatBytes writes n in the largest binary unit that divides it: 10 MiB, 512 KiB.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
