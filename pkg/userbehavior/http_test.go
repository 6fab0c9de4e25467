package userbehavior

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// targetHandler is the test target: a few fixed endpoints, under any path prefix.
func targetHandler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		var code int
		fmt.Sscan(r.PathValue("code"), &code)
		w.WriteHeader(code)
		fmt.Fprint(w, "status")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s host=%s x-test=%s ct=%s body=%s",
			r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.Header.Get("X-Test"), r.Header.Get("Content-Type"), body)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 10000))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // answers only when the client gives up
	})
	mux.HandleFunc("/slowbody", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.Write([]byte("0123456789"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		// Promises 100 bytes, sends 10 and hangs up.
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		fmt.Fprint(buf, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
		buf.Flush()
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: r.URL.Query().Get("user"), Path: "/"})
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("session")
		if err != nil {
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, c.Value)
	})
	return http.StripPrefix("/v1", mux) // "/v1/ok" and "/ok" alike
}

// testClient is one user's HTTP client over a shared stack, recording into its own
// collector.
type testClient struct {
	*HTTPClient
	col *aggregate.Collector
}

func newTestClient(t testing.TB, st *httpStack, host string) testClient {
	t.Helper()
	var base *url.URL
	if host != "" {
		var err error
		if base, err = url.Parse(host); err != nil {
			t.Fatal(err)
		}
	}
	col := aggregate.NewCollector(time.Now())
	return testClient{HTTPClient: &HTTPClient{base: base, rec: col.NewRecorder(), s: st.newSender(),
		timeout: 10 * time.Second, opts: st.opts}, col: col}
}

// recorded flushes the client's recorder and returns what it recorded.
func (c testClient) recorded() *aggregate.Snapshot {
	c.rec.Flush()
	return c.col.Swap(time.Now())
}

// clients are the HTTP clients every client test runs against.
var clients = []string{ClientFast, ClientNetHTTP}

// eachClient runs test once per HTTP client, as a subtest named after it.
func eachClient(t *testing.T, test func(t *testing.T, kind string)) {
	for _, kind := range clients {
		t.Run(kind, func(t *testing.T) { test(t, kind) })
	}
}

// newStack is the shared part of the users' clients (pool, options) of kind.
func newStack(t testing.TB, kind string, cfg ...HTTPConfig) *httpStack {
	t.Helper()
	var c HTTPConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	c.Client = kind
	if c.MaxConnsPerHost == 0 {
		c.MaxConnsPerHost = 16
	}
	st, err := newHTTPStack(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.closeIdle)
	return st
}

