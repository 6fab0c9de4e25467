package userbehavior

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

func TestParseServerTiming(t *testing.T) {
	tests := []struct {
		header string
		want   time.Duration
		ok     bool
	}{
		{"total;dur=123.4", 123400 * time.Microsecond, true},
		{"db;dur=53, app;dur=47.2", 53 * time.Millisecond, true},                // largest
		{"db;dur=53, total;dur=120, app;dur=200", 120 * time.Millisecond, true}, // total wins
		{`cache;desc="Cache Read";dur=23.2`, 23200 * time.Microsecond, true},
		{"miss, db;dur=7", 7 * time.Millisecond, true},
		{`TOTAL; DUR = "9"`, 9 * time.Millisecond, true},
		{"miss", 0, false},
		{"db;dur=abc", 0, false},
		{"db;dur=-4", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseServerTiming(tt.header)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseServerTiming(%q) = %v, %v; want %v, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}

func TestServerTimeHeader(t *testing.T) {
	tests := []struct {
		spec, value string
		want        time.Duration
		ok          bool
	}{
		{"X-Process-Time", "0.25", 250 * time.Millisecond, true},
		{"x-process-time:s", "2", 2 * time.Second, true},
		{"X-Process-Time:ms", "12.5", 12500 * time.Microsecond, true},
		{"X-Runtime:us", "1500", 1500 * time.Microsecond, true},
		{"X-Process-Time", "12ms", 12 * time.Millisecond, true}, // a unit of its own wins
		{"X-Process-Time", "soon", 0, false},
		{"X-Process-Time", "-1", 0, false},
	}
	for _, tt := range tests {
		name, scale, err := parseServerTimeHeader(tt.spec)
		if err != nil {
			t.Fatalf("parseServerTimeHeader(%q): %v", tt.spec, err)
		}
		o := HTTPConfig{ServerTimeHeader: tt.spec}.options()
		if o.serverName != name || o.serverScale != scale {
			t.Fatalf("options of %q: %q %v", tt.spec, o.serverName, o.serverScale)
		}
		got, ok := o.serverTime(tt.value, "")
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: %q = %v, %v; want %v, %v", tt.spec, tt.value, got, ok, tt.want, tt.ok)
		}
	}
	for _, bad := range []string{"X-Process-Time:min", ":ms", "X Process"} {
		if err := (HTTPConfig{ServerTimeHeader: bad}).Validate(); err == nil {
			t.Errorf("ServerTimeHeader %q accepted", bad)
		}
	}
	if err := (HTTPConfig{Client: "curl"}).Validate(); err == nil || !strings.Contains(err.Error(), `"curl"`) {
		t.Errorf("Client curl: %v", err)
	}
}

// timingTarget answers /st with a Server-Timing header, /pt with X-Process-Time, and
// anything else plainly.
func timingHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/st":
			w.Header().Set("Server-Timing", "db;dur=4, total;dur=42.5")
		case "/pt":
			w.Header().Set("X-Process-Time", "0.031")
		}
		fmt.Fprint(w, "ok")
	})
}

