package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// tinyLatency keeps every delay in the microseconds.
const tinyLatency = 1e-4

func newServer(t *testing.T, cfg TargetConfig) (*Target, *httptest.Server) {
	t.Helper()
	tgt := NewTarget(cfg)
	srv := httptest.NewServer(tgt)
	t.Cleanup(srv.Close)
	return tgt, srv
}

// send makes one request and returns its status, body and header.
func send(t *testing.T, c *http.Client, method, url string, body string, cookie *http.Cookie) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, b, resp.Header
}

// loginCookie logs in and returns the session cookie.
func loginCookie(t *testing.T, c *http.Client, base string) *http.Cookie {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/api/login", strings.NewReader(`{"username":"ann","password":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: status %d", resp.StatusCode)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			if !ck.HttpOnly || ck.Path != "/" || ck.Value == "" {
				t.Errorf("session cookie %+v: want HttpOnly, Path /, a value", ck)
			}
			return &http.Cookie{Name: ck.Name, Value: ck.Value}
		}
	}
	t.Fatalf("login set no %q cookie; header %v", sessionCookie, resp.Header)
	return nil
}

// itemList is the shape of the list and search answers.
type itemList struct {
	Total int    `json:"total"`
	Items []item `json:"items"`
}

func decodeList(t *testing.T, b []byte) itemList {
	t.Helper()
	var l itemList
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return l
}

