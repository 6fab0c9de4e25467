package report

import (
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/aggregate/threshold"
	"github.com/stampede-load/stampede/pkg/store"
)

// ThresholdTelemetry returns the hosts' telemetry as thresholds read it: series
// "<role>.<host>.<name>" with the names of TelemetryNames (cpu, process_cpu, mem,
// mem_total, sched_lag_ms, gpu.util — the mean over the host's GPUs), each point at
// start plus its offset.
func ThresholdTelemetry(hosts []HostSeries, start time.Time) threshold.SeriesMap {
	m := threshold.SeriesMap{}
	for _, h := range hosts {
		prefix := h.Role + "." + safeName(h.Host) + "."
		for _, p := range h.Points {
			at := start.Add(time.Duration(p.T * float64(time.Second)))
			add := func(name string, v float64) {
				m[prefix+name] = append(m[prefix+name], threshold.Point{At: at, V: v})
			}
			add("cpu", p.CPUPercent)
			add("process_cpu", p.ProcessCPU)
			add("mem", float64(p.MemUsed))
			add("mem_total", float64(p.MemTotal))
			add("sched_lag_ms", p.SchedLagP99Ms)
			if len(p.GPUUtil) > 0 {
				sum := 0.0
				for _, u := range p.GPUUtil {
					sum += u
				}
				add("gpu.util", sum/float64(len(p.GPUUtil)))
			}
		}
	}
	return m
}

// BaselineInput is what a stored run offers thresholds that compare with a baseline.
func BaselineInput(v *RunView) threshold.Input {
	in := threshold.Input{Snapshot: v.Final, Users: v.Run.PeakUsers,
		Elapsed:   time.Duration(v.Run.DurationS * float64(time.Second)),
		Telemetry: ThresholdTelemetry(v.Hosts, v.Run.StartedAt)}
	if v.Final != nil {
		in.Dropped = v.Final.Counters[aggregate.DroppedCounter]
	}
	return in
}

// Verdicts turns threshold results into what the store keeps.
func Verdicts(results []threshold.Result) []store.Verdict {
	out := make([]store.Verdict, len(results))
	for i, r := range results {
		out[i] = store.Verdict{Expr: r.Threshold.String(), Observed: r.ObservedText, Limit: r.LimitText,
			Pass: r.Pass, Err: r.Err}
	}
	return out
}
