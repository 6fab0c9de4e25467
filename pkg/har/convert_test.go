package har

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/userbehavior"
	"github.com/stampede-load/stampede/pkg/userbehavior/script"
)

func convertFile(t *testing.T, path string, opts Options) (string, Summary) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	src, sum, err := Convert(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	return src, sum
}

// TestConvertShop checks what the conversion of a hand-written recording keeps,
// drops, groups and correlates, line by line.
func TestConvertShop(t *testing.T) {
	src, sum := convertFile(t, "testdata/shop.har", Options{Source: "shop.har"})
	t.Logf("script:\n%s", src)
	wantDropped := map[string]int{DropRedirect: 1, DropNoReply: 1, DropOtherHost: 2, DropStatic: 1}
	if fmt.Sprint(sum.Dropped) != fmt.Sprint(wantDropped) {
		t.Errorf("dropped %v, want %v", sum.Dropped, wantDropped)
	}
	if sum.Host != "http://shop.test:8080" || sum.Requests != 9 || sum.Steps != 4 || sum.Names != 8 || sum.Correlations != 3 {
		t.Errorf("summary %+v", sum)
	}
	for _, want := range []string{
		// Ids and UUIDs grouped; every query value grouped.
		`u.http.get("/api/items/42", headers={"Accept": "application/json"}, name="/api/items/[id]")`,
		`u.http.get("/api/items/7", headers={"Accept": "application/json"}, name="/api/items/[id]")`,
		`u.http.get("/api/reviews/3f2a9c1e-8b7d-4e6f-a5b4-c3d2e1f0a9b8", name="/api/reviews/[uuid]")`,
		`u.http.get("/api/search", params={"q": "lamp", "page": "2"}, name="/api/search?q=[q]&page=[page]")`,
		// The hidden form field read from the page and posted back.
		`u.vars["csrf_token"] = r.text.split("name=\"csrf_token\" value=\"")[1].split("\"")[0]`,
		`u.http.post("/comment", data={"csrf_token": u.vars["csrf_token"], "comment": "nice lamp"})`,
		// The JSON token, sent inside a header; the JSON body kept in order, with
		// Starlark's True and None; the browser's cookie left to the jar.
		`r = u.http.post("/api/login", json={"username": "alice", "remember": True})`,
		`u.vars["token"] = r.json()["token"]`,
		`headers={"Authorization": "Bearer " + u.vars["token"]}, json={"items": [{"id": 42, "qty": 1}], "note": None})`,
		// A number sent back in a path: read as a number, sent as a string, named by its variable.
		`u.vars["order_id"] = r.json()["order_id"]`,
		`u.http.get("/api/orders/" + str(u.vars["order_id"]), headers={"Authorization": "Bearer " + u.vars["token"]}, name="/api/orders/[order_id]")`,
		"# correlation (guessed from equal values)",
		// Steps: the page change and the idle gaps; think time from the gaps between them:
		// 1.430 s, 1.450 s and 1.720 s, rounded out to tenths.
		"# page: Checkout\ndef step04_checkout(u):",
		"Recorded = user(tasks=[step01_shop_home, step02_shop_home, step03_shop_home, step04_checkout], wait=between(1.4, 1.8))",
	} {
		if !strings.Contains(src, want) {
			t.Errorf("script lacks %s", want)
		}
	}
	for _, absent := range []string{"app.css", "cdn.other", "analytics", "/thanks", "Cookie", "User-Agent", "alice\"]", "req-000000001", "confirm"} {
		if strings.Contains(src, absent) {
			t.Errorf("script has %q, which should have been left out", absent)
		}
	}
}

