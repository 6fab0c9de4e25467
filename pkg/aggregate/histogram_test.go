package aggregate

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestHistogramPercentileOfFixedLatency(t *testing.T) {
	tests := []struct {
		name    string
		latency time.Duration
	}{
		{"1us", time.Microsecond},
		{"999us", 999 * time.Microsecond},
		{"1.5ms", 1500 * time.Microsecond},
		{"12.345ms", 12345 * time.Microsecond},
		{"250ms", 250 * time.Millisecond},
		{"7.777s", 7777 * time.Millisecond},
		{"59min", 59 * time.Minute},
		{"1h", time.Hour},
	}
	for _, form := range forms {
		for _, tt := range tests {
			t.Run(form.name+"/"+tt.name, func(t *testing.T) {
				h := NewHistogram()
				for range 1000 {
					h.Record(tt.latency)
				}
				form.to(h)
				if h.Count() != 1000 {
					t.Fatalf("Count = %d, want 1000", h.Count())
				}
				tolerance := tt.latency / 1000 // 3 significant digits
				ps := []float64{0, 1, 50, 90, 99, 99.9, 100}
				all := h.Percentiles(ps...)
				for k, p := range ps {
					got := h.Percentile(p)
					if diff := (got - tt.latency).Abs(); diff > tolerance || all[k] != got {
						t.Errorf("Percentile(%v) = %v (Percentiles: %v), want %v ± %v", p, got, all[k], tt.latency, tolerance)
					}
				}
				for name, got := range map[string]time.Duration{"Min": h.Min(), "Max": h.Max()} {
					if diff := (got - tt.latency).Abs(); diff > tolerance {
						t.Errorf("%s = %v, want %v ± %v", name, got, tt.latency, tolerance)
					}
				}
			})
		}
	}
}

func TestHistogramRecordClamps(t *testing.T) {
	tests := []struct {
		name     string
		in       time.Duration
		min, max time.Duration
	}{
		{"negative", -time.Hour, time.Microsecond, time.Microsecond},
		{"zero", 0, time.Microsecond, time.Microsecond},
		{"nanoseconds", 10 * time.Nanosecond, time.Microsecond, time.Microsecond},
		{"two hours", 2 * time.Hour, time.Hour - time.Hour/1000, time.Hour + time.Hour/1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram // the zero value works
			h.Record(tt.in)
			if h.Count() != 1 {
				t.Fatalf("Count = %d, want 1", h.Count())
			}
			if got := h.Percentile(50); got < tt.min || got > tt.max {
				t.Errorf("Percentile(50) = %v, want within [%v, %v]", got, tt.min, tt.max)
			}
		})
	}
}

func TestHistogramEmpty(t *testing.T) {
	check := func(t *testing.T, h *Histogram) {
		t.Helper()
		if h.Count() != 0 || h.Percentile(50) != 0 || h.Percentile(100) != 0 || h.Min() != 0 || h.Max() != 0 ||
			h.Percentiles(0, 50)[1] != 0 {
			t.Errorf("Count %d, p50 %v, p100 %v, Min %v, Max %v; want all 0",
				h.Count(), h.Percentile(50), h.Percentile(100), h.Min(), h.Max())
		}
	}
	tests := []struct {
		name string
		h    func() *Histogram
	}{
		{"new", NewHistogram},
		{"zero value", func() *Histogram { return &Histogram{} }},
		{"dense after Reset", func() *Histogram {
			h := histogramOf(time.Second)
			h.Reset()
			return h
		}},
		{"sparse after Reset", func() *Histogram {
			h := sparse(histogramOf(time.Second))
			h.Reset()
			return h
		}},
		{"after merging empty", func() *Histogram {
			h := NewHistogram()
			h.Merge(NewHistogram())
			h.Merge(nil)
			h.Merge(h)
			return h
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, tt.h())
		})
	}
}