func TestHTTPClientTimings(t *testing.T) {
	plain := httptest.NewServer(timingHandler())
	t.Cleanup(plain.Close)
	secure := httptest.NewTLSServer(timingHandler())
	t.Cleanup(secure.Close)
	tests := []struct {
		name   string
		cfg    HTTPConfig
		target *httptest.Server
		paths  []string
		// rows wanted besides GET, by method then name: how many samples each
		want map[aggregate.Endpoint]uint64
		// server time wanted, by name
		server map[string]time.Duration
	}{
		{name: "off: one row per request", target: plain, paths: []string{"/a", "/st", "/st"},
			want: map[aggregate.Endpoint]uint64{}},
		{name: "timings over HTTP: connect once, TTFB each, server time", cfg: HTTPConfig{Timings: true},
			target: plain, paths: []string{"/a", "/st", "/st"},
			want: map[aggregate.Endpoint]uint64{endpoint("CONNECT", "/a"): 1, endpoint("TTFB", "/a"): 1,
				endpoint("TTFB", "/st"): 2, endpoint("SERVER", "/st"): 2},
			server: map[string]time.Duration{"/st": 42500 * time.Microsecond}},
		{name: "timings over TLS: connect and handshake once", cfg: HTTPConfig{Timings: true, InsecureSkipVerify: true},
			target: secure, paths: []string{"/a", "/a"},
			want: map[aggregate.Endpoint]uint64{endpoint("CONNECT", "/a"): 1, endpoint("TLS", "/a"): 1, endpoint("TTFB", "/a"): 2}},
		{name: "server time header alone", cfg: HTTPConfig{ServerTimeHeader: "X-Process-Time"},
			target: plain, paths: []string{"/pt", "/st", "/a"},
			want:   map[aggregate.Endpoint]uint64{endpoint("SERVER", "/pt"): 1, endpoint("SERVER", "/st"): 1},
			server: map[string]time.Duration{"/pt": 31 * time.Millisecond, "/st": 42500 * time.Microsecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eachClient(t, func(t *testing.T, kind string) {
				c := newTestClient(t, newStack(t, kind, tt.cfg), tt.target.URL)
				gets := map[string]uint64{}
				for _, p := range tt.paths {
					if resp := c.Get(context.Background(), p); !resp.OK() {
						t.Fatalf("GET %s: %v", p, resp.Err)
					}
					gets[p]++
				}
				snap := c.recorded()
				for ep, st := range snap.Endpoints {
					want := tt.want[ep]
					if ep.Method == "GET" {
						want = gets[ep.Name]
					}
					if st.Requests != want || st.Failures != 0 {
						t.Errorf("%v: %d samples, %d failures; want %d, 0", ep, st.Requests, st.Failures, want)
					}
					if ep.Method == "SERVER" && st.TotalTime != time.Duration(want)*tt.server[ep.Name] {
						t.Errorf("%v: total %v, want %d x %v", ep, st.TotalTime, want, tt.server[ep.Name])
					}
				}
				for ep := range tt.want {
					if snap.Endpoints[ep] == nil {
						t.Errorf("no %v row; rows %v", ep, snap.Names())
					}
				}
			})
		})
	}
}

func TestHTTPClientTLSVerify(t *testing.T) {
	// Certificates are verified unless the configuration says not to.
	ts := httptest.NewTLSServer(timingHandler())
	t.Cleanup(ts.Close)
	eachClient(t, func(t *testing.T, kind string) {
		c := newTestClient(t, newStack(t, kind), ts.URL)
		resp := c.Get(context.Background(), "/a")
		want := "tls: failed to verify certificate: x509: certificate signed by unknown authority"
		if got := errString(resp.Err); got != want {
			t.Errorf("self-signed target: %q, want %q", got, want)
		}
		c = newTestClient(t, newStack(t, kind, HTTPConfig{InsecureSkipVerify: true}), ts.URL)
		if resp := c.Get(context.Background(), "/a"); !resp.OK() || string(resp.Body) != "ok" {
			t.Errorf("InsecureSkipVerify: %d %q %v", resp.Status, resp.Body, resp.Err)
		}
	})
}

func TestHTTPClientResponseHeader(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.Header().Set("Content-Type", "text/x-test")
		http.SetCookie(w, &http.Cookie{Name: "one", Value: "1"})
		http.SetCookie(w, &http.Cookie{Name: "two", Value: "2"})
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(ts.Close)
	eachClient(t, func(t *testing.T, kind string) {
		c := newTestClient(t, newStack(t, kind), ts.URL)
		resp := c.Get(context.Background(), "/h")
		h := resp.Header
		if got := strings.Join(h.Values("X-Multi"), ","); got != "a,b" {
			t.Errorf("X-Multi %q, want a,b", got)
		}
		if got := h.Get("Content-Type"); got != "text/x-test" {
			t.Errorf("Content-Type %q", got)
		}
		if got := strings.Join(h.Values("Set-Cookie"), "|"); got != "one=1|two=2" {
			t.Errorf("Set-Cookie %q", got)
		}
		if got := h.Get("Content-Length"); got != "2" {
			t.Errorf("Content-Length %q", got)
		}
		if resp := c.Do(context.Background(), &Request{URL: "/h", Discard: true}); resp.Header != nil {
			t.Errorf("Discard kept the header %v", resp.Header)
		}
	})
}
