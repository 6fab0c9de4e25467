package report

import "testing"

func TestTelemetryNames(t *testing.T) {
	l := &Live{
		Workers: []WorkerRow{{ID: "w1", CPUPercent: 40}, {ID: "w.2", CPUPercent: 95, MemUsed: 10}},
		Agents:  []WorkerRow{{ID: "api", CPUPercent: 12, MemUsed: 1 << 30, MemTotal: 16 << 30, GPUs: 2, GPUUtil: 71}},
	}
	n := TelemetryNames(l)
	want := map[string]float64{"worker.cpu": 95, "worker.w_2.cpu": 95, "worker.w1.cpu": 40, "agent.api.cpu": 12,
		"agent.api.mem": 1 << 30, "agent.api.mem_total": 16 << 30, "agent.api.gpu.util": 71}
	for k, v := range want {
		if n[k] != v {
			t.Errorf("%s = %v, want %v", k, n[k], v)
		}
	}
	if _, ok := n["worker.w1.gpu.util"]; ok {
		t.Error("GPU series for a host without GPUs")
	}
}
