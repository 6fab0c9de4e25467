package report

import (
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/aggregate/threshold"
	"github.com/stampede-load/stampede/pkg/store"
)

// ThresholdTelemetry is the telemetry thresholds read, from a run's host series.
func ThresholdTelemetry(hosts []HostSeries, start time.Time) threshold.Readings {
	r := threshold.Readings{}
	for _, h := range hosts {
		for _, p := range h.Points {
			AddThresholdReadings(r, h.Role, h.Host, start, p)
		}
	}
	return r
}

// AddThresholdReadings adds the readings of one host point, taken p.T seconds after
// start, to r: the series report.TelemetryNames lists, as thresholds name them.
func AddThresholdReadings(r threshold.Readings, role, host string, start time.Time, p HostPoint) {
	prefix := role + "." + safeName(host) + "."
	at := start.Add(time.Duration(p.T * float64(time.Second)))
	r.Add(prefix+"cpu", at, p.CPUPercent)
	r.Add(prefix+"process_cpu", at, p.ProcessCPU)
	r.Add(prefix+"mem", at, float64(p.MemUsed))
	r.Add(prefix+"mem_total", at, float64(p.MemTotal))
	r.Add(prefix+"sched_lag_ms", at, p.SchedLagP99Ms)
	if len(p.GPUUtil) > 0 {
		sum := 0.0
		for _, u := range p.GPUUtil {
			sum += u
		}
		r.Add(prefix+"gpu.util", at, sum/float64(len(p.GPUUtil)))
	}
	for name, v := range p.Server {
		r.Add(prefix+name, at, v)
	}
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
