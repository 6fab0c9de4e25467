package userbehavior

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// The fasthttp sender: fasthttp's request writer and response parser (no allocation
// per request once warm) over a connection pool of our own. The pool is ours, not
// fasthttp's HostClient, because a request must end when its user's context does
// (Runner.Kill, StopAll past its deadline) and fasthttp knows only deadlines: here
// each request owns its connection, so cancelling sets that connection's deadline in
// the past. Owning the dial also gives the connect and TLS times of new connections.

const (
	fastIdleTimeout = 90 * time.Second // an idle connection older than this is closed, not reused
	fastDialTimeout = 10 * time.Second
	fastBufferSize  = 4096
	maxRedirects    = 10
	// fastRetries is how often a request that failed on a reused connection before
	// any byte of its response came is sent again on another one: the target closed
	// the idle connection (keepalive_timeout, keepalive_requests) as we sent.
	fastRetries = 2
)

// aLongTimeAgo is a deadline in the past: it ends a blocked read or write at once.
var aLongTimeAgo = time.Unix(1, 0)

// fastPool is the worker's keep-alive connections, per target host, shared by all
// its users. Safe for concurrent use.
type fastPool struct {
	tlsConf *tls.Config // template; per host with ServerName set
	maxIdle int         // idle connections kept per host
	dialer  net.Dialer

	mu    sync.RWMutex
	hosts map[hostKey]*fastHost
}

type hostKey struct {
	tls  bool
	host string // url.URL.Host as written
}

// fastHost is one target host's idle connections, most recently used last.
type fastHost struct {
	addr    string // host:port to dial
	tlsConf *tls.Config

	mu   sync.Mutex
	idle []*fastConn
}

func newFastPool(tlsConf *tls.Config, maxIdle int) *fastPool {
	tc := tlsConf.Clone()
	tc.NextProtos = []string{"http/1.1"} // fasthttp speaks HTTP/1.1 only
	return &fastPool{
		tlsConf: tc,
		maxIdle: maxIdle,
		dialer:  net.Dialer{Timeout: fastDialTimeout, KeepAlive: 30 * time.Second},
		hosts:   map[hostKey]*fastHost{},
	}
}

