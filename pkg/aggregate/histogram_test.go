package aggregate

import (
	"math/rand/v2"
	"testing"
	"time"
)

// forms runs f on a histogram in each of its forms.
var forms = []struct {
	name string
	make func() *Histogram
}{
	{"sparse", NewHistogram},
	{"dense", func() *Histogram { return dense(NewHistogram()) }},
	{"zero value", func() *Histogram { return &Histogram{} }},
}

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
				h := form.make()
				for range 1000 {
					h.Record(tt.latency)
				}
				if h.Count() != 1000 {
					t.Fatalf("Count = %d, want 1000", h.Count())
				}
				tolerance := tt.latency / 1000 // 3 significant digits
				for _, p := range []float64{0, 1, 50, 90, 99, 99.9, 100} {
					got := h.Percentile(p)
					if diff := (got - tt.latency).Abs(); diff > tolerance {
						t.Errorf("Percentile(%v) = %v, want %v ± %v", p, got, tt.latency, tolerance)
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
	for _, form := range forms {
		for _, tt := range tests {
			t.Run(form.name+"/"+tt.name, func(t *testing.T) {
				h := form.make()
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
}

func TestHistogramEmpty(t *testing.T) {
	for _, form := range forms {
		t.Run(form.name, func(t *testing.T) {
			h := form.make()
			check := func(when string) {
				t.Helper()
				if h.Count() != 0 || h.Percentile(50) != 0 || h.Percentile(100) != 0 || h.Min() != 0 || h.Max() != 0 {
					t.Errorf("%s: Count %d, p50 %v, p100 %v, Min %v, Max %v; want all 0",
						when, h.Count(), h.Percentile(50), h.Percentile(100), h.Min(), h.Max())
				}
			}
			check("new")
			h.Record(time.Second)
			h.Reset()
			check("after Reset")
			h.Merge(NewHistogram())
			h.Merge(nil)
			check("after merging empty")
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
		{"union past the dense threshold", 700, 900},
		{"large", 20000, 30000},
	}
	for _, tt := range tests {
		a, b := latencies(rng, tt.na, 15*time.Millisecond), latencies(rng, tt.nb, 40*time.Millisecond)
		want := histogramOf(append(append([]time.Duration{}, a...), b...)...)
		for _, fa := range forms[:2] {
			for _, fb := range forms[:2] {
				t.Run(tt.name+"/"+fa.name+"<-"+fb.name, func(t *testing.T) {
					ha, hb := fa.make(), fb.make()
					for _, d := range a {
						ha.Record(d)
					}
					for _, d := range b {
						hb.Record(d)
					}
					hbBefore := hb.Clone()
					ha.Merge(hb)
					if !ha.Equal(want) {
						t.Errorf("merged histogram differs from recording all samples into one (count %d, want %d)", ha.Count(), want.Count())
					}
					if !hb.Equal(hbBefore) {
						t.Errorf("Merge changed its argument")
					}
					for _, p := range []float64{50, 99, 99.9} {
						if ha.Percentile(p) != want.Percentile(p) {
							t.Errorf("Percentile(%v) = %v, want %v", p, ha.Percentile(p), want.Percentile(p))
						}
					}
				})
			}
		}
	}
}

func TestHistogramMergeItself(t *testing.T) {
	for _, form := range forms[:2] {
		t.Run(form.name, func(t *testing.T) {
			h := form.make()
			ds := latencies(rand.New(rand.NewPCG(3, 4)), 200, time.Millisecond)
			want := NewHistogram()
			for _, d := range ds {
				h.Record(d)
				want.Record(d)
				want.Record(d)
			}
			h.Merge(h)
			if !h.Equal(want) {
				t.Errorf("h.Merge(h) did not double every count")
			}
		})
	}
}

func TestHistogramGoesDenseWhenBusy(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ds := latencies(rng, 50000, 20*time.Millisecond)
	h, lib := NewHistogram(), newLibrary()
	for _, d := range ds {
		h.Record(d)
		_ = lib.RecordValue(micros(d))
	}
	if h.dense == nil {
		t.Fatalf("a histogram with %d samples over many buckets stayed sparse", len(ds))
	}
	if h.Count() != int64(len(ds)) {
		t.Fatalf("Count = %d, want %d", h.Count(), len(ds))
	}
	for _, p := range []float64{0, 50, 90, 99, 99.9, 100} {
		if got, want := h.Percentile(p), duration(lib.ValueAtPercentile(p)); got != want {
			t.Errorf("Percentile(%v) = %v, library %v", p, got, want)
		}
	}
}

func TestHistogramCloneIsIndependent(t *testing.T) {
	for _, form := range forms[:2] {
		t.Run(form.name, func(t *testing.T) {
			h := form.make()
			h.Record(time.Millisecond)
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
		{"sparse and dense", a, dense(histogramOf(time.Millisecond, time.Second)), true},
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
