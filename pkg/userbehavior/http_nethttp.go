package userbehavior

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"
)

// netHTTP sends with net/http: one http.Client per user (its cookie jar) over the
// worker's shared, tuned *http.Transport. Every user has one, so it is kept small:
// one allocation, and a jar only once a response sets a cookie.
type netHTTP struct {
	client http.Client // follows redirects; a copy with noRedirects does not
	jar    lazyJar
	opts   *clientOptions
}

func newNetHTTP(t *http.Transport, opts *clientOptions) *netHTTP {
	n := &netHTTP{opts: opts}
	n.client = http.Client{Transport: t, Jar: &n.jar}
	return n
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

// connTrace notes, through httptrace, what opening connections cost a request.
type connTrace struct {
	conn         *connTimes
	connectStart time.Time
	tlsStart     time.Time
	trace        httptrace.ClientTrace
}

func newConnTrace(ct *connTimes) *connTrace {
	t := &connTrace{conn: ct}
	t.trace = httptrace.ClientTrace{
		ConnectStart: func(string, string) { t.connectStart = time.Now() },
		ConnectDone: func(_, _ string, err error) {
			if err == nil && !t.connectStart.IsZero() {
				t.conn.opened++
				t.conn.connect += time.Since(t.connectStart)
			}
		},
		TLSHandshakeStart: func() { t.tlsStart = time.Now() },
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err == nil && !t.tlsStart.IsZero() {
				t.conn.tlsStarted = true
				t.conn.tls += time.Since(t.tlsStart)
			}
		},
	}
	return t
}

func (n *netHTTP) send(ctx context.Context, req *Request, target *url.URL, _ time.Time, timeout time.Duration, resp *Response) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if n.opts.timings {
		ctx = httptrace.WithClientTrace(ctx, &newConnTrace(&resp.conn).trace)
	}
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
	if resp.trace.set {
		hr.Header = hr.Header.Clone() // the request's own header map is the task's
		hr.Header.Set(traceparentHeader, string(resp.trace.header[:]))
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
	if !req.Discard {
		resp.Header = hresp.Header
	}
	if n.opts.server {
		var custom string
		if n.opts.serverName != "" {
			custom = hresp.Header.Get(n.opts.serverName)
		}
		resp.serverTime, resp.hasServer = n.opts.serverTime(custom, hresp.Header.Get("Server-Timing"))
	}
	rd := io.Reader(hresp.Body)
	var capped *io.LimitedReader
	if n.opts.maxBody > 0 {
		capped = &io.LimitedReader{R: hresp.Body, N: n.opts.maxBody + 1}
		rd = capped
	}
	switch {
	case req.OnChunk != nil:
		err = readChunks(rd, req, resp)
	case req.Discard:
		resp.Size, err = io.Copy(io.Discard, rd)
	default:
		resp.Body, err = io.ReadAll(rd)
		resp.Size = int64(len(resp.Body))
	}
	if capped != nil && capped.N == 0 {
		// Past the cap: closing the body unread makes net/http drop the connection.
		if resp.Size > n.opts.maxBody {
			resp.Size = n.opts.maxBody
		}
		if resp.Body != nil {
			resp.Body = resp.Body[:resp.Size]
		}
		return &bodyCapError{max: n.opts.maxBody}
	}
	if err != nil {
		return fmt.Errorf("reading body: %w", transportError(err))
	}
	return nil
}

// NewTransport returns the worker-wide connection pool shared by all users' net/http
// clients.
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
