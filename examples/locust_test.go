package examples

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/aggregate/threshold"
	"github.com/stampede-load/stampede/pkg/userbehavior"
	"github.com/stampede-load/stampede/pkg/userbehavior/script"
)

// locustSite is the target of the ports of Locust's examples (examples/locust): the
// paths they request, answering as a real site would, so that a port that requests
// the wrong thing fails. It remembers what it was sent.
type locustSite struct {
	mu     sync.Mutex
	echoed map[string]bool // what /post echoed, which /get accepts
	things []string        // what /things received: "THING from WORKER/COUNT"
}

func (s *locustSite) handler() http.Handler {
	s.echoed = map[string]bool{"global_test_data": true}
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, r *http.Request) {}
	for _, p := range []string{"GET /{$}", "GET /hello", "GET /world", "GET /item", "GET /stats/requests", "GET /favicon.ico"} {
		mux.HandleFunc(p, ok)
	}
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		name := r.FormValue("username")
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			var body struct{ Username, Password string }
			json.NewDecoder(r.Body).Decode(&body)
			name = body.Username
		}
		if name == "" {
			http.Error(w, "no user", http.StatusBadRequest)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "session", Value: name})
	})
	mux.HandleFunc("GET /protected/resource", func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie("session"); err != nil {
			http.Error(w, "log in first", http.StatusUnauthorized)
		}
	})
	mux.HandleFunc("GET /error", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	// A documentation site: an index with a table of contents, pages with links.
	mux.HandleFunc("GET /docs/{$}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<ul><li><a class="toctree" href="/docs/a.html">A</a><li><a class="toctree" href="/docs/b.html">B</a></ul>`)
	})
	mux.HandleFunc("GET /docs/{page}", func(w http.ResponseWriter, r *http.Request) {
		page := strings.TrimSuffix(r.PathValue("page"), ".html")
		io.WriteString(w, `<p><a class="internal" href="/docs/`+page+`/1.html">1</a> <a class="internal" href="/docs/`+page+`/2.html">2</a>`)
	})
	mux.HandleFunc("GET /docs/{page}/{sub}", ok)
	mux.HandleFunc("POST /post", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.echoed[string(b)] = true
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]string{"data": string(b)})
	})
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.echoed[r.URL.RawQuery] {
			http.Error(w, "test data never handed out: "+r.URL.RawQuery, http.StatusBadRequest)
		}
	})
	mux.HandleFunc("POST /things", func(w http.ResponseWriter, r *http.Request) {
		var thing map[string]string
		json.NewDecoder(r.Body).Decode(&thing)
		s.mu.Lock()
		s.things = append(s.things, thing["thing"]+" from "+thing["worker"])
		s.mu.Unlock()
	})
	return mux
}

