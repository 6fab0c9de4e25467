package telemetry

import (
	"math"
	"runtime"
	"testing"
	"time"
)

func TestLatencyP99Max(t *testing.T) {
	ms := func(v float64) float64 { return v / 1000 }
	// Buckets in seconds: (-Inf,0) [0,1ms) [1ms,2ms) [2ms,4ms) [4ms,+Inf)
	buckets := []float64{math.Inf(-1), 0, ms(1), ms(2), ms(4), math.Inf(1)}
	tests := []struct {
		name      string
		prev, cur []uint64
		p99, max  time.Duration
	}{
		{"nothing observed", []uint64{0, 5, 5, 0, 0}, []uint64{0, 5, 5, 0, 0}, 0, 0},
		{"all fast", []uint64{0, 0, 0, 0, 0}, []uint64{0, 100, 0, 0, 0}, time.Millisecond, time.Millisecond},
		{
			name: "one slow in a hundred is the max, not the p99",
			prev: []uint64{0, 1000, 0, 0, 0}, cur: []uint64{0, 1099, 0, 1, 0}, // 99 fast, 1 slow
			p99: time.Millisecond, max: 4 * time.Millisecond,
		},
		{
			name: "two slow in a hundred reach the p99",
			prev: []uint64{0, 0, 0, 0, 0}, cur: []uint64{0, 98, 0, 2, 0},
			p99: 4 * time.Millisecond, max: 4 * time.Millisecond,
		},
		{
			name: "the unbounded bucket counts as its lower bound",
			prev: []uint64{0, 0, 0, 0, 0}, cur: []uint64{0, 0, 0, 0, 3},
			p99: 4 * time.Millisecond, max: 4 * time.Millisecond,
		},
		{
			name: "a count that went back is ignored",
			prev: []uint64{0, 50, 9, 0, 0}, cur: []uint64{0, 10, 19, 0, 0},
			p99: 2 * time.Millisecond, max: 2 * time.Millisecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p99, maxLat := latencyP99Max(buckets, tt.prev, tt.cur)
			if p99 != tt.p99 || maxLat != tt.max {
				t.Errorf("p99, max = %v, %v; want %v, %v", p99, maxLat, tt.p99, tt.max)
			}
		})
	}
}

// TestProcessSourceReal samples this process around a forced GC and some work.
func TestProcessSourceReal(t *testing.T) {
	p := NewProcessSource()
	t0 := time.Now()
	first := p.Sample(t0)
	if first.CPUPercent != 0 || first.GCCycles != 0 || first.SchedLatencyP99 != 0 {
		t.Errorf("first sample has per-interval figures: %+v", first)
	}
	burn()
	runtime.GC()
	s := p.Sample(t0.Add(time.Second))
	for _, n := range p.Notices() {
		t.Logf("notice %s: %s", n.Key, n.Message)
	}
	t.Logf("process: %+v", s)

	if s.CPUPercent < 0 || s.CPUPercent > 100*float64(runtime.NumCPU()) {
		t.Errorf("CPUPercent = %v, outside 0..100×%d", s.CPUPercent, runtime.NumCPU())
	}
	if s.GOMAXPROCS != runtime.GOMAXPROCS(0) {
		t.Errorf("GOMAXPROCS = %d, want %d", s.GOMAXPROCS, runtime.GOMAXPROCS(0))
	}
	if s.Goroutines < 1 || s.HeapBytes == 0 {
		t.Errorf("goroutines %d, heap %d", s.Goroutines, s.HeapBytes)
	}
	if s.GCCycles < 1 || s.GCPauseTotal <= 0 || s.GCPauseMax <= 0 || s.GCPauseMax > s.GCPauseTotal {
		t.Errorf("after runtime.GC: cycles %d, pause %v, max %v", s.GCCycles, s.GCPauseTotal, s.GCPauseMax)
	}
	if s.SchedLatencyP99 < 0 || s.SchedLatencyP99 > s.SchedLatencyMax {
		t.Errorf("sched latency p99 %v, max %v", s.SchedLatencyP99, s.SchedLatencyMax)
	}
	if runtime.GOOS == "linux" {
		if s.RSS == 0 || s.OpenFDs < 3 || s.FDLimit == 0 {
			t.Errorf("rss %d, open fds %d, fd limit %d", s.RSS, s.OpenFDs, s.FDLimit)
		}
	}
}
