package report

import (
	"github.com/stampede-load/stampede/pkg/store"
	"github.com/stampede-load/stampede/pkg/telemetry"
)

// HostSeries is one worker's or agent's telemetry over a run.
type HostSeries struct {
	Host     string      `json:"host"` // worker or agent id
	Hostname string      `json:"hostname,omitempty"`
	Role     string      `json:"role"`
	Points   []HostPoint `json:"points"`
}

// HostPoint is one telemetry sample on the run's timeline, with the figures the
// dashboard charts; the full sample is in the store and the JSON download.
type HostPoint struct {
	T              float64   `json:"t"` // seconds since the run began
	CPUPercent     float64   `json:"cpu_percent"`
	MemUsed        uint64    `json:"mem_used"`
	MemTotal       uint64    `json:"mem_total"`
	ProcessCPU     float64   `json:"process_cpu_percent"`
	ProcessRSS     uint64    `json:"process_rss"`
	NetRxBps       float64   `json:"net_rx_bps"`
	NetTxBps       float64   `json:"net_tx_bps"`
	SchedLagP99Ms  float64   `json:"sched_lag_p99_ms"`
	GPUUtil        []float64 `json:"gpu_util,omitempty"`
	GPUMemUsed     []uint64  `json:"gpu_mem_used,omitempty"`
	GPUPowerW      []float64 `json:"gpu_power_w,omitempty"`
	GPUTempC       []float64 `json:"gpu_temp_c,omitempty"`
	GPUStatus      string    `json:"gpu_status,omitempty"`
	TCPEstablished int       `json:"tcp_established"`
	// Server: the series an agent scraped from the system under test (worker --scrape).
	Server map[string]float64 `json:"server,omitempty"`
}

// HostPointOf condenses a telemetry sample taken t seconds into a run.
func HostPointOf(t float64, s *telemetry.Sample) HostPoint {
	p := HostPoint{T: t, CPUPercent: s.Host.CPUPercent, MemUsed: s.Host.MemUsed, MemTotal: s.Host.MemTotal,
		ProcessCPU: s.Process.CPUPercent, ProcessRSS: s.Process.RSS, NetRxBps: s.Host.NetRxBps, NetTxBps: s.Host.NetTxBps,
		SchedLagP99Ms: ms(s.Process.SchedLatencyP99), GPUStatus: s.GPUStatus, TCPEstablished: s.Host.TCP.Established}
	for _, g := range s.GPUs {
		p.GPUUtil = append(p.GPUUtil, g.UtilGPU)
		p.GPUMemUsed = append(p.GPUMemUsed, g.MemUsed)
		p.GPUPowerW = append(p.GPUPowerW, g.PowerW)
		p.GPUTempC = append(p.GPUTempC, g.TempC)
	}
	p.Server = s.Server
	return p
}

// hostSeries groups a run's stored telemetry by host.
func hostSeries(recs []store.TelemetryRecord, started func(r store.TelemetryRecord) float64) []HostSeries {
	var out []HostSeries
	index := map[string]int{}
	for _, rec := range recs {
		s, err := telemetry.Decode(rec.Sample)
		if err != nil {
			continue
		}
		i, ok := index[rec.Host]
		if !ok {
			i = len(out)
			index[rec.Host] = i
			out = append(out, HostSeries{Host: rec.Host, Role: rec.Role})
		}
		out[i].Points = append(out[i].Points, HostPointOf(started(rec), &s))
	}
	return out
}
