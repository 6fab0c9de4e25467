// Package telemetry samples the machine a worker (or an agent on the system under
// test) runs on, so that the host's and GPUs' state sits on the same timeline as
// the latency it explains.
//
// A Sampler takes one Sample per report interval:
//
//	s := telemetry.NewSampler(telemetry.Options{})
//	defer s.Close()
//	for now := range ticker.C {
//		report.Telemetry = s.Sample(now)
//		for _, n := range s.Notices() {
//			log.Info("telemetry unavailable", "key", n.Key, "reason", n.Message)
//		}
//	}
//
// A Sample holds the host (HostSource, through gopsutil: CPU total and per core,
// load, memory, swap, disk and network throughput, TCP connection counts, open
// files), the sampling process itself (ProcessSource: CPU, RSS, file descriptors,
// goroutines, heap, GC pauses and the scheduling latency of goroutines, the "event
// loop lag" of a Go generator) and every NVIDIA GPU (GPUSource, through go-nvml:
// utilisation, memory, power, temperature, clocks, throttle reasons, compute
// processes). Rates and per-interval figures are computed from kernel and runtime
// counters between two Samples, over the time passed in, so they line up with the
// caller's intervals and tests need no sleeping; the first Sample reports them as 0.
// One Sample costs a few hundred microseconds (BenchmarkSample): it never lists
// processes or connections.
//
// GPUs are optional at every level. NVML (libnvidia-ml) is loaded at run time, on
// the first Sample, and only in builds with cgo on Linux; without cgo, the library,
// the driver or a device, Sample.GPUStatus says why ("no GPU: ...") and the rest
// carries on. Nothing here panics or exits on NVML's account. A figure that cannot
// be read stays 0; each kind of failure is reported once through Notices, and
// counted in Failures, so the caller logs it once rather than every second.
//
// It does not own the schedule (the caller ticks), the wire format (the worker
// converts Samples to protobuf), storage, thresholds or saturation warnings (the
// master's), nor logging (the caller logs Notices). It imports no package of ours.
//
// Concurrency: a Sampler's methods are safe for concurrent use; Samples are taken
// one at a time, under a mutex, and are meant to come from one ticker. HostSource,
// ProcessSource and GPUSource are not safe for concurrent use on their own. A
// Sample call may block for as long as NVML takes to answer (milliseconds, longer
// on a failing GPU); it starts no goroutine. TotalMemory is safe for concurrent
// use.
package telemetry