func TestHistogramMergeIsLossless(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name   string
		na, nb int
	}{
		{"both empty", 0, 0},
		{"into empty", 0, 500},
		{"from empty", 500, 0},
		{"small", 300, 400},
		{"sparse union past maxSparse", 700, 900},
		{"large", 20000, 30000},
	}
	for _, tt := range tests {
		a, b := latencies(rng, tt.na, 15*time.Millisecond), latencies(rng, tt.nb, 40*time.Millisecond)
		want := histogramOf(append(append([]time.Duration{}, a...), b...)...)
		for _, fa := range forms {
			for _, fb := range forms {
				t.Run(tt.name+"/"+fa.name+"<-"+fb.name, func(t *testing.T) {
					ha, hb := fa.to(histogramOf(a...)), fb.to(histogramOf(b...))
					hbBefore := hb.Clone()
					ha.Merge(hb)
					if !ha.Equal(want) {
						t.Errorf("merged histogram differs from recording all samples into one (count %d, want %d)", ha.Count(), want.Count())
					}
					if !hb.Equal(hbBefore) {
						t.Errorf("Merge changed its argument")
					}
					ps := []float64{0, 50, 99, 99.9, 100}
					got, wantPs := ha.Percentiles(ps...), want.Percentiles(ps...)
					for k, p := range ps {
						if got[k] != wantPs[k] {
							t.Errorf("Percentile(%v) = %v, want %v", p, got[k], wantPs[k])
						}
					}
				})
			}
		}
	}
}

// Merging sparse histograms stays sparse while the union is small, and goes
// dense past maxSparse.
func TestHistogramSparseMergeForm(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	tests := []struct {
		name      string
		na, nb    int
		wantDense bool
	}{
		{"small union", 100, 100, false},
		{"large union", 2000, 2000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := sparse(histogramOf(latencies(rng, tt.na, time.Millisecond)...))
			b := sparse(histogramOf(latencies(rng, tt.nb, 100*time.Millisecond)...))
			a.Merge(b)
			if got := a.pages != nil; got != tt.wantDense {
				t.Errorf("dense = %v, want %v (%d buckets)", got, tt.wantDense, len(a.sparse))
			}
			if a.Count() != int64(tt.na+tt.nb) {
				t.Errorf("Count = %d, want %d", a.Count(), tt.na+tt.nb)
			}
		})
	}
}

func TestHistogramMergeItself(t *testing.T) {
	for _, form := range forms {
		t.Run(form.name, func(t *testing.T) {
			ds := latencies(rand.New(rand.NewPCG(3, 4)), 200, time.Millisecond)
			h := form.to(histogramOf(ds...))
			want := histogramOf(append(append([]time.Duration{}, ds...), ds...)...)
			h.Merge(h)
			if !h.Equal(want) {
				t.Errorf("h.Merge(h) did not double every count")
			}
		})
	}
}

func TestHistogramCloneIsIndependent(t *testing.T) {
	for _, form := range forms {
		t.Run(form.name, func(t *testing.T) {
			h := form.to(histogramOf(time.Millisecond))
			c := h.Clone()
			c.Record(time.Second)
			h.Record(time.Minute)
			if h.Count() != 2 || c.Count() != 2 || h.Max() == c.Max() {
				t.Errorf("clone shares state: h count %d max %v, clone count %d max %v", h.Count(), h.Max(), c.Count(), c.Max())
			}
		})
	}
}

func TestHistogramEqual(t *testing.T) {
	a := histogramOf(time.Millisecond, time.Second)
	tests := []struct {
		name string
		a, b *Histogram
		want bool
	}{
		{"same", a, histogramOf(time.Second, time.Millisecond), true},
		{"sparse and dense", a, sparse(histogramOf(time.Millisecond, time.Second)), true},
		{"different bucket", a, histogramOf(time.Millisecond, 2*time.Second), false},
		{"different count", a, histogramOf(time.Millisecond, time.Second, time.Second), false},
		{"nil and empty", nil, NewHistogram(), true},
		{"nil and non-empty", nil, a, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Equal(tt.b); got != tt.want {
				t.Errorf("a.Equal(b) = %v, want %v", got, tt.want)
			}
			if got := tt.b.Equal(tt.a); got != tt.want {
				t.Errorf("b.Equal(a) = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCountsAtOrBelow(t *testing.T) {
	for _, dense := range []bool{false, true} {
		h := NewHistogram()
		n := 100
		if dense {
			n = 5000 // enough distinct buckets to take the paged form
		}
		for i := 1; i <= n; i++ {
			h.Record(time.Duration(i) * 100 * time.Microsecond) // 0.1 ms .. n/10 ms
		}
		bounds := []time.Duration{time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, time.Hour}
		got := h.CountsAtOrBelow(bounds)
		want := []uint64{10, 50, 100, uint64(n)}
		for k := range bounds {
			// Bucket edges are within 0.1 %: a value equal to a bound may fall either side.
			if d := int64(got[k]) - int64(want[k]); d < -1 || d > 1 {
				t.Errorf("dense=%v: at or below %v: %d, want %d", dense, bounds[k], got[k], want[k])
			}
		}
	}
}
