package aggregate

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// Speed targets (DESIGN.md, STYLE.md): Record <= 50 ns/op and 0 allocs/op;
// merging one worker's 1 s report of 50 endpoints into a cumulative snapshot
// <= 1 ms/op.

// BenchmarkRecord is one simulated user recording: 8 endpoints, log-normal
// latencies, 1% failures; batches go to the Collector every BatchSize samples.
// Like real callers it passes times read from time.Now (with a monotonic
// reading).
func BenchmarkRecord(b *testing.B) {
	const n = 1 << 16
	ss := samples(rand.New(rand.NewPCG(1, 1)), n, endpoints(8))
	now := time.Now()
	c := NewCollector(now)
	r := c.NewRecorder()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Record(ss[i&(n-1)], now)
		i++
	}
}

// BenchmarkRecordParallel is one Recorder per goroutine sharing a Collector.
func BenchmarkRecordParallel(b *testing.B) {
	const n = 1 << 16
	ss := samples(rand.New(rand.NewPCG(1, 1)), n, endpoints(8))
	now := time.Now()
	c := NewCollector(now)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := c.NewRecorder()
		i := 0
		for pb.Next() {
			r.Record(ss[i&(n-1)], now)
			i++
		}
		r.Flush()
	})
}

// benchmarkInterval is one report interval of a worker: n endpoints with
// perEndpoint samples each recorded through one Recorder, then Swap. It
// reports the whole interval per op, its cost per sample (recording and Swap),
// and the time Swap took.
func benchmarkInterval(b *testing.B, n, perEndpoint int) {
	ss := samples(rand.New(rand.NewPCG(2, 2)), n*perEndpoint, endpoints(n))
	now := time.Now()
	c := NewCollector(now)
	r := c.NewRecorder()
	var swap time.Duration
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range ss {
			r.Record(s, now)
		}
		r.Flush()
		start := time.Now()
		c.Swap(now)
		swap += time.Since(start)
	}
	b.ReportMetric(float64(b.Elapsed())/float64(b.N*len(ss)), "ns/sample")
	b.ReportMetric(float64(swap)/float64(b.N), "swap-ns")
}

// BenchmarkInterval: 50 endpoints of ~1000 samples.
func BenchmarkInterval(b *testing.B) { benchmarkInterval(b, 50, 1000) }

// BenchmarkIntervalBusy: 10 endpoints of ~20000 samples.
func BenchmarkIntervalBusy(b *testing.B) { benchmarkInterval(b, 10, 20000) }

var (
	benchOnce       sync.Once
	benchReport     *Snapshot // one worker's 1 s report: 50 endpoints, ~1000 samples each
	benchCumulative *Snapshot // 20 such reports merged
)

func benchFixtures() (*Snapshot, *Snapshot) {
	benchOnce.Do(func() {
		benchReport = report(1, 50, 1000)
		benchCumulative = &Snapshot{}
		for i := range 20 {
			benchCumulative.Merge(report(uint64(100+i), 50, 1000))
		}
	})
	return benchReport, benchCumulative
}

func BenchmarkMergeReport(b *testing.B) {
	rep, cum := benchFixtures()
	cum = cum.Clone()
	b.ReportAllocs()
	for b.Loop() {
		cum.Merge(rep)
	}
}

func BenchmarkDecodeMergeReport(b *testing.B) {
	rep, cum := benchFixtures()
	cum = cum.Clone()
	enc := mustMarshal(b, rep)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		var s Snapshot
		if err := s.UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
		cum.Merge(&s)
	}
}

func BenchmarkSnapshotMarshal(b *testing.B) {
	rep, _ := benchFixtures()
	b.SetBytes(int64(len(mustMarshal(b, rep))))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rep.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotMarshalCumulative encodes 50 dense (cumulative) histograms,
// as the store does for a run's final snapshot.
func BenchmarkSnapshotMarshalCumulative(b *testing.B) {
	_, cum := benchFixtures()
	b.SetBytes(int64(len(mustMarshal(b, cum))))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cum.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPercentiles is one dashboard row per endpoint of the cumulative
// snapshot: p50, p90, p95, p99, p99.9, max.
func BenchmarkPercentiles(b *testing.B) {
	_, cum := benchFixtures()
	b.ReportAllocs()
	for b.Loop() {
		for _, st := range cum.Endpoints {
			_ = st.Latency.Percentiles(50, 90, 95, 99, 99.9, 100)
		}
	}
}

func BenchmarkSnapshotTotal(b *testing.B) {
	rep, cum := benchFixtures()
	for _, tt := range []struct {
		name string
		s    *Snapshot
	}{{"report", rep}, {"cumulative", cum}} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = tt.s.Total()
			}
		})
	}
}
