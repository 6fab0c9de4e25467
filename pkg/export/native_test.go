package export

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// TestNativeHistogramAsPrometheusReadsIt converts HdrHistograms into native
// histograms and decodes them with Prometheus' own model (prompb → histogram):
// the result is valid, and each native bucket holds exactly the HdrHistogram
// buckets whose value lies in the bounds Prometheus gives it.
func TestNativeHistogramAsPrometheusReadsIt(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := map[string]func() time.Duration{
		"one value": func() time.Duration { return 3 * time.Millisecond },
		"log-normal": func() time.Duration {
			return time.Duration(rng.NormFloat64()*0.8*float64(time.Millisecond)*5) + 20*time.Millisecond
		},
		"wide spread": func() time.Duration { return time.Duration(rng.ExpFloat64() * float64(time.Second)) },
		"bounds":      func() time.Duration { return []time.Duration{time.Microsecond, time.Second, time.Hour}[rng.IntN(3)] },
	}
	for name, gen := range cases {
		t.Run(name, func(t *testing.T) {
			h := aggregate.NewHistogram()
			var sum time.Duration
			for range 20_000 {
				d := max(gen(), 0)
				h.Record(d)
				sum += d
			}
			var n native
			n.add(h, sum)
			ph := n.proto(1000).ToIntHistogram()
			if err := ph.Validate(); err != nil {
				t.Fatalf("Prometheus rejects the histogram: %v", err)
			}
			if ph.Count != uint64(h.Count()) || ph.Schema != Schema {
				t.Fatalf("count %d schema %d, want %d and %d", ph.Count, ph.Schema, h.Count(), Schema)
			}
			var total uint64
			for it := ph.PositiveBucketIterator(); it.Next(); {
				b := it.At()
				var want uint64
				for v, c := range h.Buckets() {
					if s := v.Seconds(); s > b.Lower && s <= b.Upper {
						want += uint64(c)
					}
				}
				if b.Count != want {
					t.Errorf("bucket (%g, %g]: %d, the HdrHistogram has %d there", b.Lower, b.Upper, b.Count, want)
				}
				if b.Upper/b.Lower > 1.003 {
					t.Errorf("bucket (%g, %g] is wider than 0.3 %%", b.Lower, b.Upper)
				}
				total += b.Count
			}
			if total != ph.Count {
				t.Errorf("buckets hold %d, count is %d", total, ph.Count)
			}
		})
	}
}

func TestNativeIndexBounds(t *testing.T) {
	for _, v := range []float64{1e-6, 0.001, 0.5, 1, 2, 3.14159, 3600, upperBound(-300), upperBound(17)} {
		i := nativeIndex(v)
		if !(v > upperBound(i-1) && v <= upperBound(i)) {
			t.Errorf("%g in bucket %d = (%g, %g]", v, i, upperBound(i-1), upperBound(i))
		}
	}
}