func TestEndpoints(t *testing.T) {
	tgt, srv := newServer(t, TargetConfig{Seed: 1, LatencyScale: tinyLatency, ErrorRate: -1})
	c := srv.Client()
	session := loginCookie(t, c, srv.URL)
	want := map[string]uint64{"POST /api/login": 1} // the login above

	forged := &http.Cookie{Name: sessionCookie, Value: strings.Split(session.Value, ".")[0] + ".00112233445566778899aabb"}
	cases := []struct {
		name   string
		method string
		path   string
		body   string
		cookie *http.Cookie
		status int
		key    string // the endpoint that must count it; "" for none
		check  func(t *testing.T, b []byte, h http.Header)
	}{
		{name: "home page", method: "GET", path: "/", status: 200, key: "GET /", check: func(t *testing.T, b []byte, h http.Header) {
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("content type %q", ct)
			}
			if len(b) < 1500 || len(b) > 3000 || !bytes.Contains(b, []byte("</html>")) {
				t.Errorf("home page is %d bytes, want an HTML page of about 2 KB", len(b))
			}
		}},
		{name: "item list", method: "GET", path: "/api/items", status: 200, key: "GET /api/items", check: func(t *testing.T, b []byte, h http.Header) {
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			if len(b) < 3000 || len(b) > 5500 {
				t.Errorf("list is %d bytes, want about 4 KB", len(b))
			}
			l := decodeList(t, b)
			if len(l.Items) != pageSize || l.Items[0].ID != 1 || l.Total != itemCount {
				t.Errorf("list: %d items from id %d, total %d", len(l.Items), l.Items[0].ID, l.Total)
			}
		}},
		{name: "last item page", method: "GET", path: "/api/items?page=50", status: 200, key: "GET /api/items", check: func(t *testing.T, b []byte, _ http.Header) {
			if l := decodeList(t, b); len(l.Items) != pageSize || l.Items[pageSize-1].ID != itemCount {
				t.Errorf("page 50: %+v", l.Items)
			}
		}},
		{name: "page past the end", method: "GET", path: "/api/items?page=51", status: 200, key: "GET /api/items", check: func(t *testing.T, b []byte, _ http.Header) {
			if l := decodeList(t, b); len(l.Items) != 0 {
				t.Errorf("page 51 has %d items", len(l.Items))
			}
		}},
		{name: "bad page", method: "GET", path: "/api/items?page=x", status: 400, key: "GET /api/items"},
		{name: "first item", method: "GET", path: "/api/items/1", status: 200, key: "GET /api/items/{id}", check: func(t *testing.T, b []byte, _ http.Header) {
			var it item
			if err := json.Unmarshal(b, &it); err != nil || it.ID != 1 || it.Name == "" || it.PriceCents <= 0 {
				t.Errorf("item 1: %+v, %v", it, err)
			}
		}},
		{name: "last item", method: "GET", path: "/api/items/1000", status: 200, key: "GET /api/items/{id}"},
		{name: "item 0", method: "GET", path: "/api/items/0", status: 404, key: "GET /api/items/{id}"},
		{name: "item 1001", method: "GET", path: "/api/items/1001", status: 404, key: "GET /api/items/{id}"},
		{name: "negative item", method: "GET", path: "/api/items/-3", status: 404, key: "GET /api/items/{id}"},
		{name: "item not a number", method: "GET", path: "/api/items/abc", status: 404, key: "GET /api/items/{id}"},
		{name: "search", method: "GET", path: "/api/search?q=Lamp", status: 200, key: "GET /api/search", check: func(t *testing.T, b []byte, _ http.Header) {
			l := decodeList(t, b)
			if l.Total != itemCount/len(nouns) || len(l.Items) != pageSize {
				t.Errorf("search lamp: total %d, %d items; want %d, %d", l.Total, len(l.Items), itemCount/len(nouns), pageSize)
			}
			for _, it := range l.Items {
				if !strings.Contains(it.Name, "Lamp") {
					t.Errorf("search lamp found %q", it.Name)
				}
			}
		}},
		{name: "search by category", method: "GET", path: "/api/search?q=garden", status: 200, key: "GET /api/search", check: func(t *testing.T, b []byte, _ http.Header) {
			l := decodeList(t, b)
			if l.Total == 0 || l.Total == itemCount {
				t.Errorf("search garden: total %d", l.Total)
			}
			for _, it := range l.Items {
				if it.Category != "garden" {
					t.Errorf("search garden found %+v", it)
				}
			}
		}},
		{name: "search finding nothing", method: "GET", path: "/api/search?q=zeppelin", status: 200, key: "GET /api/search", check: func(t *testing.T, b []byte, _ http.Header) {
			if l := decodeList(t, b); l.Total != 0 || len(l.Items) != 0 {
				t.Errorf("search zeppelin: %+v", l)
			}
		}},
		{name: "search without term", method: "GET", path: "/api/search", status: 400, key: "GET /api/search"},
		{name: "login without username", method: "POST", path: "/api/login", body: `{"password":"x"}`, status: 400, key: "POST /api/login"},
		{name: "login with bad JSON", method: "POST", path: "/api/login", body: `{"username":`, status: 400, key: "POST /api/login"},
		{name: "cart without session", method: "POST", path: "/api/cart", body: `{"item_id":5}`, status: 401, key: "POST /api/cart"},
		{name: "cart with forged session", method: "POST", path: "/api/cart", body: `{"item_id":5}`, cookie: forged, status: 401, key: "POST /api/cart"},
		{name: "cart", method: "POST", path: "/api/cart", body: `{"item_id":5,"quantity":2}`, cookie: session, status: 200, key: "POST /api/cart", check: func(t *testing.T, b []byte, _ http.Header) {
			var got map[string]int
			if err := json.Unmarshal(b, &got); err != nil || got["item_id"] != 5 || got["quantity"] != 2 ||
				got["line_total_cents"] != 2*got["price_cents"] || got["price_cents"] <= 0 {
				t.Errorf("cart answer %s: %v", b, err)
			}
		}},
		{name: "cart with unknown item", method: "POST", path: "/api/cart", body: `{"item_id":1001}`, cookie: session, status: 400, key: "POST /api/cart"},
		{name: "checkout without session", method: "POST", path: "/api/checkout", status: 401, key: "POST /api/checkout"},
		{name: "checkout", method: "POST", path: "/api/checkout", body: "{}", cookie: session, status: 200, key: "POST /api/checkout", check: func(t *testing.T, b []byte, _ http.Header) {
			if !bytes.Contains(b, []byte(`"status":"confirmed"`)) {
				t.Errorf("checkout answer %s", b)
			}
		}},
		{name: "health", method: "GET", path: "/health", status: 200, key: "GET /health"},
		{name: "unknown path", method: "GET", path: "/nope", status: 404},
		{name: "wrong method", method: "DELETE", path: "/api/items", status: 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, b, h := send(t, c, tc.method, srv.URL+tc.path, tc.body, tc.cookie)
			if status != tc.status {
				t.Errorf("%s %s: status %d, want %d; body %s", tc.method, tc.path, status, tc.status, b)
			}
			if tc.check != nil {
				tc.check(t, b, h)
			}
		})
		if tc.key != "" {
			want[tc.key]++
		}
	}
	checkServed(t, tgt, want)
}

