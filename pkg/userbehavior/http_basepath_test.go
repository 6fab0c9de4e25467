package userbehavior

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// pathLog is a target that answers every request and notes, in order, the request
// URI and protocol it received: the truth the base-path test compares with.
type pathLog struct {
	mu   sync.Mutex
	uris []string
}

func (p *pathLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.uris = append(p.uris, r.Proto+" "+r.RequestURI)
	p.mu.Unlock()
	if r.Header.Get("Accept") == "text/event-stream" {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: one\n\n")
		return
	}
	fmt.Fprint(w, "ok")
}

func (p *pathLog) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.uris
	p.uris = nil
	return out
}

// TestHTTPClientBasePath: a URL that is not absolute is joined onto the host's base
// path, as Locust does (-H http://h/api/v1 and "/hello" ask for /api/v1/hello), with
// every client: HTTP/1.1 (fasthttp, net/http), HTTP/2 (net/http over TLS) and a
// server-sent-event stream; an absolute URL in the script still wins. The target's
// own log of what it received is the truth; the row is named by the path sent.
func TestHTTPClientBasePath(t *testing.T) {
	target := &pathLog{}
	plain := httptest.NewServer(target)
	t.Cleanup(plain.Close)
	h2 := httptest.NewUnstartedServer(target)
	h2.EnableHTTP2 = true
	h2.Config.ErrorLog = log.New(io.Discard, "", 0)
	h2.StartTLS()
	t.Cleanup(h2.Close)

	clients := []struct {
		name, kind, proto string
		ts                *httptest.Server
	}{
		{"HTTP/1.1 fasthttp", ClientFast, "HTTP/1.1", plain},
		{"HTTP/1.1 nethttp", ClientNetHTTP, "HTTP/1.1", plain},
		{"HTTP/2 nethttp", ClientNetHTTP, "HTTP/2.0", h2},
	}
	tests := []struct {
		name    string
		base    string // after the target's URL
		req     Request
		sse     bool
		wantURI string
		wantRow string // "" : wantURI
	}{
		{name: "path onto base path", base: "/api/v1", req: Request{URL: "/hello"}, wantURI: "/api/v1/hello"},
		{name: "base path with trailing slash", base: "/api/v1/", req: Request{URL: "/hello"}, wantURI: "/api/v1/hello"},
		{name: "relative path onto base path", base: "/api/v1", req: Request{URL: "hello"}, wantURI: "/api/v1/hello"},
		{name: "query kept", base: "/api/v1", req: Request{URL: "/hello?x=1"}, wantURI: "/api/v1/hello?x=1"},
		{name: "parameters added", base: "/api/v1", req: Request{URL: "/hello", Query: url.Values{"p": {"2"}}},
			wantURI: "/api/v1/hello?p=2"},
		{name: "escaped path", base: "/api/v1", req: Request{URL: "/a%20b"}, wantURI: "/api/v1/a%20b"},
		{name: "query only keeps the base path", base: "/api/v1", req: Request{URL: "?q=1"}, wantURI: "/api/v1?q=1"},
		{name: "no base path", base: "", req: Request{URL: "/hello"}, wantURI: "/hello"},
		{name: "root base path", base: "/", req: Request{URL: "hello"}, wantURI: "/hello"},
		{name: "named row", base: "/api/v1", req: Request{URL: "/item/7", Name: "/item/[id]"},
			wantURI: "/api/v1/item/7", wantRow: "/item/[id]"},
		{name: "stream onto base path", base: "/api/v1", req: Request{URL: "/events"}, sse: true, wantURI: "/api/v1/events"},
		{name: "absolute URL wins", base: "/api/v1", req: Request{URL: "ABS/elsewhere"}, wantURI: "/elsewhere"},
	}
	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) {
			st := newStack(t, cl.kind, HTTPConfig{InsecureSkipVerify: true})
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					c := newTestClient(t, st, cl.ts.URL+tt.base)
					req := tt.req
					req.URL = strings.Replace(req.URL, "ABS", cl.ts.URL, 1)
					if tt.sse {
						req.SSE = true
						req.Header = http.Header{"Accept": {"text/event-stream"}}
						var events []string
						req.OnChunk = func(b []byte) error { events = append(events, string(b)); return nil }
						defer func() {
							if len(events) != 2 || events[0] != "one" || events[1] != "one" {
								t.Errorf("events %q, want one per request", events)
							}
						}()
					}
					resp := c.Do(context.Background(), &req)
					if resp.Err != nil {
						t.Fatalf("request failed: %v", resp.Err)
					}
					got := target.take()
					if want := cl.proto + " " + tt.wantURI; len(got) != 1 || got[0] != want {
						t.Errorf("target received %q, want [%q]", got, want)
					}
					row := tt.wantRow
					if row == "" {
						row = tt.wantURI
					}
					snap := c.recorded()
					if st := snap.Endpoints[endpoint("GET", row)]; st == nil || st.Requests != 1 {
						t.Errorf("rows %v, want one request under %q", snap.Names(), row)
					}
					// Asked again, the client's cached resolution gives the same.
					c.Do(context.Background(), &req)
					if got := target.take(); len(got) != 1 || got[0] != cl.proto+" "+tt.wantURI {
						t.Errorf("again: target received %q", got)
					}
				})
			}
		})
	}
}
