package aggregate

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

func newLibrary() *hdr.Histogram { return hdr.New(lowestMicros, highestMicros, sigFigs) }

// The geometry written out in geometry.go is the one hdrhistogram-go builds.
func TestGeometryMatchesLibrary(t *testing.T) {
	lib := newLibrary()
	if got := len(lib.Export().Counts); got != countsLen {
		t.Fatalf("library counts length %d, ours %d", got, countsLen)
	}
	if got := indexOf(highestMicros); got >= countsLen {
		t.Fatalf("indexOf(highest) = %d, beyond the counts array", got)
	}

	// Every index: lowest and highest values map back to it, the ranges are
	// contiguous, and the library puts both values in that same bucket.
	for i := range countsLen {
		lo, hi := lowestAt(i), highestAt(i)
		if indexOf(lo) != i || indexOf(hi) != i {
			t.Fatalf("index %d: indexOf(%d)=%d indexOf(%d)=%d", i, lo, indexOf(lo), hi, indexOf(hi))
		}
		if i > 0 && highestAt(i-1) != lo-1 {
			t.Fatalf("index %d: gap after %d, starts at %d", i, highestAt(i-1), lo)
		}
		_ = lib.RecordValue(lo)
		_ = lib.RecordValue(hi)
	}
	for i, c := range lib.Export().Counts {
		if c != 2 {
			t.Fatalf("library counted %d at index %d, want 2", c, i)
		}
	}

	// The library reports the same lowest and highest value per bucket.
	p := hdr.NewPacked(lowestMicros, highestMicros, sigFigs)
	for i := range countsLen {
		p.Reset()
		_ = p.RecordValue(lowestAt(i))
		if p.Min() != lowestAt(i) || p.Max() != highestAt(i) {
			t.Fatalf("index %d: library min/max %d/%d, ours %d/%d", i, p.Min(), p.Max(), lowestAt(i), highestAt(i))
		}
	}
}

func TestMicrosClamps(t *testing.T) {
	tests := []struct {
		name string
		in   time.Duration
		want int64
	}{
		{"negative", -time.Second, 1},
		{"zero", 0, 1},
		{"sub-microsecond", 999 * time.Nanosecond, 1},
		{"one microsecond", time.Microsecond, 1},
		{"truncates", 1999 * time.Nanosecond, 1},
		{"millisecond", time.Millisecond, 1000},
		{"one hour", time.Hour, highestMicros},
		{"above one hour", 2 * time.Hour, highestMicros},
		{"max duration", time.Duration(math.MaxInt64), highestMicros},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := micros(tt.in); got != tt.want {
				t.Errorf("micros(%v) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

// The sparse form answers exactly as hdrhistogram-go does for the same values.
func TestSparseQueriesMatchLibrary(t *testing.T) {
	percentiles := []float64{math.NaN(), -1, 0, 1e-9, 0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 99.999, 100, 101}
	shapes := []struct {
		name string
		gen  func(rng *rand.Rand) time.Duration
	}{
		{"lognormal", func(rng *rand.Rand) time.Duration {
			return time.Duration(math.Exp(math.Log(float64(20*time.Millisecond)) + rng.NormFloat64()))
		}},
		{"uniform wide", func(rng *rand.Rand) time.Duration { return time.Duration(rng.Int64N(int64(2 * time.Hour))) }},
		{"microseconds", func(rng *rand.Rand) time.Duration { return time.Duration(rng.Int64N(5000)) * time.Microsecond }},
		{"few values", func(rng *rand.Rand) time.Duration { return time.Duration(1+rng.IntN(3)) * time.Second }},
	}
	for _, shape := range shapes {
		for _, n := range []int{1, 2, 3, 10, 100, 900, 50000} {
			rng := rand.New(rand.NewPCG(uint64(n), 42))
			ours, lib := NewHistogram(), newLibrary()
			for range n {
				d := shape.gen(rng)
				ours.Record(d)
				_ = lib.RecordValue(micros(d))
			}
			sparse(ours)
			if ours.Count() != lib.TotalCount() {
				t.Fatalf("%s/%d: count %d, library %d", shape.name, n, ours.Count(), lib.TotalCount())
			}
			if ours.Min() != duration(lib.Min()) || ours.Max() != duration(lib.Max()) {
				t.Errorf("%s/%d: min/max %v/%v, library %v/%v", shape.name, n, ours.Min(), ours.Max(), duration(lib.Min()), duration(lib.Max()))
			}
			all := ours.Percentiles(percentiles...)
			for i, p := range percentiles {
				want := duration(lib.ValueAtPercentile(p))
				if got := ours.Percentile(p); got != want || all[i] != want {
					t.Errorf("%s/%d: Percentile(%v) = %v (Percentiles: %v), library %v", shape.name, n, p, got, all[i], want)
				}
			}
			// The dense form gives the same answers.
			dense(ours)
			if ours.Count() != lib.TotalCount() {
				t.Fatalf("%s/%d dense: count %d, library %d", shape.name, n, ours.Count(), lib.TotalCount())
			}
			if ours.Min() != duration(lib.Min()) || ours.Max() != duration(lib.Max()) {
				t.Errorf("%s/%d dense: min/max %v/%v, library %v/%v", shape.name, n, ours.Min(), ours.Max(), duration(lib.Min()), duration(lib.Max()))
			}
			for i, got := range ours.Percentiles(percentiles...) {
				if want := duration(lib.ValueAtPercentile(percentiles[i])); got != want {
					t.Errorf("%s/%d dense: Percentiles[%v] = %v, library %v", shape.name, n, percentiles[i], got, want)
				}
			}
		}
	}
}
