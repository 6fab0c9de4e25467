package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/store"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fakeControl is an in-memory controller: it records what the dashboard asked and
// publishes the views the test hands it.
type fakeControl struct {
	mu      sync.Mutex
	live    *report.Live
	started []StartRequest
	edits   [][2]float64
	stops   int
	resets  int
	subs    []chan struct{}
	refuse  error
}

func (f *fakeControl) Live() *report.Live {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.live
}

func (f *fakeControl) Subscribe() (<-chan struct{}, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{}, 1)
	f.subs = append(f.subs, ch)
	return ch, func() {}
}

func (f *fakeControl) publish(l *report.Live) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.live = l
	for _, ch := range f.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (f *fakeControl) StartRun(_ context.Context, r StartRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return f.refuse
	}
	f.started = append(f.started, r)
	return nil
}

func (f *fakeControl) Stop(context.Context, string) error {
	f.mu.Lock()
	f.stops++
	f.mu.Unlock()
	return nil
}
func (f *fakeControl) Edit(_ context.Context, u int, r float64) error {
	f.mu.Lock()
	f.edits = append(f.edits, [2]float64{float64(u), r})
	f.mu.Unlock()
	return nil
}
func (f *fakeControl) Reset(context.Context) error {
	f.mu.Lock()
	f.resets++
	f.mu.Unlock()
	return nil
}

// fixture stores one completed run with two intervals and returns its id.
func fixture(t *testing.T, db *store.DB) string {
	t.Helper()
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	id := "20261125-120000-test"
	if err := db.CreateRun(store.Run{ID: id, Status: store.StatusRunning, Label: "baseline", Config: json.RawMessage(`{"users":10}`), StartedAt: start}); err != nil {
		t.Fatal(err)
	}
	total := aggregate.NewSnapshot(start)
	for i := 1; i <= 2; i++ {
		at := start.Add(time.Duration(i) * time.Second)
		col := aggregate.NewCollector(at.Add(-time.Second))
		rec := col.NewRecorder()
		for j := range 100 {
			s := aggregate.Sample{Endpoint: aggregate.Endpoint{Method: "GET", Name: "/items"}, Latency: time.Duration(10+j) * time.Millisecond, Bytes: 100}
			if j%25 == 0 {
				s.Err = "HTTP 500 Internal Server Error"
			}
			rec.Record(s, at)
		}
		rec.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: "POST", Name: "/buy"}, Latency: 50 * time.Millisecond, Bytes: 10}, at)
		rec.Flush()
		iv := col.Swap(at)
		if err := db.AppendInterval(id, store.Interval{Seq: uint64(i), At: at, Users: 10, Workers: 1, Reports: 1, Snapshot: iv}); err != nil {
			t.Fatal(err)
		}
		total.Merge(iv)
	}
	db.AppendEvent(id, store.Event{At: start, Kind: "worker_joined", Worker: "w1", Detail: "host"})
	tt := total.Total()
	if err := db.FinishRun(id, store.StatusCompleted, "", start.Add(2*time.Second), store.Summary{Requests: tt.Requests,
		Failures: tt.Failures, PeakUsers: 10, RPS: float64(tt.Requests) / 2, P50: tt.Latency.Percentile(50),
		P95: tt.Latency.Percentile(95), P99: tt.Latency.Percentile(99)}, total); err != nil {
		t.Fatal(err)
	}
	return id
}

type harness struct {
	t    *testing.T
	srv  *Server
	ctl  *fakeControl
	db   *store.DB
	http *httptest.Server
}

