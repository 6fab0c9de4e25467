package report

import "strings"

// TelemetryNames flattens the latest telemetry of the workers and agents into the
// stable series names thresholds refer to:
//
//	worker.cpu                highest host CPU % among the workers
//	worker.<id>.cpu           one worker's host CPU % (0..100 of the machine)
//	agent.<host>.cpu          an agent's host CPU %
//	agent.<host>.mem          bytes of memory in use; .mem_total the host's total
//	agent.<host>.process_cpu  the Stampede process' CPU, % of one core
//	agent.<host>.sched_lag_ms goroutine scheduling delay, p99
//	agent.<host>.gpu.util     mean GPU utilisation % (hosts with GPUs only)
//
// <host> and <id> are the ids with dots and spaces replaced by underscores.
func TelemetryNames(l *Live) map[string]float64 {
	out := map[string]float64{}
	add := func(prefix string, r WorkerRow) {
		out[prefix+".cpu"] = r.CPUPercent
		out[prefix+".mem"] = float64(r.MemUsed)
		out[prefix+".mem_total"] = float64(r.MemTotal)
		out[prefix+".process_cpu"] = r.ProcessCPU
		out[prefix+".sched_lag_ms"] = r.SchedLagMs
		if r.GPUs > 0 {
			out[prefix+".gpu.util"] = r.GPUUtil
		}
	}
	for _, w := range l.Workers {
		add("worker."+safeName(w.ID), w)
		out["worker.cpu"] = max(out["worker.cpu"], w.CPUPercent)
	}
	for _, a := range l.Agents {
		add("agent."+safeName(a.ID), a)
	}
	return out
}

func safeName(s string) string { return strings.NewReplacer(".", "_", " ", "_").Replace(s) }