func newTarget(t *testing.T) *httptest.Server {
	h := targetHandler(t)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			r.URL.Path = "/v1" + r.URL.Path
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func TestHTTPClientDo(t *testing.T) {
	eachClient(t, func(t *testing.T, kind string) {
		ts := newTarget(t)
		st := newStack(t, kind)
		tests := []struct {
			name     string
			req      Request // URL "ABS" + path: absolute URL at the target
			timeout  time.Duration
			endpoint aggregate.Endpoint
			status   int
			err      string // exact; "" is a success
			body     string // exact, when wantBody
			wantBody bool
			size     int64
		}{
			{name: "named by path and query", req: Request{URL: "/ok?b=2&a=1"},
				endpoint: aggregate.Endpoint{Method: "GET", Name: "/ok?b=2&a=1"}, status: 200, body: "hello", wantBody: true, size: 5},
			{name: "named by Name", req: Request{URL: "/status/204?id=42", Name: "/status/[code]"},
				endpoint: aggregate.Endpoint{Method: "GET", Name: "/status/[code]"}, status: 204, size: 0},
			{name: "absolute URL", req: Request{URL: "ABS/ok?x=1"},
				endpoint: aggregate.Endpoint{Method: "GET", Name: "/ok?x=1"}, status: 200, size: 5},
			{name: "500 fails", req: Request{URL: "/status/500"},
				endpoint: aggregate.Endpoint{Method: "GET", Name: "/status/500"}, status: 500, err: "HTTP 500 Internal Server Error", size: 6},
			{name: "404 fails", req: Request{URL: "/status/404"},
				endpoint: aggregate.Endpoint{Method: "GET", Name: "/status/404"}, status: 404, err: "HTTP 404 Not Found", size: 6},
			{name: "399 succeeds", req: Request{URL: "/status/399"},
				endpoint: aggregate.Endpoint{Method: "GET", Name: "/status/399"}, status: 399, size: 6},
			{name: "Accept turns 404 into success", req: Request{URL: "/status/404", Accept: func(s int) bool { return s == 404 }},
				endpoint: aggregate.Endpoint{Method: "GET", Name: "/status/404"}, status: 404, size: 6},
			{name: "Accept turns 200 into failure", req: Request{URL: "/ok", Accept: func(s int) bool { return s == 201 }},
				endpoint: aggregate.Endpoint{Method: "GET", Name: "/ok"}, status: 200, err: "HTTP 200 OK (not accepted)", size: 5},
			{name: "redirect followed", req: Request{URL: "/redirect"},
				endpoint: aggregate.Endpoint{Method: "GET", Name: "/redirect"}, status: 200, body: "hello", wantBody: true, size: 5},
			{name: "NoRedirects returns the 302", req: Request{URL: "/redirect", NoRedirects: true},
				endpoint: aggregate.Endpoint{Method: "GET", Name: "/redirect"}, status: 302},
			{name: "Discard counts without keeping", req: Request{URL: "/big", Discard: true},
				endpoint: aggregate.Endpoint{Method: "GET", Name: "/big"}, status: 200, body: "", wantBody: true, size: 10000},
			{name: "body kept", req: Request{URL: "/big"},
				endpoint: aggregate.Endpoint{Method: "GET", Name: "/big"}, status: 200, body: string(make([]byte, 10000)), wantBody: true, size: 10000},
			{name: "Query merged", req: Request{URL: "/echo?a=1", Query: url.Values{"b": {"2"}, "a": {"3"}}},
				endpoint: aggregate.Endpoint{Method: "GET", Name: "/echo?a=1&a=3&b=2"}, status: 200,
				body: "GET /echo a=1&a=3&b=2 host=HOST x-test= ct= body=", wantBody: true},
			{name: "method header and body", req: Request{Method: "PUT", URL: "/echo", Body: []byte("payload"),
				Header: http.Header{"X-Test": {"yes"}, "Content-Type": {"text/plain"}}},
				endpoint: aggregate.Endpoint{Method: "PUT", Name: "/echo"}, status: 200,
				body: "PUT /echo  host=HOST x-test=yes ct=text/plain body=payload", wantBody: true},
			{name: "Host header sets the host", req: Request{URL: "/echo", Header: http.Header{"Host": {"example.test"}}},
				endpoint: aggregate.Endpoint{Method: "GET", Name: "/echo"}, status: 200,
				body: "GET /echo  host=example.test x-test= ct= body=", wantBody: true},
			{name: "request timeout", req: Request{URL: "/slow", Timeout: 20 * time.Millisecond},
				endpoint: aggregate.Endpoint{Method: "GET", Name: "/slow"}, err: "timeout"},
			{name: "client timeout", req: Request{URL: "/slow"}, timeout: 20 * time.Millisecond,
				endpoint: aggregate.Endpoint{Method: "GET", Name: "/slow"}, err: "timeout"},
			{name: "body cut short", req: Request{URL: "/short"},
				endpoint: aggregate.Endpoint{Method: "GET", Name: "/short"}, status: 200, err: "reading body: unexpected EOF", size: 10},
			{name: "bad URL", req: Request{URL: "http://[::1"},
				endpoint: aggregate.Endpoint{Method: "GET", Name: "http://[::1"}, err: `bad URL: parse "http://[::1": missing ']' in host`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := newTestClient(t, st, ts.URL)
				if tt.timeout > 0 {
					c.timeout = tt.timeout
				}
				req := tt.req
				req.URL = strings.Replace(req.URL, "ABS", ts.URL, 1)
				resp := c.Do(context.Background(), &req)

				if resp.Status != tt.status {
					t.Errorf("Status = %d, want %d", resp.Status, tt.status)
				}
				if got := errString(resp.Err); got != tt.err {
					t.Errorf("Err = %q, want %q", got, tt.err)
				}
				if resp.OK() != (tt.err == "") {
					t.Errorf("OK() = %v with Err %v", resp.OK(), resp.Err)
				}
				wantBody := strings.ReplaceAll(tt.body, "HOST", strings.TrimPrefix(ts.URL, "http://"))
				if tt.wantBody && string(resp.Body) != wantBody {
					t.Errorf("Body = %q, want %q", resp.Body, wantBody)
				}
				if tt.req.Discard && resp.Body != nil {
					t.Errorf("Discard kept a body of %d bytes", len(resp.Body))
				}
				if tt.size != 0 && resp.Size != tt.size {
					t.Errorf("Size = %d, want %d", resp.Size, tt.size)
				}
				if resp.Elapsed <= 0 {
					t.Errorf("Elapsed = %v, want > 0", resp.Elapsed)
				}
				checkOneRequest(t, c.recorded(), tt.endpoint, resp)
			})
		}
	})
}

