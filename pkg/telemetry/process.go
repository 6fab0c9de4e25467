package telemetry

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/shirou/gopsutil/v4/process"
)

// ProcessSource samples the process it runs in: CPU and memory through gopsutil,
// goroutines, heap, GC pauses and scheduling latency through the Go runtime (no
// stop-the-world: it reads runtime/metrics and debug.ReadGCStats, not
// runtime.ReadMemStats). It is not safe for concurrent use (Sampler serialises it).
type ProcessSource struct {
	proc    *process.Process // nil when gopsutil cannot open this process
	fdLimit uint64

	metrics   []metrics.Sample // goroutines, heap objects, scheduling latencies
	prevSched []uint64         // scheduling latency histogram counts at prevAt
	gc        debug.GCStats    // its buffers are reused from the second read on

	prevCPU   float64 // user+system seconds at prevAt
	prevCPUOK bool    // prevCPU was read
	prevNumGC int64
	prevPause time.Duration
	prevAt    time.Time
	primed    bool
	fails     failures
}

const (
	metricGoroutines = "/sched/goroutines:goroutines"
	metricHeap       = "/memory/classes/heap/objects:bytes"
	metricSched      = "/sched/latencies:seconds"
)

// NewProcessSource returns a ProcessSource for the calling process.
func NewProcessSource() *ProcessSource {
	p := &ProcessSource{
		metrics: []metrics.Sample{{Name: metricGoroutines}, {Name: metricHeap}, {Name: metricSched}},
	}
	proc, err := process.NewProcess(int32(os.Getpid()))
	if err != nil {
		p.fails.add("process", "process stats: "+err.Error())
		return p
	}
	p.proc = proc
	if limits, err := proc.Rlimit(); err != nil {
		p.fails.add("process.fd_limit", "fd limit: "+err.Error())
	} else {
		for _, l := range limits {
			if l.Resource == process.RLIMIT_NOFILE {
				p.fdLimit = l.Soft
			}
		}
	}
	return p
}

// Sample reads the process at now; per-interval figures cover the time since the
// previous call and are 0 on the first.
func (p *ProcessSource) Sample(now time.Time) ProcessSample {
	s := ProcessSample{GOMAXPROCS: runtime.GOMAXPROCS(0), FDLimit: p.fdLimit}
	var dt time.Duration
	if p.primed {
		dt = now.Sub(p.prevAt)
	}

	cpuSecs, cpuOK := p.readOS(&s)
	if cpuOK && p.prevCPUOK && dt > 0 && cpuSecs >= p.prevCPU {
		s.CPUPercent = 100 * (cpuSecs - p.prevCPU) / dt.Seconds()
	}
	p.prevCPU, p.prevCPUOK = cpuSecs, cpuOK

	metrics.Read(p.metrics)
	if v := p.metrics[0].Value; v.Kind() == metrics.KindUint64 {
		s.Goroutines = int(v.Uint64())
	} else {
		s.Goroutines = runtime.NumGoroutine()
	}
	if v := p.metrics[1].Value; v.Kind() == metrics.KindUint64 {
		s.HeapBytes = v.Uint64()
	}
	if v := p.metrics[2].Value; v.Kind() == metrics.KindFloat64Histogram {
		h := v.Float64Histogram()
		if dt > 0 && len(p.prevSched) == len(h.Counts) {
			s.SchedLatencyP99, s.SchedLatencyMax = latencyP99Max(h.Buckets, p.prevSched, h.Counts)
		}
		p.prevSched = append(p.prevSched[:0], h.Counts...)
	}

	debug.ReadGCStats(&p.gc)
	if dt > 0 {
		cycles := p.gc.NumGC - p.prevNumGC
		if cycles > 0 {
			s.GCCycles = uint64(cycles)
			s.GCPauseTotal = max(p.gc.PauseTotal-p.prevPause, 0)
			for _, d := range p.gc.Pause[:min(int(cycles), len(p.gc.Pause))] { // most recent first
				s.GCPauseMax = max(s.GCPauseMax, d)
			}
		}
	}
	p.prevNumGC, p.prevPause = p.gc.NumGC, p.gc.PauseTotal
	p.prevAt, p.primed = now, true
	return s
}

// readOS fills the figures the operating system keeps and returns the process's
// CPU time so far, in seconds.
func (p *ProcessSource) readOS(s *ProcessSample) (cpuSecs float64, ok bool) {
	if p.proc == nil {
		return 0, false
	}
	if m, err := p.proc.MemoryInfo(); err != nil {
		p.fails.add("process.rss", "rss: "+err.Error())
	} else {
		s.RSS = m.RSS
	}
	if n, err := p.proc.NumFDs(); err != nil {
		p.fails.add("process.fds", "open fds: "+err.Error())
	} else {
		s.OpenFDs = int(n)
	}
	t, err := p.proc.Times()
	if err != nil {
		p.fails.add("process.cpu", "process cpu: "+err.Error())
		return 0, false
	}
	return t.User + t.System, true
}

// Notices returns what could not be read, once per kind of failure, since the
// previous call.
func (p *ProcessSource) Notices() []Notice { return p.fails.notices() }

// latencyP99Max returns the 99th percentile and the maximum of the observations
// between two readings of a runtime/metrics time histogram (seconds), each as the
// upper bound of its bucket (the lower bound for the last, unbounded bucket).
func latencyP99Max(buckets []float64, prev, cur []uint64) (p99, maxLat time.Duration) {
	var total uint64
	for i := range cur {
		total += delta(prev[i], cur[i])
	}
	if total == 0 {
		return 0, 0
	}
	rank := (total*99 + 99) / 100 // ceil(0.99 × total): the observation at the 99th percentile
	var seen uint64
	p99set := false
	for i := range cur {
		n := delta(prev[i], cur[i])
		if n == 0 {
			continue
		}
		seen += n
		bound := bucketBound(buckets, i)
		if !p99set && seen >= rank {
			p99, p99set = bound, true
		}
		maxLat = bound
	}
	return p99, maxLat
}

// bucketBound is the upper bound of bucket i (Counts[i] spans Buckets[i] to
// Buckets[i+1]) as a Duration, or its lower bound when the upper one is +Inf.
func bucketBound(buckets []float64, i int) time.Duration {
	b := buckets[i+1]
	if math.IsInf(b, 1) {
		b = buckets[i]
	}
	if b <= 0 || math.IsInf(b, 0) {
		return 0
	}
	return time.Duration(b * float64(time.Second))
}