func newHarness(t *testing.T, auth string) *harness {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "runs.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctl := &fakeControl{live: &report.Live{State: report.StateIdle, Workers: []report.WorkerRow{}}}
	srv, err := NewServer(Config{Control: ctl, DB: db, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &harness{t: t, srv: srv, ctl: ctl, db: db, http: ts}
}

func (h *harness) do(method, path, body string, csrf bool) (*http.Response, []byte) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.http.URL+path, strings.NewReader(body))
	if csrf {
		req.Header.Set("X-Stampede-CSRF", h.srv.CSRF())
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.Bytes()
}

func TestControlEndpoints(t *testing.T) {
	h := newHarness(t, "")
	tests := []struct {
		name, method, path, body string
		csrf                     bool
		status                   int
	}{
		{"start", "POST", "/api/start", `{"users":20,"spawn_rate":5,"host":"http://127.0.0.1:9/","run_time":"90s","label":"x"}`, true, 200},
		{"start without csrf", "POST", "/api/start", `{"users":20,"spawn_rate":5}`, false, 403},
		{"start bad run time", "POST", "/api/start", `{"users":1,"spawn_rate":1,"run_time":"soon"}`, true, 400},
		{"start unknown field", "POST", "/api/start", `{"users":1,"bogus":1}`, true, 400},
		{"edit", "POST", "/api/edit", `{"users":40,"spawn_rate":8}`, true, 200},
		{"stop", "POST", "/api/stop", `{}`, true, 200},
		{"reset", "POST", "/api/reset", `{}`, true, 200},
		{"get on a post route", "GET", "/api/stop", ``, false, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.do(tt.method, tt.path, tt.body, tt.csrf)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
		})
	}
	if len(h.ctl.started) != 1 || h.ctl.started[0].RunTime != 90*time.Second || h.ctl.started[0].Users != 20 {
		t.Errorf("started %+v", h.ctl.started)
	}
	if len(h.ctl.edits) != 1 || h.ctl.edits[0] != [2]float64{40, 8} || h.ctl.stops != 1 || h.ctl.resets != 1 {
		t.Errorf("edits %v stops %d resets %d", h.ctl.edits, h.ctl.stops, h.ctl.resets)
	}
	h.ctl.refuse = errors.New("a run is already active")
	if resp, body := h.do("POST", "/api/start", `{"users":1,"spawn_rate":1}`, true); resp.StatusCode != 409 || !strings.Contains(string(body), "already active") {
		t.Errorf("refused start: %d %s", resp.StatusCode, body)
	}
}

func TestPageCarriesCSRF(t *testing.T) {
	h := newHarness(t, "")
	resp, body := h.do("GET", "/", "", false)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(h.srv.CSRF())) {
		t.Errorf("page %d does not carry the CSRF token", resp.StatusCode)
	}
	if resp, _ := h.do("GET", "/static/app.js", "", false); resp.StatusCode != 200 {
		t.Errorf("app.js: %d", resp.StatusCode)
	}
}