// TestConvertedScriptReplays runs the converted script against a server that hands
// out fresh tokens, CSRF values and order ids and refuses the recorded ones: only the
// correlation makes every request succeed.
func TestConvertedScriptReplays(t *testing.T) {
	src, _ := convertFile(t, "testdata/shop.har", Options{})
	srv := newFreshShop()
	ts := httptest.NewServer(srv)
	defer ts.Close()

	prog, err := script.Compile(script.Bundle{Main: "load.star", Files: map[string][]byte{"load.star": []byte(src)}}, script.Options{})
	if err != nil {
		t.Fatalf("the converted script does not compile: %v\n%s", err, src)
	}
	col := aggregate.NewCollector(time.Now())
	runner, err := userbehavior.NewRunner(userbehavior.RunnerConfig{Classes: prog.Classes(), Host: ts.URL, Collector: col})
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.RunOnce(context.Background(), DefaultClass); err != nil {
		t.Fatal(err)
	}
	snap := col.Swap(time.Now())
	if tot := snap.Total(); tot.Requests != 9 || tot.Failures != 0 || len(snap.Exceptions) != 0 {
		t.Errorf("replay: %d requests, %d failures, exceptions %v, errors %v; want 9 without failure",
			tot.Requests, tot.Failures, snap.Exceptions, snap.Errors)
	}
	want := map[string]int{"GET /": 1, "GET /api/items/{id}": 2, "GET /api/search": 1, "GET /api/reviews/{id}": 1,
		"POST /comment": 1, "GET /thanks": 1, "POST /api/login": 1, "POST /api/checkout": 1, "GET /api/orders/{id}": 1}
	if got := srv.counts(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the server saw %v, want %v", got, want)
	}
}

// freshShop is the replay target: every value it hands out is new, and it refuses a
// value it did not hand out.
type freshShop struct {
	mux    *http.ServeMux
	mu     sync.Mutex
	issued map[string]bool
	seen   map[string]int
}

func newFreshShop() *freshShop {
	s := &freshShop{mux: http.NewServeMux(), issued: map[string]bool{}, seen: map[string]int{}}
	fresh := func(prefix string) string {
		b := make([]byte, 6)
		rand.Read(b)
		v := prefix + hex.EncodeToString(b)
		s.mu.Lock()
		s.issued[v] = true
		s.mu.Unlock()
		return v
	}
	ok := func(v string) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.issued[v]
	}
	authorised := func(r *http.Request) bool {
		return ok(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	}
	handle := func(pattern string, fn http.HandlerFunc) {
		s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.seen[pattern]++
			s.mu.Unlock()
			fn(w, r)
		})
	}
	okJSON := func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{}`) }
	handle("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<html><form><input type="hidden" name="csrf_token" value="%s"></form></html>`, fresh("c5rf"))
	})
	handle("GET /api/items/{id}", okJSON)
	handle("GET /api/search", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("q") != "lamp" || r.URL.Query().Get("page") != "2" {
			http.Error(w, "bad query", 400)
		}
	})
	handle("GET /api/reviews/{id}", okJSON)
	handle("POST /comment", func(w http.ResponseWriter, r *http.Request) {
		if !ok(r.FormValue("csrf_token")) || r.FormValue("comment") != "nice lamp" {
			http.Error(w, "bad csrf", http.StatusForbidden)
			return
		}
		http.Redirect(w, r, "/thanks", http.StatusFound)
	})
	handle("GET /thanks", okJSON)
	handle("POST /api/login", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Username string `json:"username"`
		}
		if json.NewDecoder(r.Body).Decode(&body) != nil || body.Username != "alice" {
			http.Error(w, "bad login", 400)
			return
		}
		fmt.Fprintf(w, `{"user": "alice", "token": %q}`, fresh("tok-"))
	})
	handle("POST /api/checkout", func(w http.ResponseWriter, r *http.Request) {
		if !authorised(r) {
			http.Error(w, "login first", http.StatusUnauthorized)
			return
		}
		n, _ := rand.Int(rand.Reader, big.NewInt(900_000_000))
		id := n.Int64() + 100_000_000
		s.mu.Lock()
		s.issued[fmt.Sprint(id)] = true
		s.mu.Unlock()
		fmt.Fprintf(w, `{"order_id": %d, "status": "confirmed"}`, id)
	})
	handle("GET /api/orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !authorised(r) || !ok(r.PathValue("id")) {
			http.Error(w, "no such order", 404)
		}
	})
	return s
}