// TestLocustExamples runs the ports of ten of Locust's own examples against
// locustSite, as TestExamples does: each user runs on_start, every task once, and
// on_stop, between the script's setup and teardown (as the master runs them). Every
// row must match what the target served, and every request the target answered
// must be counted.
func TestLocustExamples(t *testing.T) {
	tests := []struct {
		dir     string
		vars    map[string]string // "API" is replaced by a second target's URL
		runs    map[string]int    // class -> users run once, on each worker
		workers int               // runners, as workers 0..workers-1 of the run; 0: one
		want    map[aggregate.Endpoint]row
		check   func(t *testing.T, p *script.Program, site *locustSite, snap *aggregate.Snapshot)
	}{
		{dir: "quickstart", vars: map[string]string{"PAUSE": "0"}, runs: map[string]int{"QuickstartUser": 2},
			want: map[aggregate.Endpoint]row{ep("POST", "/login"): {2, 0}, ep("GET", "/hello"): {2, 0},
				ep("GET", "/world"): {2, 0}, ep("GET", "/item"): {20, 0}}},
		{dir: "basic", runs: map[string]int{"WebsiteUser": 2},
			want: map[aggregate.Endpoint]row{ep("GET", "/"): {2, 0}, ep("GET", "/stats/requests"): {2, 0},
				ep("GET", "/does_not_exist"): {2, 2}}},
		{dir: "browse_docs_sequence", runs: map[string]int{"AwesomeUser": 3},
			want: map[aggregate.Endpoint]row{ep("GET", "/docs/"): {3, 0}, ep("GET", "/favicon.ico"): {3, 0},
				ep("GET", "/docs/[page]"): {3, 0}, ep("GET", "/docs/[page]/[sub]"): {3, 0}}},
		// Three credentials for four users: the last one is never logged in.
		{dir: "dynamic_user_credentials", runs: map[string]int{"User": 4},
			want: map[aggregate.Endpoint]row{ep("POST", "/login"): {3, 0}, ep("GET", "/protected/resource"): {4, 1}}},
		// setup: a POST; each user: a POST in on_start, four GETs and a POST in its
		// task; teardown: a GET.
		{dir: "test_data_management", runs: map[string]int{"MyUser": 2},
			want: map[aggregate.Endpoint]row{ep("POST", "/post"): {5, 0}, ep("GET", "/get"): {9, 0}}},
		{dir: "custom_shape", runs: map[string]int{"WebsiteUser": 2},
			want: map[aggregate.Endpoint]row{ep("GET", "/"): {2, 0}},
			check: func(t *testing.T, p *script.Program, _ *locustSite, _ *aggregate.Snapshot) {
				for _, c := range []struct {
					at    time.Duration
					users int
					rate  float64
					ok    bool
				}{{30 * time.Second, 10, 10, true}, {150 * time.Second, 100, 10, true}, {239 * time.Second, 1, 1, true}, {240 * time.Second, 0, 0, false}} {
					users, rate, ok, err := p.Shape(c.at)
					if err != nil || users != c.users || rate != c.rate || ok != c.ok {
						t.Errorf("shape(%v) = %d, %v, %v, %v; want %d, %v, %v", c.at, users, rate, ok, err, c.users, c.rate, c.ok)
					}
				}
			}},
		{dir: "stop_on_threshold", vars: map[string]string{"PAUSE": "0"}, runs: map[string]int{"MyUser": 1},
			want: map[aggregate.Endpoint]row{ep("GET", "/"): {10, 0}, ep("GET", "/error"): {5, 5}},
			check: func(t *testing.T, p *script.Program, _ *locustSite, snap *aggregate.Snapshot) {
				ts, err := threshold.ParseAll(p.Thresholds())
				if err != nil || len(ts) != 1 {
					t.Fatalf("thresholds %q: %v", p.Thresholds(), err)
				}
				// 5 failures in 15 requests is over 20%: the run would stop here.
				if r := ts[0].Eval(threshold.Input{Snapshot: snap, Elapsed: time.Minute}, nil); r.Pass || !r.Abort {
					t.Errorf("%s on %s: pass %v abort %v, want a failed threshold that aborts", ts[0].Source, r.ObservedText, r.Pass, r.Abort)
				}
			}},
		{dir: "multiple_hosts", vars: map[string]string{"API_HOST": "API"}, runs: map[string]int{"WebsiteUser": 2},
			want: map[aggregate.Endpoint]row{ep("GET", "/"): {2, 0}, ep("GET", "api /stats/requests"): {2, 0}}},
		{dir: "worker_index", runs: map[string]int{"DemoUser": 2}, workers: 2,
			want: map[aggregate.Endpoint]row{ep("POST", "/things"): {4, 0}},
			check: func(t *testing.T, _ *script.Program, site *locustSite, _ *aggregate.Snapshot) {
				slices.Sort(site.things)
				want := []string{"t0 from 0/2", "t1 from 1/2", "t2 from 0/2", "t3 from 1/2"}
				if !slices.Equal(site.things, want) {
					t.Errorf("the target got things %q, want %q: each worker its own rows", site.things, want)
				}
			}},
		{dir: "semaphore_wait", vars: map[string]string{"USERS": "1"}, runs: map[string]int{"WebsiteUser": 2},
			want: map[aggregate.Endpoint]row{ep("GET", "/"): {2, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			site := &locustSite{}
			var s, apiServed served
			srv := httptest.NewServer(s.wrap(site.handler()))
			defer srv.Close()
			api := httptest.NewServer(apiServed.wrap(site.handler()))
			defer api.Close()
			vars := map[string]string{}
			for k, v := range tt.vars {
				vars[k] = strings.ReplaceAll(v, "API", api.URL)
			}
			b, err := script.LoadDir(filepath.Join("locust", tt.dir, "main.star"))
			if err != nil {
				t.Fatal(err)
			}
			col := aggregate.NewCollector(time.Now())
			tr := userbehavior.NewTransport(8)
			defer tr.CloseIdleConnections()
			// As the master runs them: setup once, its result to every worker, teardown.
			hook := func(c *userbehavior.Class) {
				r, err := userbehavior.NewRunner(userbehavior.RunnerConfig{Classes: []*userbehavior.Class{c}, Host: srv.URL, Collector: col, Transport: tr})
				if err != nil {
					t.Fatal(err)
				}
				if err := r.RunOnce(context.Background(), c.Name); err != nil {
					t.Fatal(err)
				}
			}
			p, err := script.Compile(b, script.Options{Vars: vars})
			if err != nil {
				t.Fatal(err)
			}
			var setupData []byte
			if c, result := p.SetupClass(); c != nil {
				hook(c)
				if setupData, err = result(); err != nil {
					t.Fatalf("setup: %v", err)
				}
			}
			master := p
			for w := range max(tt.workers, 1) {
				// As master check and each worker compile it.
				p, err = script.Compile(b, script.Options{Vars: vars, SetupData: setupData, Slice: script.Slice{Index: w, Count: max(tt.workers, 1)}})
				if err != nil {
					t.Fatal(err)
				}
				r, err := userbehavior.NewRunner(userbehavior.RunnerConfig{Classes: p.Classes(), Host: srv.URL, Collector: col, Transport: tr,
					Run: userbehavior.RunInfo{ID: "run-1", WorkerIndex: w, WorkerCount: max(tt.workers, 1)}})
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range p.Classes() {
					n, ok := tt.runs[c.Name]
					if !ok {
						t.Fatalf("class %s not run by the test", c.Name)
					}
					for range n {
						if err := r.RunOnce(context.Background(), c.Name); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			if c, result := master.TeardownClass(setupData); c != nil {
				hook(c)
				if err := result(); err != nil {
					t.Errorf("teardown: %v", err)
				}
			}
			snap := col.Swap(time.Now())
			if len(snap.Exceptions) > 0 {
				t.Errorf("task errors: %v", snap.Exceptions)
			}
			var sent, failed uint64
			for k, st := range snap.Endpoints {
				if w, ok := tt.want[k]; !ok || st.Requests != w.Requests || st.Failures != w.Failures {
					t.Errorf("%v: %d requests, %d failures; want %+v (errors: %v)", k, st.Requests, st.Failures, w, snap.Errors)
				}
				sent += st.Requests
				failed += st.Failures
			}
			for k := range tt.want {
				if _, ok := snap.Endpoints[k]; !ok {
					t.Errorf("no row %v", k)
				}
			}
			total, byStatus := s.counts()
			apiTotal, apiByStatus := apiServed.counts()
			if sent != uint64(total+apiTotal) {
				t.Errorf("%d requests counted, %d served", sent, total+apiTotal)
			}
			var errs int
			for code, n := range byStatus {
				if code >= 400 {
					errs += n + apiByStatus[code]
				}
			}
			if failed != uint64(errs) {
				t.Errorf("%d requests failed, the target answered %d with an error (%v)", failed, errs, byStatus)
			}
			if tt.check != nil {
				tt.check(t, p, site, snap)
			}
		})
	}
}

// TestSemaphoreWaitPort: the users of the semaphore_wait port send nothing until
// their worker runs all of them (USERS), then each sends its request.
func TestSemaphoreWaitPort(t *testing.T) {
	var s served
	srv := httptest.NewServer(s.wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	defer srv.Close()
	b, err := script.LoadDir(filepath.Join("locust", "semaphore_wait", "main.star"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := script.Compile(b, script.Options{Vars: map[string]string{"USERS": "3"}})
	if err != nil {
		t.Fatal(err)
	}
	col := aggregate.NewCollector(time.Now())
	r, err := userbehavior.NewRunner(userbehavior.RunnerConfig{Classes: p.Classes(), Host: srv.URL, Collector: col})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); r.StopAll(context.Background()) }()
	for range 2 {
		if err := r.Spawn(ctx, "WebsiteUser"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond) // five of the users' looks at u.user_count
	if n, _ := s.counts(); n != 0 {
		t.Fatalf("%d requests before all 3 users ran", n)
	}
	if err := r.Spawn(ctx, "WebsiteUser"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if n, _ := s.counts(); n == 3 {
			break
		}
		if time.Now().After(deadline) {
			n, _ := s.counts()
			t.Fatalf("%d requests 30 s after the third user started, want 3", n)
		}
	}
}