func (p *fastPool) host(u *url.URL) (*fastHost, error) {
	k := hostKey{tls: u.Scheme == "https", host: u.Host}
	p.mu.RLock()
	h := p.hosts[k]
	p.mu.RUnlock()
	if h != nil {
		return h, nil
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("unsupported protocol scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("no host in request URL")
	}
	port := u.Port()
	if port == "" {
		port = map[bool]string{false: "80", true: "443"}[k.tls]
	}
	h = &fastHost{addr: net.JoinHostPort(u.Hostname(), port)}
	if k.tls {
		h.tlsConf = p.tlsConf.Clone()
		if h.tlsConf.ServerName == "" {
			h.tlsConf.ServerName = u.Hostname()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.hosts[k]; old != nil {
		return old, nil
	}
	p.hosts[k] = h
	return h, nil
}

// get returns an idle connection to h, or nil when there is none fit to reuse.
func (h *fastHost) get(now time.Time) *fastConn {
	for {
		h.mu.Lock()
		n := len(h.idle)
		if n == 0 {
			h.mu.Unlock()
			return nil
		}
		c := h.idle[n-1]
		h.idle[n-1] = nil
		h.idle = h.idle[:n-1]
		h.mu.Unlock()
		if now.Sub(c.lastUse) < fastIdleTimeout {
			return c
		}
		c.Close()
	}
}

// put makes c idle, or closes it when the host has enough idle connections.
func (h *fastHost) put(c *fastConn, max int, now time.Time) {
	c.lastUse = now
	h.mu.Lock()
	if len(h.idle) < max {
		h.idle = append(h.idle, c)
		c = nil
	}
	h.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// closeIdle closes every idle connection; requests in flight keep theirs.
func (p *fastPool) closeIdle() {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, h := range p.hosts {
		h.mu.Lock()
		idle := h.idle
		h.idle = nil
		h.mu.Unlock()
		for _, c := range idle {
			c.Close()
		}
	}
}

// dial opens a connection to h, noting in ct how long the connect and the TLS
// handshake took.
func (p *fastPool) dial(ctx context.Context, h *fastHost, deadline time.Time, ct *connTimes) (*fastConn, error) {
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	start := time.Now()
	raw, err := p.dialer.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		return nil, err
	}
	connected := time.Now()
	ct.opened++
	ct.connect += connected.Sub(start)
	var conn net.Conn = raw
	if h.tlsConf != nil {
		tc := tls.Client(raw, h.tlsConf)
		ct.tlsStarted = true
		err := tc.HandshakeContext(ctx)
		ct.tls += time.Since(connected)
		if err != nil {
			raw.Close()
			return nil, err
		}
		conn = tc
	}
	c := &fastConn{Conn: conn, fresh: true}
	c.br = bufio.NewReaderSize(c, fastBufferSize)
	c.bw = bufio.NewWriterSize(conn, fastBufferSize)
	return c, nil
}

// fastConn is one connection with its buffers. It counts what it reads and keeps
// the last read error: fasthttp reports any failure before a response's first byte
// as io.EOF, and the cause (a reset, a deadline) is what the user should see.
type fastConn struct {
	net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	lastUse time.Time
	read    int64
	readErr error
	fresh   bool // not yet used by a request
}

func (c *fastConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read += int64(n)
	if err != nil {
		c.readErr = err
	}
	return n, err
}

// fastSender is one user's fasthttp session: its cookie jar over the worker's pool.
type fastSender struct {
	pool *fastPool
	opts *clientOptions
	jar  lazyJar
	// The last target and its string: a plain user asks for the same URL each time.
	lastTarget *url.URL
	lastURI    string
	watch      abortWatch
	headerLen  int // of the last header kept with LazyHeader: the next one's likely size
}

// abortWatch aborts a sender's request in flight when the context it runs under
// ends, by setting its connection's deadline in the past. It stays registered with
// the context across requests (a user runs under one context for its whole life),
// so a request pays two uncontended lock operations, not a context.AfterFunc.
type abortWatch struct {
	mu      sync.Mutex
	done    <-chan struct{} // of the context watched; nil: none
	stop    func() bool
	cur     *fastConn // in flight
	aborted bool      // the context ended while cur was in flight
}

// begin watches ctx for the request about to use c.
func (w *abortWatch) begin(ctx context.Context, c *fastConn) {
	done := ctx.Done()
	if done == nil {
		return // a context that never ends
	}
	w.mu.Lock()
	if done != w.done { // contexts that share a done channel end together
		if w.stop != nil {
			w.stop()
		}
		w.done, w.stop = done, context.AfterFunc(ctx, w.fire)
	}
	w.cur, w.aborted = c, false
	w.mu.Unlock()
}

func (w *abortWatch) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done, w.stop = nil, nil // fired: a later request registers again
	if w.cur != nil {
		w.aborted = true
		w.cur.SetDeadline(aLongTimeAgo)
	}
}

// end reports whether the request's connection was aborted: it must not be reused.
func (w *abortWatch) end() bool {
	w.mu.Lock()
	aborted := w.aborted
	w.cur, w.aborted = nil, false
	w.mu.Unlock()
	return aborted
}

// close stops watching: the user is gone.
func (w *abortWatch) close() {
	w.mu.Lock()
	if w.stop != nil {
		w.stop()
	}
	w.done, w.stop = nil, nil
	w.mu.Unlock()
}

func (s *fastSender) close() { s.watch.close() }

func newFastSender(p *fastPool, opts *clientOptions) *fastSender {
	return &fastSender{pool: p, opts: opts}
}

// fastExchange is one request/response on the wire, the state send and roundTrip
// share while redirects are followed.
type fastExchange struct {
	ctx      context.Context
	start    time.Time
	deadline time.Time
	host     string // of the first hop: headers for it only go to it
	req      *Request
	resp     *Response
	freq     *fasthttp.Request
	fresp    *fasthttp.Response
}

func (s *fastSender) send(ctx context.Context, req *Request, target *url.URL, start time.Time, timeout time.Duration, resp *Response) error {
	x := fastExchange{ctx: ctx, start: start, host: target.Host, req: req, resp: resp, freq: fasthttp.AcquireRequest(), fresp: fasthttp.AcquireResponse()}
	defer func() {
		fasthttp.ReleaseRequest(x.freq)
		fasthttp.ReleaseResponse(x.fresp)
	}()
	if timeout > 0 {
		x.deadline = start.Add(timeout)
	}
	if d, ok := ctx.Deadline(); ok && (x.deadline.IsZero() || d.Before(x.deadline)) {
		x.deadline = d
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	body := req.Body
	u := target
	for hops := 0; ; hops++ {
		s.build(&x, method, u, body)
		status, err := s.roundTrip(&x, u, method)
		if err != nil {
			return err
		}
		next, redirect := u, false
		if !req.NoRedirects {
			next, redirect, err = redirectTarget(u, status, x.fresp)
			if err != nil {
				return err
			}
		}
		if !redirect {
			return nil
		}
		if hops == maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		if status == http.StatusMovedPermanently || status == http.StatusFound || status == http.StatusSeeOther {
			if method != http.MethodHead {
				method = http.MethodGet
			}
			body = nil
		}
		u = next
	}
}

// redirectTarget says where a redirect response sends the client, as net/http
// follows them: 301, 302, 303, 307 and 308 with a Location.
func redirectTarget(u *url.URL, status int, fresp *fasthttp.Response) (*url.URL, bool, error) {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
	default:
		return u, false, nil
	}
	loc := fresp.Header.Peek("Location")
	if len(loc) == 0 {
		return u, false, nil
	}
	next, err := u.Parse(string(loc))
	if err != nil {
		return nil, false, fmt.Errorf("redirect to a bad Location: %w", err)
	}
	return next, true, nil
}

// build fills x.freq for one hop.
func (s *fastSender) build(x *fastExchange, method string, u *url.URL, body []byte) {
	f := x.freq
	f.Reset()
	f.Header.SetNoDefaultContentType(true)
	f.Header.SetMethod(method)
	if u != s.lastTarget {
		s.lastTarget, s.lastURI = u, u.String()
	}
	f.SetRequestURI(s.lastURI)
	f.URI().DisablePathNormalizing = true // ask for exactly what the task asked for
	sameHost := u.Host == x.host
	for k, vs := range x.req.Header {
		if k == "Host" {
			if len(vs) > 0 && sameHost {
				f.UseHostHeader = true
				f.Header.SetHost(vs[0])
			}
			continue
		}
		if !sameHost && (k == "Authorization" || k == "Cookie") {
			continue // not to another host on a redirect, as net/http
		}
		for _, v := range vs {
			f.Header.Add(k, v)
		}
	}
	if x.resp.trace.set {
		f.Header.SetBytesV(traceparentHeader, x.resp.trace.header[:])
	}
	for _, c := range s.jar.Cookies(u) {
		f.Header.SetCookie(c.Name, c.Value)
	}
	if body != nil {
		f.SetBodyRaw(body)
	}
}

// roundTrip sends x.freq to u on a connection of the pool and reads the response:
// its body too, into x.resp when this is not a redirect to follow. It returns the
// status.
func (s *fastSender) roundTrip(x *fastExchange, u *url.URL, method string) (int, error) {
	h, err := s.pool.host(u)
	if err != nil {
		return 0, err
	}
	for attempt := 0; ; attempt++ {
		c := h.get(x.start)
		if c == nil {
			if c, err = s.pool.dial(x.ctx, h, x.deadline, &x.resp.conn); err != nil {
				return 0, transportError(ctxErr(x.ctx, err))
			}
		}
		status, retry, err := s.exchange(x, h, c, u, method)
		if err == nil || !retry || attempt == fastRetries {
			return status, err
		}
	}
}

// ctxErr prefers the context's end to the error it caused.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// exchange is one request on connection c, which it puts back in the pool or
// closes. retry is true when the request failed on a reused connection before any
// byte of the response came, and may be sent again.
func (s *fastSender) exchange(x *fastExchange, h *fastHost, c *fastConn, u *url.URL, method string) (status int, retry bool, err error) {
	reused := !c.fresh
	c.fresh = false
	c.readErr = nil
	if err := c.SetDeadline(x.deadline); err != nil {
		c.Close()
		return 0, reused, transportError(err)
	}
	s.watch.begin(x.ctx, c)
	keep := false
	defer func() {
		// A connection whose abort ran must not serve another request.
		if s.watch.end() {
			keep = false
		}
		if keep {
			h.put(c, s.pool.maxIdle, x.resp.headersAt)
		} else {
			c.Close()
		}
	}()

	readBefore := c.read
	if err := x.freq.Write(c.bw); err != nil {
		return 0, false, fmt.Errorf("writing request: %w", err)
	}
	if err := c.bw.Flush(); err != nil {
		return 0, reused && idempotent(method) && x.ctx.Err() == nil && !isTimeout(err), s.wireError(x, c, err)
	}
	fresp := x.fresp
	fresp.Reset()
	fresp.Header.SetNoDefaultContentType(true) // no Content-Type the target did not send
	if err := readHeader(c.br, fresp); err != nil {
		nothing := c.read == readBefore
		e := s.wireError(x, c, err)
		return 0, reused && nothing && idempotent(method) && x.ctx.Err() == nil && !errors.Is(e, errTimeout), e
	}
	resp := x.resp
	status = fresp.StatusCode()
	resp.headersAt = time.Now()
	s.storeCookies(u, fresp)
	noBody := method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified
	final := x.req.NoRedirects || !isRedirectStatus(status) || len(fresp.Header.Peek("Location")) == 0
	if final {
		resp.Status = status
		s.readMeta(x)
	}
	switch {
	case noBody:
		if final {
			s.keep(x, nil)
		}
	case final && x.req.OnChunk != nil:
		s.keep(x, nil)
		if err := s.stream(x, c); err != nil {
			return status, false, err
		}
	default:
		if err := s.readBody(x, c, final); err != nil {
			return status, false, err
		}
	}
	keep = !fresp.ConnectionClose() && fresp.Header.ContentLength() != -2 // -2: body ended by close
	return status, false, nil
}

var errTimeout = errors.New("timeout")

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readHeader reads a response's header, skipping informational (1xx) responses.
func readHeader(br *bufio.Reader, fresp *fasthttp.Response) error {
	for range 10 {
		if err := fresp.Header.Read(br); err != nil {
			return err
		}
		if st := fresp.StatusCode(); st < 100 || st > 199 || st == http.StatusSwitchingProtocols {
			return nil
		}
	}
	return errMalformed
}

func isRedirectStatus(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// idempotent methods may be sent again after a failure (as fasthttp and net/http do).
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// wireError turns an error of reading or writing c into a grouped message: the
// context's end first, then what the connection itself reported, then fasthttp's
// parse errors as one "malformed HTTP response".
func (s *fastSender) wireError(x *fastExchange, c *fastConn, err error) error {
	if cerr := x.ctx.Err(); cerr != nil {
		return transportError(cerr)
	}
	if c.readErr != nil && c.readErr != io.EOF {
		err = c.readErr
	}
	switch {
	case isTimeout(err) || err == fasthttp.ErrTimeout:
		return errTimeout
	case err == io.EOF:
		return errClosedEarly
	case errors.Is(err, io.ErrUnexpectedEOF):
		return io.ErrUnexpectedEOF
	}
	var oe *net.OpError
	if errors.As(err, &oe) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return transportError(err)
	}
	return errMalformed
}

// readMeta copies what the task may read from the final response's header: the
// header itself (unless discarded) and the server's own timing.
func (s *fastSender) readMeta(x *fastExchange) {
	fh := &x.fresp.Header
	if !x.req.Discard && !x.req.LazyHeader {
		x.resp.Header = headerOf(fh)
	}
	if !s.opts.server {
		return
	}
	var custom, st string
	if s.opts.serverName != "" {
		if v := fh.Peek(s.opts.serverName); len(v) > 0 {
			custom = string(v)
		}
	}
	if v := fh.Peek("Server-Timing"); len(v) > 0 {
		st = string(v)
	}
	if custom != "" || st != "" {
		x.resp.serverTime, x.resp.hasServer = s.opts.serverTime(custom, st)
	}
}

// keep copies what the task may read of the final response (unless it discards
// it): the body, and with a LazyHeader the header too, both in one allocation.
func (s *fastSender) keep(x *fastExchange, body []byte) {
	switch {
	case x.req.Discard:
	case x.req.LazyHeader:
		// One pass over the header, into a buffer sized after the last one: a user
		// asks the same endpoints again and again. A larger header grows it.
		est := s.headerLen
		if est == 0 {
			est = 256
		}
		buf := appendRawHeader(make([]byte, 0, est+len(body)), &x.fresp.Header)
		n := len(buf)
		s.headerLen = n
		buf = append(buf, body...)
		x.resp.rawHeader = buf[:n:n]
		if len(body) > 0 {
			x.resp.Body = buf[n:len(buf):len(buf)]
		}
	case len(body) > 0:
		x.resp.Body = append([]byte(nil), body...)
	}
}

// readBody reads a whole body, up to the cap, into x.resp when final.
func (s *fastSender) readBody(x *fastExchange, c *fastConn, final bool) error {
	fresp := x.fresp
	max := int(s.opts.maxBody)
	if max < 0 {
		max = 0 // fasthttp: no cap
	}
	err := fresp.ReadBody(c.br, max)
	if err == nil && fresp.Header.ContentLength() == -1 {
		err = fresp.Header.ReadTrailer(c.br) // the end of a chunked body
	}
	if final {
		b := fresp.Body()
		x.resp.Size = int64(len(b))
		s.keep(x, b)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		if x.resp.Size > s.opts.maxBody {
			x.resp.Size = s.opts.maxBody
		}
		return &bodyCapError{max: s.opts.maxBody}
	}
	return fmt.Errorf("reading body: %w", s.wireError(x, c, err))
}

// stream hands the body to the request's OnChunk as it arrives.
func (s *fastSender) stream(x *fastExchange, c *fastConn) error {
	fresp := x.fresp
	fresp.StreamBody = true
	if err := fresp.ReadBody(c.br, 0); err != nil {
		return fmt.Errorf("reading body: %w", s.wireError(x, c, err))
	}
	defer fresp.CloseBodyStream()
	rd := fresp.BodyStream()
	var capped *io.LimitedReader
	if s.opts.maxBody > 0 {
		capped = &io.LimitedReader{R: rd, N: s.opts.maxBody + 1}
		rd = capped
	}
	err := readChunks(rd, x.req, x.resp)
	if capped != nil && capped.N == 0 {
		x.resp.Size = min(x.resp.Size, s.opts.maxBody)
		return &bodyCapError{max: s.opts.maxBody}
	}
	if err != nil {
		if errors.As(err, new(*consumerError)) {
			return fmt.Errorf("reading body: %w", err)
		}
		return fmt.Errorf("reading body: %w", s.wireError(x, c, err))
	}
	return nil
}

// storeCookies keeps the cookies a response sets in the user's jar.
func (s *fastSender) storeCookies(u *url.URL, fresp *fasthttp.Response) {
	var cookies []*http.Cookie
	for _, v := range fresp.Header.Cookies() {
		if c, err := http.ParseSetCookie(string(v)); err == nil {
			cookies = append(cookies, c)
		}
	}
	if len(cookies) > 0 {
		s.jar.SetCookies(u, cookies)
	}
}

// headerOf copies a response header into an http.Header in four allocations, however
// many fields it has: every name and value is a slice of one string, every field's
// values a slice of one array.
func headerOf(fh *fasthttp.ResponseHeader) http.Header {
	n, size := 0, 0
	for k, v := range fh.All() {
		n++
		size += len(k) + len(v)
	}
	buf := make([]byte, 0, size)
	for k, v := range fh.All() {
		buf = append(append(buf, k...), v...)
	}
	all := string(buf)
	values := make([]string, n)
	h := make(http.Header, n)
	off, i := 0, 0
	for k, v := range fh.All() {
		key := all[off : off+len(k)]
		off += len(k)
		values[i] = all[off : off+len(v)]
		off += len(v)
		if vs, ok := h[key]; ok {
			h[key] = append(vs, values[i])
		} else {
			h[key] = values[i : i+1 : i+1]
		}
		i++
	}
	return h
}

// A header kept as it came (Request.LazyHeader) is its fields in fasthttp's order,
// each name and each value preceded by its length as a uvarint. parseRawHeader makes
// the same http.Header as headerOf from it.

func appendRawHeader(buf []byte, fh *fasthttp.ResponseHeader) []byte {
	for k, v := range fh.All() {
		buf = append(binary.AppendUvarint(buf, uint64(len(k))), k...)
		buf = append(binary.AppendUvarint(buf, uint64(len(v))), v...)
	}
	return buf
}

// parseRawHeader reads what appendRawHeader wrote, in four allocations as headerOf.
func parseRawHeader(raw []byte) http.Header {
	// next returns the string at off and the offset after it; ok is false at the end.
	next := func(all string, off int) (string, int, bool) {
		var l uint64
		for shift := 0; ; shift += 7 {
			if off >= len(all) || shift > 28 {
				return "", 0, false
			}
			b := all[off]
			off++
			l |= uint64(b&0x7f) << shift
			if b < 0x80 {
				break
			}
		}
		if uint64(len(all)-off) < l {
			return "", 0, false
		}
		return all[off : off+int(l)], off + int(l), true
	}
	all := string(raw)
	fields := 0
	for off, ok := 0, true; ok && off < len(all); {
		if _, off, ok = next(all, off); ok {
			_, off, ok = next(all, off)
			if ok {
				fields++
			}
		}
	}
	values := make([]string, fields)
	h := make(http.Header, fields)
	off := 0
	for i := range values {
		var key string
		key, off, _ = next(all, off)
		values[i], off, _ = next(all, off)
		if vs, ok := h[key]; ok {
			h[key] = append(vs, values[i])
		} else {
			h[key] = values[i : i+1 : i+1]
		}
	}
	return h
}