func (s *freshShop) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *freshShop) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.seen {
		out[strings.Replace(k, "{$}", "", 1)] = v
	}
	return out
}

// TestConvertChoices covers the options and the edges: included hosts, kept static
// assets, hashes and tokens in paths, other methods, raw bodies, no gap, and a
// recording with nothing to replay.
func TestConvertChoices(t *testing.T) {
	entry := func(at float64, method, url, mime, body string, status int) Entry {
		e := Entry{StartedDateTime: time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC).Add(time.Duration(at * float64(time.Second))),
			Time: 10, Request: Request{Method: method, URL: url}, Response: Response{Status: status, Content: Content{MimeType: "application/json"}}}
		if body != "" {
			e.Request.PostData = &PostData{MimeType: mime, Text: body}
		}
		return e
	}
	f := &File{Log: Log{Entries: []Entry{
		entry(0, "GET", "http://app.test/index.html", "", "", 200),
		entry(0.1, "GET", "http://app.test/logo.png", "", "", 200),
		entry(0.2, "GET", "http://api.other.test:9000/v1/files/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "", "", 200),
		entry(0.3, "GET", "http://app.test/s/AbCdEf0123456789XyZ_token", "", "", 200),
		entry(0.4, "PROPFIND", "http://app.test/dav/", "text/xml", "<propfind/>", 207),
		entry(0.5, "GET", "http://app.test/missing", "", "", 404),
	}}}
	f.Log.Entries[0].Response.Content.MimeType = "text/html"
	src, sum, err := Convert(f, Options{IncludeHosts: []string{"api.other.test"}, KeepStatic: true, Class: "Site"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("script:\n%s", src)
	if len(sum.Dropped) != 0 || sum.Requests != 6 || sum.Steps != 1 || sum.Host != "http://app.test" {
		t.Errorf("summary %+v", sum)
	}
	for _, want := range []string{
		`u.http.get("/logo.png")`,
		`u.http.get("http://api.other.test:9000/v1/files/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", name="http://api.other.test:9000/v1/files/[hash]")`,
		`u.http.get("/s/AbCdEf0123456789XyZ_token", name="/s/[token]")`,
		`u.http.request("PROPFIND", "/dav/", headers={"Content-Type": "text/xml"}, data="<propfind/>")`,
		`u.http.get("/missing")  # recorded: 404`,
		"# One step recorded",
		"Site = user(tasks=[step01_get_index_html], wait=constant(1))",
	} {
		if !strings.Contains(src, want) {
			t.Errorf("script lacks %s", want)
		}
	}
	if _, err := script.Compile(script.Bundle{Main: "m.star", Files: map[string][]byte{"m.star": []byte(src)}}, script.Options{}); err != nil {
		t.Errorf("does not compile: %v", err)
	}

	_, sum, err = Convert(f, Options{})
	if err != nil || sum.Dropped[DropOtherHost] != 1 || sum.Dropped[DropStatic] != 1 || sum.Requests != 4 {
		t.Errorf("defaults: %+v, %v", sum, err)
	}
	only := &File{Log: Log{Entries: []Entry{entry(0, "GET", "http://app.test/app.js", "", "", 200)}}}
	if _, _, err := Convert(only, Options{}); err == nil || !strings.Contains(err.Error(), "1 static asset") {
		t.Errorf("nothing to replay: err %v", err)
	}
	if _, err := Parse([]byte(`{"log": {}}`)); err == nil {
		t.Error("a HAR without entries parsed")
	}
}

// FuzzConvert: any HAR document converts to a script that compiles, or fails cleanly.
func FuzzConvert(f *testing.F) {
	seed, err := os.ReadFile("testdata/shop.har")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"log":{"entries":[{"request":{"method":"GET","url":"http://a/x?%zz=1"},"response":{"status":200}}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		src, _, err := Convert(file, Options{})
		if err != nil {
			return
		}
		if _, err := script.Compile(script.Bundle{Main: "m.star", Files: map[string][]byte{"m.star": []byte(src)}}, script.Options{}); err != nil {
			t.Fatalf("converted script does not compile: %v\n%s", err, src)
		}
	})
}
