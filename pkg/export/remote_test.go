package export

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// receiver records every remote-write request it is sent, decoded.
type fakeReceiver struct {
	mu   sync.Mutex
	reqs []prompb.WriteRequest
	hdr  http.Header
}

func (f *fakeReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.hdr = r.Header.Clone()
	f.mu.Unlock()
}

func interval(start time.Time, sec int, final bool, reqs int, fails int) Interval {
	s := aggregate.NewSnapshot(start.Add(time.Duration(sec-1) * time.Second))
	st := aggregate.NewStats()
	for i := range reqs {
		d := time.Duration(i+1) * time.Millisecond
		st.Latency.Record(d)
		st.TotalTime += d
	}
	st.Requests, st.Failures = uint64(reqs), uint64(fails)
	s.Endpoints[aggregate.Endpoint{Method: "GET", Name: "/x"}] = st
	if fails > 0 {
		s.Errors[aggregate.ErrorKey{Endpoint: aggregate.Endpoint{Method: "GET", Name: "/x"}, Message: "HTTP 500"}] = uint64(fails)
	}
	return Interval{RunID: "r1", Label: "nightly", Started: start, At: start.Add(time.Duration(sec) * time.Second),
		Snapshot: s, Users: 3, Workers: 2, Final: final}
}

// TestExporterPushesTheRunsTotals: the last request a receiver gets carries the
// sums of every interval, the run's labels, the --tag labels, the configured
// header and basic auth; every counter starts with a zero at the run's start.
func TestExporterPushesTheRunsTotals(t *testing.T) {
	rec := &fakeReceiver{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	e, err := New(Config{URLs: []string{srv.URL + "/api/v1/write"}, Interval: time.Hour, Tags: map[string]string{"testid": "t-1"},
		Header: http.Header{"X-Scope-Orgid": {"team"}}, User: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	start := time.UnixMilli(1_700_000_000_000)
	wantReqs, wantFails := 0, 0
	for sec := 1; sec <= 5; sec++ {
		e.Interval(interval(start, sec, sec == 5, 10*sec, sec%2))
		wantReqs += 10 * sec
		wantFails += sec % 2
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := e.Stats(); s.Pushed != 1 || s.Dropped != 0 {
		t.Fatalf("stats %+v: want the final push only (the interval is an hour)", s)
	}
	last := rec.reqs[len(rec.reqs)-1]
	if u, p, _ := (&http.Request{Header: rec.hdr}).BasicAuth(); u != "u" || p != "p" || rec.hdr.Get("X-Scope-Orgid") != "team" {
		t.Errorf("headers %v", rec.hdr)
	}
	got := map[string][]float64{}
	for _, ts := range last.Timeseries {
		labels := map[string]string{}
		for _, l := range ts.Labels {
			labels[l.Name] = l.Value
		}
		if labels["run_id"] != "r1" || labels["label"] != "nightly" || labels["testid"] != "t-1" {
			t.Errorf("series %v lacks the run's labels", labels)
		}
		name := labels["__name__"]
		for _, s := range ts.Samples {
			got[name] = append(got[name], s.Value)
		}
		for _, h := range ts.Histograms {
			got[name] = append(got[name], float64(h.GetCountInt()))
		}
	}
	want := map[string][]float64{
		MetricRequests: {0, float64(wantReqs)}, MetricFailures: {0, float64(wantFails)}, MetricErrors: {0, float64(wantFails)},
		MetricLatency: {0, float64(wantReqs)}, MetricLatency + "_count": {0, float64(wantReqs)},
		MetricUsers: {3}, MetricWorkers: {2}, MetricDropped: {0, 0},
	}
	for name, w := range want {
		if g := got[name]; len(g) != len(w) || g[0] != w[0] || g[len(g)-1] != w[len(w)-1] {
			t.Errorf("%s: %v, want %v", name, g, w)
		}
	}
}

// TestExporterSlowReceiverStaysBounded: a receiver that never answers holds one
// push; the rest wait in a queue of QueueLen, the oldest dropped past it, and
// handing over intervals never waits. Close gives up at its deadline, counting
// what was not sent.
func TestExporterSlowReceiverStaysBounded(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	e, err := New(Config{URLs: []string{srv.URL}, Interval: time.Hour, QueueLen: 4, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	start := time.UnixMilli(1_700_000_000_000)
	const pushes = 50
	for sec := 1; sec <= pushes; sec++ {
		e.Interval(interval(start, sec, false, 5, 0))
		e.push()
		if n := e.queued(); n > 4 {
			t.Fatalf("%d requests queued, bound 4", n)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.Close(ctx); err == nil {
		t.Fatal("Close says every push went through")
	}
	if s := e.Stats(); s.Pushed != 0 || s.Dropped != pushes {
		t.Errorf("stats %+v, want 0 pushed and %d dropped", s, pushes)
	}
}