// checkServed compares Served with want, where endpoints missing from want count 0.
func checkServed(t *testing.T, tgt *Target, want map[string]uint64) {
	t.Helper()
	got := tgt.Served()
	keys := slices.Sorted(maps.Keys(got))
	if len(keys) != 8 {
		t.Errorf("Served has %d endpoints: %v", len(keys), keys)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("Served lacks %q", k)
		}
	}
	for _, k := range keys {
		if got[k] != want[k] {
			t.Errorf("Served[%q] = %d, want %d", k, got[k], want[k])
		}
	}
}

func TestCheckoutErrorRate(t *testing.T) {
	const n = 2000
	cases := []struct {
		name string
		rate float64 // configured
		p    float64 // expected failure probability
	}{
		{name: "default", rate: 0, p: DefaultErrorRate},
		{name: "quarter", rate: 0.25, p: 0.25},
		{name: "none", rate: -1, p: 0},
		{name: "capped at all", rate: 3, p: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			failures := checkouts(t, TargetConfig{Seed: 42, LatencyScale: -1, ErrorRate: tc.rate}, n)
			// Five standard deviations of the binomial: the seed is fixed, so this is
			// deterministic, and a wrong rate would miss by far more.
			mean := n * tc.p
			tol := 5 * math.Sqrt(n*tc.p*(1-tc.p))
			if math.Abs(float64(failures)-mean) > tol {
				t.Errorf("%d of %d checkouts failed, want %.0f ± %.1f", failures, n, mean, tol)
			}
		})
	}
	t.Run("reproducible", func(t *testing.T) {
		cfg := TargetConfig{Seed: 9, LatencyScale: -1, ErrorRate: 0.1}
		if a, b := checkouts(t, cfg, 500), checkouts(t, cfg, 500); a != b {
			t.Errorf("same seed and order gave %d and %d failures", a, b)
		}
	})
}

// checkouts logs in and checks out n times in a row, straight through the handler
// (the server path is covered by TestEndpoints), and returns how many got 503.
func checkouts(t *testing.T, cfg TargetConfig, n int) int {
	t.Helper()
	tgt := NewTarget(cfg)
	login := httptest.NewRecorder()
	tgt.ServeHTTP(login, httptest.NewRequest("POST", "/api/login", strings.NewReader(`{"username":"ann"}`)))
	cookies := login.Result().Cookies()
	if login.Code != http.StatusOK || len(cookies) != 1 {
		t.Fatalf("login: %d, cookies %v", login.Code, cookies)
	}
	failures := 0
	for range n {
		req := httptest.NewRequest("POST", "/api/checkout", strings.NewReader("{}"))
		req.AddCookie(cookies[0])
		rec := httptest.NewRecorder()
		tgt.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
		case http.StatusServiceUnavailable:
			if rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "payment service unavailable") {
				t.Fatalf("503 without Retry-After or message: %v %s", rec.Header(), rec.Body)
			}
			failures++
		default:
			t.Fatalf("checkout status %d: %s", rec.Code, rec.Body)
		}
	}
	checkServed(t, tgt, map[string]uint64{"POST /api/login": 1, "POST /api/checkout": uint64(n)})
	return failures
}