func TestBasicAuth(t *testing.T) {
	h := newHarness(t, "admin:s3cret")
	if resp, _ := h.do("GET", "/api/live", "", false); resp.StatusCode != 401 {
		t.Errorf("no credentials: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", h.http.URL+"/api/live", nil)
	req.SetBasicAuth("admin", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("with credentials: %d", resp.StatusCode)
	}
}

func TestLiveAndStream(t *testing.T) {
	h := newHarness(t, "")
	h.ctl.publish(&report.Live{State: report.StateRunning, RunID: "r1", Users: 5,
		Series: []report.Point{{T: 1, Users: 5, RPS: 10}}, Latest: &report.Point{T: 2, Users: 5, RPS: 11}})
	resp, body := h.do("GET", "/api/live", "", false)
	var l report.Live
	if err := json.Unmarshal(body, &l); err != nil || resp.StatusCode != 200 || l.RunID != "r1" || len(l.Series) != 1 {
		t.Fatalf("live: %d %s %v", resp.StatusCode, body, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.http.URL+"/api/stream", nil)
	sresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	events := bufio.NewScanner(sresp.Body)
	next := func() map[string]any {
		for events.Scan() {
			if data, ok := strings.CutPrefix(events.Text(), "data: "); ok {
				var m map[string]any
				if err := json.Unmarshal([]byte(data), &m); err != nil {
					t.Fatal(err)
				}
				return m
			}
		}
		t.Fatal("stream ended")
		return nil
	}
	first := next()
	if p, _ := first["point"].(map[string]any); first["run_id"] != "r1" || first["series"] != nil || p == nil || p["t"] != 2.0 || first["latest"] != nil {
		t.Errorf("first event: %v; want the latest point as point, and no series", first)
	}
	h.ctl.publish(&report.Live{State: report.StateStopping, RunID: "r1"})
	if second := next(); second["state"] != report.StateStopping {
		t.Errorf("second event: %v", second)
	}
}

func TestRunsEndpoints(t *testing.T) {
	h := newHarness(t, "")
	id := fixture(t, h.db)
	resp, body := h.do("GET", "/api/runs", "", false)
	var runs []report.RunSummary
	if err := json.Unmarshal(body, &runs); err != nil || resp.StatusCode != 200 || len(runs) != 1 || runs[0].Requests != 202 {
		t.Fatalf("runs: %d %s", resp.StatusCode, body)
	}
	resp, body = h.do("GET", "/api/runs/"+id, "", false)
	var v report.RunView
	if err := json.Unmarshal(body, &v); err != nil || resp.StatusCode != 200 || len(v.Series) != 2 || len(v.Endpoints) != 2 || len(v.Events) != 1 {
		t.Fatalf("run: %d %s", resp.StatusCode, body)
	}
	if resp, _ := h.do("GET", "/api/runs/nope", "", false); resp.StatusCode != 404 {
		t.Errorf("unknown run: %d", resp.StatusCode)
	}
	if resp, body := h.do("POST", "/api/runs/"+id+"/label", `{"label":"after fix","notes":"n"}`, true); resp.StatusCode != 200 {
		t.Errorf("label: %d %s", resp.StatusCode, body)
	}
	_, body = h.do("GET", "/api/runs/"+id, "", false)
	if !strings.Contains(string(body), "after fix") {
		t.Error("label not visible after change (stale cache?)")
	}
	resp, body = h.do("GET", "/api/compare?runs="+id+","+id+"&tolerance=5", "", false)
	var c report.Comparison
	if err := json.Unmarshal(body, &c); err != nil || resp.StatusCode != 200 || len(c.Runs) != 2 || c.Regressions != 0 || c.Endpoints[0].Name != "Aggregated" {
		t.Errorf("compare: %d %s", resp.StatusCode, body)
	}
	if resp, _ := h.do("DELETE", "/api/runs/"+id, "", false); resp.StatusCode != 403 {
		t.Errorf("delete without csrf: %d", resp.StatusCode)
	}
	if resp, _ := h.do("DELETE", "/api/runs/"+id, "", true); resp.StatusCode != 200 {
		t.Errorf("delete: %d", resp.StatusCode)
	}
	if resp, _ := h.do("GET", "/api/runs/"+id, "", false); resp.StatusCode != 404 {
		t.Errorf("deleted run still served: %d", resp.StatusCode)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.WriteFile(path, got, 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden:\n%s", name, got)
	}
}

func TestDownloads(t *testing.T) {
	h := newHarness(t, "")
	id := fixture(t, h.db)
	for _, f := range []string{"stats.csv", "failures.csv", "exceptions.csv", "history.csv"} {
		t.Run(f, func(t *testing.T) {
			resp, body := h.do("GET", "/download/"+f+"?run="+id, "", false)
			if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), id) {
				t.Fatalf("%d %v", resp.StatusCode, resp.Header)
			}
			golden(t, f, body)
		})
	}
	resp, body := h.do("GET", "/download/report.html?run="+id, "", false)
	if resp.StatusCode != 200 {
		t.Fatalf("report: %d", resp.StatusCode)
	}
	page := string(body)
	for _, want := range []string{`id="report-data"`, id, `"/items"`} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// Self-contained: no script or stylesheet is fetched from anywhere.
	outside := regexp.MustCompile(`(?i)(<script[^>]*\ssrc=|<link[^>]*\shref=|url\(\s*["']?https?:|fetch\(|new EventSource)`)
	if m := outside.FindString(page); m != "" {
		t.Errorf("report loads an outside resource: %q", m)
	}
	// The report's data section, decoded, is the run.
	data := page[strings.Index(page, `id="report-data">`)+len(`id="report-data">`):]
	data = data[:strings.Index(data, "</script>")]
	var v report.RunView
	if err := json.Unmarshal([]byte(data), &v); err != nil || v.Run.ID != id || v.Total.Requests != 202 {
		t.Errorf("report data: %v %+v", err, v.Run)
	}
	if resp, _ := h.do("GET", "/download/stats.csv", "", false); resp.StatusCode != 500 && resp.StatusCode != 404 {
		t.Errorf("no live run: %d", resp.StatusCode)
	}
	// The live run's history is every second the store has, not the live view's
	// merged points.
	h.ctl.publish(&report.Live{State: report.StateRunning, RunID: id, Series: []report.Point{{T: 99, RPS: 1}}})
	_, live := h.do("GET", "/download/history.csv", "", false)
	_, stored := h.do("GET", "/download/history.csv?run="+id, "", false)
	if !bytes.Equal(live, stored) || bytes.Count(stored, []byte("\n")) < 3 {
		t.Errorf("live run's history.csv:\n%s\nwant the stored series:\n%s", live, stored)
	}
	// The live run's report says what the stored run records: label, configuration.
	_, livePage := h.do("GET", "/download/report.html", "", false)
	for _, want := range []string{"baseline", `\"users\":10`} {
		if !bytes.Contains(livePage, []byte(want)) && !strings.Contains(string(livePage), strings.ReplaceAll(want, `\"`, `"`)) {
			t.Errorf("the live run's report lacks %s, which the stored run has", want)
		}
	}
}

func TestRunCacheBoundsAndExpiry(t *testing.T) {
	h := newHarness(t, "")
	id := fixture(t, h.db)
	c := newRunCache(h.db, 1, time.Minute)
	now := time.Now()
	c.now = func() time.Time { return now }
	a, err := c.get(id)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := c.get(id); b != a {
		t.Error("second open not served from the cache")
	}
	now = now.Add(2 * time.Minute)
	if b, _ := c.get(id); b == a {
		t.Error("expired entry served")
	}
	if c.order.Len() != 1 {
		t.Errorf("cache holds %d entries, max 1", c.order.Len())
	}
}

func TestMetricsAndProbes(t *testing.T) {
	h := newHarness(t, "admin:pw")
	h.ctl.publish(&report.Live{State: report.StateRunning, RunID: "r1", Users: 3, UpdatedAt: time.Now(),
		Endpoints: []report.Row{{Method: "GET", Name: "/x", Requests: 10, Failures: 1, AvgMs: 5, MedianMs: 4, P95Ms: 9, P99Ms: 9,
			Buckets: []uint64{1, 2, 5, 9, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10}}},
		Workers: []report.WorkerRow{{ID: "w1", CPUPercent: 50}}, Scale: report.Scale{Workers: 1, Wanted: 2}})
	for _, p := range []string{"/healthz", "/readyz"} {
		if resp, _ := h.do("GET", p, "", false); resp.StatusCode != 200 {
			t.Errorf("%s without credentials: %d", p, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("GET", h.http.URL+"/metrics", nil)
	req.SetBasicAuth("admin", "pw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`stampede_users 3`, `stampede_workers_wanted 2`, `stampede_requests_total{method="GET",name="/x"} 10`,
		`stampede_latency_seconds_bucket{method="GET",name="/x",le="0.01"} 9`, `stampede_latency_seconds_count{method="GET",name="/x"} 10`,
		`stampede_latency_quantile_seconds{method="GET",name="/x",quantile="0.95"} 0.009`, `stampede_host_cpu_percent{host="w1",role="worker"} 50`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	h.ctl.publish(&report.Live{State: report.StateIdle, UpdatedAt: time.Now().Add(-time.Minute)})
	if resp, _ := h.do("GET", "/readyz", "", false); resp.StatusCode != 503 {
		t.Errorf("readyz with a stalled controller: %d", resp.StatusCode)
	}
}