// checkOneRequest checks that snap holds exactly resp, recorded under ep.
func checkOneRequest(t *testing.T, snap *aggregate.Snapshot, ep aggregate.Endpoint, resp *Response) {
	t.Helper()
	if len(snap.Endpoints) != 1 {
		t.Fatalf("recorded endpoints %v, want only %v", snap.Names(), ep)
	}
	st := snap.Endpoints[ep]
	if st == nil {
		t.Fatalf("recorded endpoints %v, want %v", snap.Names(), ep)
	}
	wantFailures := uint64(0)
	wantErrors := map[aggregate.ErrorKey]uint64{}
	if resp.Err != nil {
		wantFailures = 1
		wantErrors[aggregate.ErrorKey{Endpoint: ep, Message: resp.Err.Error()}] = 1
	}
	if st.Requests != 1 || st.Failures != wantFailures || st.Bytes != uint64(resp.Size) || st.TotalTime != resp.Elapsed {
		t.Errorf("recorded %d requests, %d failures, %d bytes, %v; want 1, %d, %d, %v",
			st.Requests, st.Failures, st.Bytes, st.TotalTime, wantFailures, resp.Size, resp.Elapsed)
	}
	if len(snap.Errors) != len(wantErrors) {
		t.Errorf("recorded errors %v, want %v", snap.Errors, wantErrors)
	}
	for k, n := range wantErrors {
		if snap.Errors[k] != n {
			t.Errorf("recorded errors %v, want %v", snap.Errors, wantErrors)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestHTTPClientTransportErrorGroups(t *testing.T) {
	eachClient(t, func(t *testing.T, kind string) {
		// Two targets gone: the failures read the same, so they group by cause, and name
		// neither address (the URL is already the row's name).
		st := newStack(t, kind)
		var msgs []string
		for range 2 {
			ts := httptest.NewServer(http.NotFoundHandler())
			addr := ts.Listener.Addr().String()
			ts.Close()
			c := newTestClient(t, st, "")
			resp := c.Get(context.Background(), "http://"+addr+"/x")
			if resp.OK() {
				t.Fatalf("GET at a closed server succeeded")
			}
			msg := resp.Err.Error()
			_, port, _ := strings.Cut(addr, ":")
			if strings.Contains(msg, "127.0.0.1") || strings.Contains(msg, port) || strings.Contains(msg, "/x") {
				t.Errorf("error %q names the address or URL", msg)
			}
			if !strings.Contains(msg, "connection refused") {
				t.Errorf("error %q, want connection refused", msg)
			}
			checkOneRequest(t, c.recorded(), aggregate.Endpoint{Method: "GET", Name: "/x"}, resp)
			msgs = append(msgs, msg)
		}
		if msgs[0] != msgs[1] {
			t.Errorf("errors differ by target: %q vs %q", msgs[0], msgs[1])
		}
	})
}

func TestHTTPClientRelativeURLWithoutHost(t *testing.T) {
	eachClient(t, func(t *testing.T, kind string) {
		c := newTestClient(t, newStack(t, kind), "")
		resp := c.Get(context.Background(), "/x?y=1")
		if want := `relative URL "/x?y=1" and no host given`; errString(resp.Err) != want {
			t.Fatalf("Err = %v, want %q", resp.Err, want)
		}
		checkOneRequest(t, c.recorded(), aggregate.Endpoint{Method: "GET", Name: "/x?y=1"}, resp)
	})
}

func TestHTTPClientAbortedByContext(t *testing.T) {
	eachClient(t, func(t *testing.T, kind string) {
		ts := newTarget(t)
		c := newTestClient(t, newStack(t, kind), ts.URL)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		resp := c.Get(ctx, "/slow")
		if want := "aborted: user stopped"; errString(resp.Err) != want {
			t.Fatalf("Err = %v, want %q", resp.Err, want)
		}
		checkOneRequest(t, c.recorded(), aggregate.Endpoint{Method: "GET", Name: "/slow"}, resp)
	})
}

// expiringCtx is a context whose deadline passes when the test says so.
type expiringCtx struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func newExpiringCtx() *expiringCtx {
	return &expiringCtx{Context: context.Background(), done: make(chan struct{})}
}

func (c *expiringCtx) expire()                     { c.once.Do(func() { close(c.done) }) }
func (c *expiringCtx) Done() <-chan struct{}       { return c.done }
func (c *expiringCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *expiringCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func TestHTTPClientTimeoutReadingBody(t *testing.T) {
	eachClient(t, func(t *testing.T, kind string) {
		// The deadline passes once the headers and the first bytes are in: the request
		// fails as a timeout, with the status and the bytes that came.
		ts := newTarget(t)
		c := newTestClient(t, newStack(t, kind), ts.URL)
		ctx := newExpiringCtx()
		resp := c.Do(ctx, &Request{URL: "/slowbody", OnChunk: func([]byte) error { ctx.expire(); return nil }})
		if resp.Status != 200 || resp.Size != 10 || errString(resp.Err) != "reading body: timeout" {
			t.Errorf("got status %d, %d bytes, error %v; want 200, 10, reading body: timeout", resp.Status, resp.Size, resp.Err)
		}
		snap := c.recorded()
		st := snap.Endpoints[endpoint("GET", "/slowbody")]
		if st == nil || st.Requests != 1 || st.Failures != 1 || st.Bytes != 10 {
			t.Errorf("recorded %+v, want one failure of 10 bytes", st)
		}
		if n := snap.Errors[aggregate.ErrorKey{Endpoint: endpoint("GET", "/slowbody"), Message: "reading body: timeout"}]; n != 1 {
			t.Errorf("errors %v", snap.Errors)
		}
	})
}

func TestHTTPClientCookiesPerUser(t *testing.T) {
	eachClient(t, func(t *testing.T, kind string) {
		ts := newTarget(t)
		st := newStack(t, kind) // users share connections, never cookies
		alice := newTestClient(t, st, ts.URL)
		bob := newTestClient(t, st, ts.URL)
		ctx := context.Background()

		if resp := alice.Get(ctx, "/whoami"); resp.Status != http.StatusUnauthorized {
			t.Fatalf("before login: status %d, want 401", resp.Status)
		}
		if resp := alice.Get(ctx, "/login?user=alice"); !resp.OK() {
			t.Fatalf("login: %v", resp.Err)
		}
		if resp := alice.Get(ctx, "/whoami"); !resp.OK() || string(resp.Body) != "alice" {
			t.Errorf("alice after login: %d %q (%v), want 200 alice", resp.Status, resp.Body, resp.Err)
		}
		if resp := bob.Get(ctx, "/whoami"); resp.Status != http.StatusUnauthorized {
			t.Errorf("bob sees alice's session: %d %q", resp.Status, resp.Body)
		}
		// A cookie set on a redirect's way is kept too.
		if resp := bob.Do(ctx, &Request{URL: "/login?user=bob", NoRedirects: true}); !resp.OK() {
			t.Fatalf("bob login: %v", resp.Err)
		}
		if resp := bob.Get(ctx, "/whoami"); string(resp.Body) != "bob" {
			t.Errorf("bob after login: %q", resp.Body)
		}
		if resp := alice.Get(ctx, "/whoami"); string(resp.Body) != "alice" {
			t.Errorf("alice after bob's login: %q", resp.Body)
		}
	})
}

func TestHTTPClientPost(t *testing.T) {
	eachClient(t, func(t *testing.T, kind string) {
		ts := newTarget(t)
		c := newTestClient(t, newStack(t, kind), ts.URL)
		resp := c.Post(context.Background(), "/echo?q=1", "application/json", []byte(`{"a":1}`))
		want := fmt.Sprintf(`POST /echo q=1 host=%s x-test= ct=application/json body={"a":1}`, strings.TrimPrefix(ts.URL, "http://"))
		if string(resp.Body) != want {
			t.Errorf("Body = %q, want %q", resp.Body, want)
		}
		checkOneRequest(t, c.recorded(), aggregate.Endpoint{Method: "POST", Name: "/echo?q=1"}, resp)
	})
}

func TestHTTPClientBytesAddUp(t *testing.T) {
	eachClient(t, func(t *testing.T, kind string) {
		ts := newTarget(t)
		c := newTestClient(t, newStack(t, kind), ts.URL)
		ctx := context.Background()
		for range 3 {
			c.Do(ctx, &Request{URL: "/big", Discard: true})
		}
		c.Get(ctx, "/ok")
		c.Get(ctx, "/status/500")
		snap := c.recorded()
		big := snap.Endpoints[aggregate.Endpoint{Method: "GET", Name: "/big"}]
		if big == nil || big.Requests != 3 || big.Bytes != 30000 {
			t.Errorf("/big recorded %+v, want 3 requests and 30000 bytes", big)
		}
		tot := snap.Total()
		if tot.Requests != 5 || tot.Failures != 1 || tot.Bytes != 30000+5+6 {
			t.Errorf("total %d requests, %d failures, %d bytes; want 5, 1, 30011", tot.Requests, tot.Failures, tot.Bytes)
		}
	})
}

func endpoint(method, name string) aggregate.Endpoint {
	return aggregate.Endpoint{Method: method, Name: name}
}

// The slowest-requests view shows the URL each request asked for, whatever its
// method and row name, with the query its parameters added.
func TestHTTPClientSlowestURL(t *testing.T) {
	eachClient(t, func(t *testing.T, kind string) {
		ts := newTarget(t)
		st := newStack(t, kind)
		tests := []struct {
			name string
			req  Request // URL "ABS" + path: absolute URL at the target
			want string
		}{
			{"POST named by its path", Request{Method: "POST", URL: "/echo", Body: []byte("x")}, "/v1/echo"},
			{"GET with a query", Request{URL: "/echo?a=1"}, "/v1/echo?a=1"},
			{"GET with parameters", Request{URL: "/echo", Query: url.Values{"b": {"2"}}}, "/v1/echo?b=2"},
			{"parameters merged into the query", Request{URL: "/echo?a=1", Query: url.Values{"b": {"2"}}}, "/v1/echo?a=1&b=2"},
			{"named row", Request{URL: "/status/204?id=42", Name: "/status/[code]"}, "/v1/status/204?id=42"},
			{"relative path, resolved", Request{URL: "echo?x=1"}, "/v1/echo?x=1"},
			{"absolute URL", Request{URL: "ABS/echo?x=1", Name: "echo"}, "ABS/echo?x=1"},
			{"absolute URL with parameters", Request{URL: "ABS/echo", Query: url.Values{"p": {"a b"}}}, "ABS/echo?p=a+b"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := newTestClient(t, st, ts.URL+"/v1/")
				req := tt.req
				req.URL = strings.Replace(req.URL, "ABS", ts.URL, 1)
				c.Do(context.Background(), &req)
				snap := c.recorded()
				want := strings.Replace(tt.want, "ABS", ts.URL, 1)
				if len(snap.Slowest) != 1 || snap.Slowest[0].URL != want {
					t.Errorf("slowest %+v, want URL %q", snap.Slowest, want)
				}
			})
		}
	})
}