func TestConcurrentRequests(t *testing.T) {
	tgt, srv := newServer(t, TargetConfig{Seed: 3, LatencyScale: tinyLatency})
	c := srv.Client()
	type call struct{ method, path, body, key string }
	calls := []call{
		{"GET", "/", "", "GET /"},
		{"GET", "/api/items", "", "GET /api/items"},
		{"GET", "/api/items/17", "", "GET /api/items/{id}"},
		{"GET", "/api/search?q=mug", "", "GET /api/search"},
		{"POST", "/api/cart", `{"item_id":3}`, "POST /api/cart"},
		{"POST", "/api/checkout", "{}", "POST /api/checkout"},
		{"GET", "/health", "", "GET /health"},
	}
	const users, perUser = 24, 35
	var (
		mu   sync.Mutex
		want = map[string]uint64{}
		wg   sync.WaitGroup
	)
	for u := range users {
		wg.Go(func() {
			session := loginCookie(t, c, srv.URL)
			mine := map[string]uint64{"POST /api/login": 1}
			for i := range perUser {
				cl := calls[(u+i)%len(calls)]
				status, b, _ := send(t, c, cl.method, srv.URL+cl.path, cl.body, session)
				if status != http.StatusOK && !(cl.key == "POST /api/checkout" && status == http.StatusServiceUnavailable) {
					t.Errorf("%s %s: status %d: %s", cl.method, cl.path, status, b)
				}
				mine[cl.key]++
			}
			mu.Lock()
			defer mu.Unlock()
			for k, n := range mine {
				want[k] += n
			}
		})
	}
	wg.Wait()
	checkServed(t, tgt, want)
}

func TestDelayDistribution(t *testing.T) {
	tgt := NewTarget(TargetConfig{Seed: 5})
	for _, rt := range tgt.routes {
		t.Run(rt.key, func(t *testing.T) {
			const n = 20000
			ds := make([]time.Duration, n)
			for i := range ds {
				ds[i] = tgt.delay(rt, tgt.requestRand())
			}
			slices.Sort(ds)
			median, p99 := ds[n/2], ds[n*99/100]
			if rt.median == 0 {
				if ds[n-1] != 0 {
					t.Errorf("delays up to %v, want none", ds[n-1])
				}
				return
			}
			if rt.median < 5*time.Millisecond || rt.median > 60*time.Millisecond {
				t.Errorf("configured median %v is outside 5..60 ms", rt.median)
			}
			if r := float64(median) / float64(rt.median); r < 0.93 || r > 1.07 {
				t.Errorf("median %v, want about %v", median, rt.median)
			}
			wantRatio := math.Exp(rt.sigma * z99)
			if r := float64(p99) / float64(median); r < wantRatio*0.85 || r > wantRatio*1.15 || r < 2.5 {
				t.Errorf("p99 %v is %.2f times the median, want about %.2f", p99, r, wantRatio)
			}
		})
	}
	t.Run("scaled", func(t *testing.T) {
		slow, fast := NewTarget(TargetConfig{Seed: 5}), NewTarget(TargetConfig{Seed: 5, LatencyScale: 0.5})
		rt := slow.routes[1]
		for range 100 {
			a, b := slow.delay(rt, slow.requestRand()), fast.delay(rt, fast.requestRand())
			if d := a/2 - b; d < -1 || d > 1 {
				t.Fatalf("delay at scale 0.5 is %v, want half of %v", b, a)
			}
		}
	})
	t.Run("off", func(t *testing.T) {
		off := NewTarget(TargetConfig{Seed: 5, LatencyScale: -1})
		for _, rt := range off.routes {
			if d := off.delay(rt, off.requestRand()); d != 0 {
				t.Errorf("%s: delay %v with latency off", rt.key, d)
			}
		}
	})
}

func TestAbortedRequestStopsWaiting(t *testing.T) {
	// At this scale a search waits about 40 s: only the cancellation can end it.
	tgt := NewTarget(TargetConfig{Seed: 1, LatencyScale: 1000})
	ctx, cancel := context.WithCancel(t.Context())
	req := httptest.NewRequestWithContext(ctx, "GET", "/api/search?q=mug", nil)
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tgt.ServeHTTP(rec, req)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("handler still waiting 10 s after its request was cancelled")
	}
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("aborted request answered %d", rec.Code)
	}
	checkServed(t, tgt, map[string]uint64{"GET /api/search": 1})
}

func TestCatalogIsSeeded(t *testing.T) {
	a, b, c := newCatalog(1), newCatalog(1), newCatalog(2)
	if !bytes.Equal(a.pages[3], b.pages[3]) {
		t.Error("same seed built different catalogs")
	}
	if bytes.Equal(a.pages[3], c.pages[3]) {
		t.Error("different seeds built the same catalog")
	}
}
