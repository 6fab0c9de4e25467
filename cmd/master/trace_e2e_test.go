package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// traceTarget notes the traceparent of every request and delays every 25th by
// 200 ms: those are the run's slowest.
type traceTarget struct {
	mu      sync.Mutex
	n       int
	headers []string
	slow    map[string]bool // trace ids of the delayed requests
	bad     []string
}

var traceparent = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$`)

func (tt *traceTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := r.Header.Values("traceparent")
	tt.mu.Lock()
	tt.n++
	delay := tt.n%25 == 0
	if len(h) != 1 || !traceparent.MatchString(h[0]) {
		tt.bad = append(tt.bad, fmt.Sprint(h))
	} else {
		tt.headers = append(tt.headers, h[0])
		if delay {
			tt.slow[traceparent.FindStringSubmatch(h[0])[1]] = true
		}
	}
	tt.mu.Unlock()
	if delay {
		time.Sleep(200 * time.Millisecond)
	}
}

// TestTraceContext runs the real master with --trace-context --trace-sample 0.25,
// --trace-url and --remote-write to a real Prometheus: every request the target gets carries
// one valid traceparent with a trace id of its own, about a quarter say sampled,
// the slowest requests the summary lists carry the trace ids the target saw on
// the requests it delayed, linked by the template in the summary and the HTML
// report, and so do the exemplars Prometheus keeps.
func TestTraceContext(t *testing.T) {
	masterBin, _ := binaries(t)
	prom := prometheus(t)
	target := &traceTarget{slow: map[string]bool{}}
	ts := httptest.NewServer(target)
	defer ts.Close()
	dir := t.TempDir()
	summary := filepath.Join(dir, "summary.json")
	out, err := exec.Command(masterBin, "--headless", "-u", "10", "-r", "100", "-t", "4s", "-H", ts.URL+"/x", "--wait", "2ms",
		"--db", filepath.Join(dir, "runs.db"), "--exit-code-on-error", "0", "--trace-context", "--trace-sample", "0.25",
		"--json", summary, "--html", filepath.Join(dir, "report.html"), "--trace-url", "https://tempo.example/trace/{trace_id}?orgId=1",
		"--remote-write", prom+"/api/v1/write", "--remote-write-interval", "1s").CombinedOutput()
	if err != nil {
		t.Fatalf("master: %v\n%s", err, out)
	}
	target.mu.Lock()
	defer target.mu.Unlock()
	if len(target.bad) > 0 {
		t.Fatalf("%d requests without one valid traceparent, e.g. %v", len(target.bad), target.bad[0])
	}
	ids, sampled := map[string]bool{}, 0
	for _, h := range target.headers {
		m := traceparent.FindStringSubmatch(h)
		if ids[m[1]] {
			t.Errorf("trace id %s sent twice", m[1])
		}
		ids[m[1]] = true
		if h[len(h)-1] == '1' {
			sampled++
		}
	}
	n := float64(len(target.headers))
	if sd := math.Sqrt(n * 0.25 * 0.75); math.Abs(float64(sampled)-0.25*n) > 5*sd {
		t.Errorf("%d of %.0f requests sampled, want about a quarter", sampled, n)
	}
	var sum struct {
		RunID   string `json:"run_id"`
		Slowest []struct {
			LatencyMs float64 `json:"latency_ms"`
			TraceID   string  `json:"trace_id"`
			TraceURL  string  `json:"trace_url"`
		}
	}
	b, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.Slowest) == 0 {
		t.Fatal("no slowest requests in the summary")
	}
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sum.Slowest {
		if !target.slow[s.TraceID] {
			t.Errorf("slowest request (%.1f ms) has trace id %q, not one the target delayed", s.LatencyMs, s.TraceID)
		}
		link := "https://tempo.example/trace/" + s.TraceID + "?orgId=1"
		if s.TraceURL != link {
			t.Errorf("trace_url %q, want %q", s.TraceURL, link)
		}
		if !strings.Contains(string(html), link) {
			t.Errorf("the HTML report lacks the link %s", link)
		}
	}
	// Exemplars on the remote-written histogram carry the slow requests' trace ids.
	v := url.Values{"query": {fmt.Sprintf(`stampede_request_duration_seconds{run_id=%q}`, sum.RunID)},
		"start": {fmt.Sprint(time.Now().Add(-10 * time.Minute).Unix())}, "end": {fmt.Sprint(time.Now().Add(time.Minute).Unix())}}
	resp, err := http.Get(prom + "/api/v1/query_exemplars?" + v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ex struct {
		Data []struct {
			Exemplars []struct {
				Labels map[string]string
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&ex); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, d := range ex.Data {
		for _, e := range d.Exemplars {
			seen++
			if !target.slow[e.Labels["trace_id"]] {
				t.Errorf("exemplar trace id %q is not one the target delayed", e.Labels["trace_id"])
			}
		}
	}
	if seen == 0 {
		t.Error("Prometheus holds no exemplar for the run")
	}
	t.Logf("%.0f requests, %d sampled, %d slowest listed, %d exemplars", n, sampled, len(sum.Slowest), seen)
}
