package userbehavior

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync/atomic"
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
	// Discard counts the body's bytes without keeping them (Response.Body stays nil).
	Discard bool
	// Deferred measures the request but leaves recording to the caller, who may
	// change the verdict with Response.Fail or Response.Succeed and must then call
	// Response.Commit.
	Deferred bool
	// OnChunk, when set, receives the body as it arrives instead of Body: each read
	// chunk, or with SSE each event's data. Time to first chunk is recorded under
	// method "TTFC" and every gap between chunks under "ITL", both with the request's
	// name. An error from OnChunk ends the read and fails the request. The chunk is
	// only valid during the call.
	OnChunk func(chunk []byte) error
	// SSE parses the body as server-sent events (OnChunk gets each event's data).
	SSE bool
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

	headersAt  time.Time
	chunkTimes []time.Time
	rec        *aggregate.Recorder // set while a deferred request awaits Commit
	sample     aggregate.Sample
	end        time.Time
	committed  bool
}

// OK reports whether the request counts as a success.
func (r *Response) OK() bool { return r.Err == nil }

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
// chosen by measurement, without touching tasks or the recorder.
type sender interface {
	send(ctx context.Context, req *Request, target *url.URL, resp *Response) error
}

// HTTPClient is a user's HTTP session: its own cookie jar, keep-alive connections from
// the worker's shared pool, and every request recorded under its name.
type HTTPClient struct {
	base    *url.URL
	rec     *aggregate.Recorder
	s       sender
	timeout time.Duration
}

// Do sends req and records it. It never returns nil.
func (c *HTTPClient) Do(ctx context.Context, req *Request) *Response {
	resp := &Response{}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	target, err := c.resolve(req)
	name := req.Name
	if name == "" && target != nil {
		name = target.RequestURI()
	}
	if name == "" {
		name = req.URL
	}
	start := time.Now()
	if err == nil {
		if req.Timeout > 0 || c.timeout > 0 {
			t := req.Timeout
			if t == 0 {
				t = c.timeout
			}
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, t)
			defer cancel()
		}
		err = c.s.send(ctx, req, target, resp)
	}
	end := time.Now()
	resp.Elapsed = end.Sub(start)
	if !resp.headersAt.IsZero() {
		resp.TTFB = resp.headersAt.Sub(start)
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
	if req.URL != name {
		resp.sample.URL = req.URL // the slowest-requests view shows what was really asked
	}
	resp.end = end
	resp.rec = c.rec
	if req.OnChunk != nil {
		c.recordChunks(name, start, resp)
	}
	if !req.Deferred {
		resp.Commit()
	}
	return resp
}

// recordChunks records time to first chunk and the gaps between chunks.
func (c *HTTPClient) recordChunks(name string, start time.Time, resp *Response) {
	prev := start
	method := "TTFC"
	for _, at := range resp.chunkTimes {
		c.rec.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: method, Name: name}, Latency: at.Sub(prev)}, at)
		prev, method = at, "ITL"
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

func (c *HTTPClient) resolve(req *Request) (*url.URL, error) {
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, fmt.Errorf("bad URL: %w", err)
	}
	if !u.IsAbs() {
		if c.base == nil {
			return u, fmt.Errorf("relative URL %q and no host given", req.URL)
		}
		u = c.base.ResolveReference(u)
	}
	if len(req.Query) > 0 {
		q := u.Query()
		for k, vs := range req.Query {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
		u.RawQuery = q.Encode()
	}
	return u, nil
}

// netHTTP sends with net/http: one http.Client per user (its cookie jar) over the
// worker's shared, tuned *http.Transport. Every user has one, so it is kept small:
// one allocation, and a jar only once a response sets a cookie.
type netHTTP struct {
	client http.Client // follows redirects; a copy with noRedirects does not
	jar    lazyJar
}

func newNetHTTP(t *http.Transport) (*netHTTP, error) {
	n := &netHTTP{}
	n.client = http.Client{Transport: t, Jar: &n.jar}
	return n, nil
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// lazyJar is a user's cookie jar, made when the first cookie is set: most users of a
// load test never get one, and an empty cookiejar.Jar costs every user ~200 bytes.
type lazyJar struct {
	jar atomic.Pointer[cookiejar.Jar]
}

func (j *lazyJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	jar := j.jar.Load()
	if jar == nil {
		if len(cookies) == 0 {
			return
		}
		jar, _ = cookiejar.New(nil) // fails only with a PublicSuffixList
		if !j.jar.CompareAndSwap(nil, jar) {
			jar = j.jar.Load()
		}
	}
	jar.SetCookies(u, cookies)
}

func (j *lazyJar) Cookies(u *url.URL) []*http.Cookie {
	if jar := j.jar.Load(); jar != nil {
		return jar.Cookies(u)
	}
	return nil
}

func (n *netHTTP) send(ctx context.Context, req *Request, target *url.URL, resp *Response) error {
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, target.String(), body)
	if err != nil {
		return err
	}
	if req.Method == "" {
		hr.Method = http.MethodGet
	}
	for k, vs := range req.Header {
		hr.Header[k] = vs
	}
	if h := req.Header.Get("Host"); h != "" {
		hr.Host = h
	}
	client := &n.client
	if req.NoRedirects {
		c := n.client
		c.CheckRedirect = noRedirects
		client = &c
	}
	hresp, err := client.Do(hr)
	if err != nil {
		return transportError(err)
	}
	defer hresp.Body.Close()
	resp.headersAt = time.Now()
	resp.Status = hresp.StatusCode
	resp.Header = hresp.Header
	switch {
	case req.OnChunk != nil:
		err = readChunks(hresp.Body, req, resp)
	case req.Discard:
		resp.Size, err = io.Copy(io.Discard, hresp.Body)
	default:
		resp.Body, err = io.ReadAll(hresp.Body)
		resp.Size = int64(len(resp.Body))
	}
	if err != nil {
		return fmt.Errorf("reading body: %w", transportError(err))
	}
	return nil
}

// transportError drops the URL that net/http wraps around every error, so failures
// group by their cause, not by the URL (which is already the row's name).
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("timeout")
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("aborted: user stopped")
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		// "dial tcp 127.0.0.1:8080: connect: connection refused" -> "dial tcp: connect: connection refused"
		msg := oe.Op + " " + oe.Net + ": " + oe.Err.Error()
		return errors.New(strings.TrimSpace(msg))
	}
	return err
}

// NewTransport returns the worker-wide connection pool shared by all users' clients.
func NewTransport(maxConnsPerHost int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: maxConnsPerHost,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		DisableCompression:  true,
	}
}
