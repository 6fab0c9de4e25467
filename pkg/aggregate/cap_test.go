package aggregate

import (
	"fmt"
	"testing"
	"time"
)

// distinctURLs returns n samples, each to a URL of its own (no name grouping), with
// every third failing with the same message.
func distinctURLs(method string, n, from int) []Sample {
	out := make([]Sample, n)
	for i := range out {
		out[i] = Sample{Endpoint: Endpoint{Method: method, Name: fmt.Sprintf("/item/%d", from+i)},
			Latency: time.Duration(1+i%50) * time.Millisecond, Bytes: 10}
		if i%3 == 0 {
			out[i].Err = "HTTP 404 Not Found"
		}
	}
	return out
}

// checkCapped checks the invariants of a Snapshot built past the cap: at most
// MaxEndpoints named rows and the overflow rows, the totals of every sample, and
// every error on a row the Snapshot has.
func checkCapped(t *testing.T, s *Snapshot, requests, failures uint64, methods int) {
	t.Helper()
	if !s.Capped() {
		t.Errorf("Capped() = false with %d rows", len(s.Endpoints))
	}
	named, other := 0, 0
	for ep := range s.Endpoints {
		if ep.Name == OtherEndpoints {
			other++
		} else {
			named++
		}
	}
	if named > MaxEndpoints || other > methods || len(s.Endpoints) > MaxEndpointRows {
		t.Errorf("%d named rows and %d overflow rows: want at most %d and %d", named, other, MaxEndpoints, methods)
	}
	var req, fail, bytes, samples uint64
	for _, st := range s.Endpoints {
		req += st.Requests
		fail += st.Failures
		bytes += st.Bytes
		samples += uint64(st.Latency.Count())
	}
	if req != requests || fail != failures || bytes != 10*requests || samples != requests {
		t.Errorf("rows count %d requests, %d failures, %d bytes, %d samples; want %d, %d, %d, %d",
			req, fail, bytes, samples, requests, failures, 10*requests, requests)
	}
	var errs uint64
	for k, n := range s.Errors {
		errs += n
		if _, ok := s.Endpoints[k.Endpoint]; !ok {
			t.Errorf("error row %v names an endpoint the snapshot has no row for", k)
		}
	}
	if errs != failures {
		t.Errorf("error rows count %d failures, want %d", errs, failures)
	}
}

func TestCollectorCapsEndpoints(t *testing.T) {
	ss := append(distinctURLs("GET", 10000, 0), distinctURLs("POST", 500, 0)...)
	s := collect(ss, t0.Add(time.Second))
	checkCapped(t, s, 10500, 3334+167, 2)
	if len(s.Endpoints) != MaxEndpoints+2 {
		t.Errorf("%d rows, want %d named and one overflow row per method", len(s.Endpoints), MaxEndpoints)
	}
	for _, m := range []string{"GET", "POST"} {
		if s.Endpoints[Endpoint{Method: m, Name: OtherEndpoints}] == nil {
			t.Errorf("no overflow row for %s", m)
		}
	}
	// A row that has its own name keeps counting there after the cap is reached.
	first := Endpoint{Method: "GET", Name: "/item/0"}
	r := NewCollector(t0)
	rec := r.NewRecorder()
	for _, smp := range append(append(distinctURLs("GET", 2000, 0), distinctURLs("GET", 1, 0)...), Sample{Endpoint: first, Latency: 1}) {
		rec.Record(smp, t0)
	}
	rec.Flush()
	if got := r.Swap(t0.Add(time.Second)).Endpoints[first].Requests; got != 3 {
		t.Errorf("%v counted %d requests after the cap, want 3", first, got)
	}
}

func TestCollectorUnderCapIsNotCapped(t *testing.T) {
	s := collect(distinctURLs("GET", MaxEndpoints, 0), t0.Add(time.Second))
	if s.Capped() || len(s.Endpoints) != MaxEndpoints {
		t.Errorf("%d distinct endpoints: Capped() = %v with %d rows, want false and every row", MaxEndpoints, s.Capped(), len(s.Endpoints))
	}
}

func TestSnapshotMergeCapsEndpoints(t *testing.T) {
	// Three workers under the cap each, over it together (the master's merge).
	a := collect(distinctURLs("GET", 800, 0), t0.Add(time.Second))
	b := collect(distinctURLs("GET", 800, 800), t0.Add(time.Second))
	c := collect(distinctURLs("PUT", 800, 0), t0.Add(time.Second))
	for _, s := range []*Snapshot{a, b, c} {
		if s.Capped() {
			t.Fatal("a worker's snapshot is capped already")
		}
	}
	merged := func() *Snapshot {
		m := NewSnapshot(t0)
		m.Merge(a)
		m.Merge(b)
		m.Merge(c)
		return m
	}
	got := merged()
	checkCapped(t, got, 2400, 3*267, 2)
	// Which rows keep their names does not depend on map order.
	for range 5 {
		if again := merged(); !again.Equal(got) {
			t.Fatal("merging the same snapshots twice gave different results")
		}
	}
	// A capped snapshot merged into another (the cumulative total) keeps its counts.
	total := NewSnapshot(t0)
	total.Merge(got)
	total.Merge(got)
	checkCapped(t, total, 4800, 6*267, 2)
}

func TestSnapshotCapBoundsMethodsAndKeepsTimingRowsOut(t *testing.T) {
	ss := distinctURLs("GET", MaxEndpoints, 0)
	for i := range 3 * MaxOtherMethods {
		ss = append(ss, distinctURLs(fmt.Sprintf("M%02d", i), 2, 5000)...)
	}
	timing := distinctURLs("TTFB", 5, 9000)
	s := collect(append(ss, timing...), t0.Add(time.Second))
	checkCapped(t, s, uint64(len(ss)+len(timing)), uint64(MaxEndpoints/3+1+3*MaxOtherMethods+2), MaxOtherMethods+2)
	if s.Endpoints[Endpoint{Method: OtherMethods, Name: OtherEndpoints}] == nil {
		t.Errorf("no %q row for the methods past %d", OtherMethods, MaxOtherMethods)
	}
	if st := s.Endpoints[Endpoint{Method: "TTFB", Name: OtherEndpoints}]; st == nil || st.Requests != 5 {
		t.Errorf("timing rows past the cap: %+v, want their own overflow row of 5", st)
	}
	if got, want := s.Total().Requests, uint64(len(ss)); got != want {
		t.Errorf("Total().Requests = %d, want %d (timing rows left out)", got, want)
	}
}
