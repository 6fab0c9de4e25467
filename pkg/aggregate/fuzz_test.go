package aggregate

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type seed struct {
	name string
	data []byte
}

func histogramSeeds(t testing.TB) []seed {
	rng := rand.New(rand.NewPCG(51, 52))
	return []seed{
		{"valid-empty", mustMarshal(t, NewHistogram())},
		{"valid-one-value", mustMarshal(t, histogramOf(time.Millisecond))},
		{"valid-1000-samples", mustMarshal(t, histogramOf(latencies(rng, 1000, 20*time.Millisecond)...))},
		{"valid-big-counts", mustMarshal(t, bigCounts())},
		{"malformed-zero-count", []byte{1, 1, 5, 0}},
		{"malformed-index-beyond", []byte{1, 2, 0xfe, 0xb7, 0x01, 1, 1, 1}},
	}
}

func snapshotSeeds(t testing.TB) []seed {
	return []seed{
		{"valid-empty", mustMarshal(t, &Snapshot{})},
		{"valid-report", mustMarshal(t, report(53, 3, 50))},
		{"valid-errors", mustMarshal(t, func() *Snapshot {
			s := NewSnapshot(t0)
			s.End = t0.Add(time.Second)
			for i := range 5 {
				s.AddError(ErrorKey{Endpoint: ep, Message: fmt.Sprint("HTTP 50", i)}, uint64(i+1))
			}
			return s
		}())},
		{"malformed-out-of-order", []byte{1, 0, 2, 0, 1, 'b', 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 0, 0, 0, 0}},
	}
}

func FuzzHistogramUnmarshal(f *testing.F) {
	for _, s := range histogramSeeds(f) {
		f.Add(s.data)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var h Histogram
		if err := h.UnmarshalBinary(in); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		out := mustMarshal(t, &h)
		if !bytes.Equal(out, in) {
			t.Fatalf("accepted a non-canonical encoding:\n in %x\nout %x", in, out)
		}
		var again Histogram
		if err := again.UnmarshalBinary(out); err != nil || !again.Equal(&h) {
			t.Fatalf("re-encoded histogram does not decode to the same data: %v", err)
		}
		checkHistogramInvariants(t, &h)
	})
}

func FuzzSnapshotUnmarshal(f *testing.F) {
	for _, s := range snapshotSeeds(f) {
		f.Add(s.data)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var s Snapshot
		if err := s.UnmarshalBinary(in); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		out := mustMarshal(t, &s)
		if in[0] == snapshotVersion && !bytes.Equal(out, in) {
			t.Fatalf("accepted a non-canonical encoding:\n in %x\nout %x", in, out)
		}
		var again Snapshot
		if err := again.UnmarshalBinary(out); err != nil || !again.Equal(&s) {
			t.Fatalf("re-encoded snapshot does not decode to the same data: %v", err)
		}
		var latencies int64
		for _, st := range s.Endpoints {
			checkHistogramInvariants(t, st.Latency)
			latencies += st.Latency.Count()
			if latencies < 0 || latencies > math.MaxInt64/4 {
				return // totals would overflow: nothing more to compare
			}
		}
		// A decoded snapshot merges and totals like any other.
		merged := s.Clone()
		merged.Merge(&s)
		if merged.Total().Latency.Count() != 2*s.Total().Latency.Count() {
			t.Fatalf("merging a decoded snapshot into its clone did not double its latencies")
		}
	})
}

func checkHistogramInvariants(t *testing.T, h *Histogram) {
	t.Helper()
	if h.Count() == 0 {
		if h.Min() != 0 || h.Max() != 0 || h.Percentile(50) != 0 {
			t.Fatalf("empty histogram reports non-zero values")
		}
		return
	}
	minimum, p50, maximum := h.Min(), h.Percentile(50), h.Max()
	if !(minimum <= p50 && p50 <= maximum) || h.Percentile(100) != maximum || h.Percentile(0) != minimum {
		t.Fatalf("min %v, p50 %v, max %v, p0 %v, p100 %v are inconsistent", minimum, p50, maximum, h.Percentile(0), h.Percentile(100))
	}
}

// The seed corpora in testdata/fuzz hold the seeds above in the format of go
// test; -update rewrites them.
func TestFuzzSeedCorpora(t *testing.T) {
	corpora := map[string][]seed{
		"FuzzHistogramUnmarshal": histogramSeeds(t),
		"FuzzSnapshotUnmarshal":  snapshotSeeds(t),
	}
	for fuzzName, seeds := range corpora {
		for _, s := range seeds {
			t.Run(fuzzName+"/"+s.name, func(t *testing.T) {
				path := filepath.Join("testdata", "fuzz", fuzzName, s.name)
				want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s.data)
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				got, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test -run FuzzSeedCorpora -update)", err)
				}
				if string(got) != want {
					t.Errorf("%s is stale (run go test -run FuzzSeedCorpora -update)", path)
				}
			})
		}
	}
}
