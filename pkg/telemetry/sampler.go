package telemetry

import (
	"sync"
	"time"
)

// Options configures a Sampler. The zero value samples the host, the process and
// every NVIDIA GPU NVML can see.
type Options struct {
	// NoGPU leaves NVML alone: no library is loaded and GPUStatus says GPU
	// sampling is off.
	NoGPU bool
	// NVMLLibrary is the NVML shared library to load; "" means libnvidia-ml.so.1
	// from the dynamic loader's search path.
	NVMLLibrary string
}

// Sampler takes Samples of the host, this process and its GPUs: one Sample per
// report interval (1 s), from one ticker. Its methods are safe for concurrent use;
// Samples are taken one at a time.
type Sampler struct {
	mu     sync.Mutex
	host   *HostSource
	proc   *ProcessSource
	gpu    *GPUSource // nil with Options.NoGPU
	prevAt time.Time
	primed bool
}

// NewSampler returns a Sampler. It reads nothing yet but the static facts about
// this machine (its physical disks, this process's fd limit); NVML is loaded on the
// first Sample.
func NewSampler(opts Options) *Sampler {
	s := &Sampler{host: NewHostSource(), proc: NewProcessSource()}
	if !opts.NoGPU {
		s.gpu = NewGPUSource(opts.NVMLLibrary)
	}
	return s
}

// Sample reads everything at now. Rates and per-interval figures cover the time
// since the previous Sample (Sample.Interval) and are 0 on the first; pass the
// report tick's time so that samples line up with the latency intervals.
func (s *Sampler) Sample(now time.Time) Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Sample{At: now, Host: s.host.Sample(now), Process: s.proc.Sample(now)}
	if s.primed {
		out.Interval = max(now.Sub(s.prevAt), 0)
	}
	s.prevAt, s.primed = now, true
	if s.gpu == nil {
		out.GPUStatus = "GPU sampling off"
	} else {
		out.GPUs, out.GPUStatus = s.gpu.Sample()
	}
	return out
}

// Notices returns what could not be read since the previous call, each kind of
// failure once in the Sampler's life ("no GPU: NVML library not found" among
// them): log them as they come.
func (s *Sampler) Notices() []Notice {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append(s.host.Notices(), s.proc.Notices()...)
	if s.gpu != nil {
		out = append(out, s.gpu.Notices()...)
	}
	return out
}

// Failures returns how many times each figure failed to be read, by Notice key.
func (s *Sampler) Failures() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]uint64)
	s.host.fails.copyCounts(out)
	s.proc.fails.copyCounts(out)
	if s.gpu != nil {
		s.gpu.fails.copyCounts(out)
	}
	return out
}

// Close releases NVML. It is idempotent; Samples after it carry no GPU data.
func (s *Sampler) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gpu == nil {
		return nil
	}
	return s.gpu.Close()
}
