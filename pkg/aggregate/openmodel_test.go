package aggregate

import (
	"testing"
	"time"
)

func TestRecordCorrectedFillsTheMissedSamples(t *testing.T) {
	h := NewHistogram()
	h.RecordCorrected(1000*time.Millisecond, 100*time.Millisecond)
	// 1000 ms itself, then 900, 800, ..., 100: what a user pacing 100 ms would have seen.
	if got := h.Count(); got != 10 {
		t.Fatalf("count = %d, want 10", got)
	}
	if got := h.Min(); got < 99*time.Millisecond || got > 101*time.Millisecond {
		t.Errorf("min = %v, want 100ms", got)
	}
	short := NewHistogram()
	short.RecordCorrected(50*time.Millisecond, 100*time.Millisecond)
	if short.Count() != 1 {
		t.Errorf("a sample shorter than the interval adds nothing: count %d", short.Count())
	}
	capped := NewHistogram()
	capped.RecordCorrected(time.Hour, time.Microsecond)
	if capped.Count() != MaxCorrections+1 {
		t.Errorf("count = %d, want the cap %d + 1", capped.Count(), MaxCorrections)
	}
}

func TestRecorderOpenModelAndPace(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := NewCollector(t0)
	r := c.NewRecorder()
	get := Endpoint{Method: "GET", Name: "/x"}
	r.SetLateness(200 * time.Millisecond)
	r.Record(Sample{Endpoint: get, Latency: 10 * time.Millisecond}, t0)
	r.SetLateness(0)
	r.Record(Sample{Endpoint: get, Latency: 30 * time.Millisecond}, t0)
	r.Flush()
	st := c.Swap(t0.Add(time.Second)).Endpoints[get]
	if st.Latency.Max() < 209*time.Millisecond || st.Latency.Max() > 211*time.Millisecond {
		t.Errorf("latency from due: max %v, want 210ms", st.Latency.Max())
	}
	if st.TotalTime != 240*time.Millisecond {
		t.Errorf("total time %v, want 240ms (from due)", st.TotalTime)
	}
	if st.Service == nil || st.Service.Count() != 2 || st.Service.Max() > 31*time.Millisecond {
		t.Fatalf("service time: %+v", st.Service)
	}

	r2 := c.NewRecorder()
	r2.SetPace(100 * time.Millisecond)
	r2.Record(Sample{Endpoint: get, Latency: 450 * time.Millisecond}, t0)
	r2.Flush()
	st = c.Swap(t0.Add(2 * time.Second)).Endpoints[get]
	if st.Latency.Count() != 1 || st.Corrected == nil || st.Corrected.Count() != 4 {
		t.Fatalf("corrected: latency %d samples, corrected %+v", st.Latency.Count(), st.Corrected)
	}
	if st.Service != nil {
		t.Errorf("a closed-model sample has no service histogram")
	}

	// Merge, Clone and Equal carry the optional histograms.
	a := &Stats{Latency: histogramOf(time.Millisecond), Service: histogramOf(time.Millisecond)}
	b := &Stats{Latency: histogramOf(time.Millisecond), Corrected: histogramOf(2 * time.Millisecond)}
	m := a.Clone()
	m.Merge(b)
	if m.Service.Count() != 1 || m.Corrected.Count() != 1 || m.Latency.Count() != 2 {
		t.Errorf("merge: %+v", m)
	}
	if a.Equal(b) || !m.Equal(m.Clone()) {
		t.Error("Equal must compare the optional histograms")
	}
}

func TestTotalLeavesOutTimingRows(t *testing.T) {
	s := NewSnapshot(time.Unix(0, 0))
	s.Endpoints[Endpoint{Method: "GET", Name: "/x"}] = &Stats{Requests: 3, Latency: histogramOf(time.Millisecond, time.Millisecond, time.Millisecond)}
	for _, k := range []string{"TTFB", "SERVER", "CONNECT", "TLS", "TTFC", "ICL", "TTFT", "ITL"} {
		s.Endpoints[Endpoint{Method: k, Name: "/x"}] = &Stats{Requests: 3, Latency: histogramOf(time.Second, time.Second, time.Second)}
	}
	s.Endpoints[Endpoint{Method: "MODEL", Name: "compute"}] = &Stats{Requests: 1, Latency: histogramOf(time.Millisecond)}
	if got := s.Total(); got.Requests != 4 || got.Latency.Max() > 2*time.Millisecond {
		t.Errorf("total %d requests, max %v: timing rows must not count", got.Requests, got.Latency.Max())
	}
}
