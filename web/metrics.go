package web

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stampede-load/stampede/pkg/report"
)

// liveCollector exposes the live view in Prometheus form, read at scrape time:
// nothing is kept in step with the run, so a scrape never slows the master.
type liveCollector struct {
	ctl Control

	up, users, target, workers, wanted, rps, failRate *prometheus.Desc
	requests, failures, latency, quantile             *prometheus.Desc
	hostCPU, hostMem, procCPU, gpuUtil                *prometheus.Desc
}

func newLiveCollector(ctl Control) *liveCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("stampede_"+name, help, labels, nil)
	}
	return &liveCollector{ctl: ctl,
		up:       d("run_active", "1 while a run is running or stopping, labelled with its state", "state", "run_id"),
		users:    d("users", "users running now, cluster-wide"),
		target:   d("users_target", "users the run asks for"),
		workers:  d("workers", "workers connected"),
		wanted:   d("workers_wanted", "workers the current load needs to keep each under the target CPU (scale hint)"),
		rps:      d("requests_per_second", "requests per second over the last few seconds"),
		failRate: d("failures_per_second", "failed requests per second over the last few seconds"),
		requests: d("requests_total", "requests of the run, per endpoint", "method", "name"),
		failures: d("failures_total", "failed requests of the run, per endpoint", "method", "name"),
		latency:  d("latency_seconds", "latency of the run's requests per endpoint (classic buckets from the merged HdrHistograms)", "method", "name"),
		quantile: d("latency_quantile_seconds", "exact latency percentiles of the run per endpoint (merged HdrHistograms)", "method", "name", "quantile"),
		hostCPU:  d("host_cpu_percent", "host CPU of a worker or agent, 0..100 of the machine", "host", "role"),
		hostMem:  d("host_memory_used_bytes", "host memory in use", "host", "role"),
		procCPU:  d("process_cpu_percent", "the worker process' CPU, percent of one core", "host", "role"),
		gpuUtil:  d("gpu_utilization_percent", "mean GPU utilisation of a host", "host", "role"),
	}
}

func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.users, c.target, c.workers, c.wanted, c.rps, c.failRate,
		c.requests, c.failures, c.latency, c.quantile, c.hostCPU, c.hostMem, c.procCPU, c.gpuUtil} {
		ch <- d
	}
}

func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	l := c.ctl.Live()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	active := 0.0
	if l.State == report.StateRunning || l.State == report.StateStopping {
		active = 1
	}
	gauge(c.up, active, l.State, l.RunID)
	gauge(c.users, float64(l.Users))
	gauge(c.target, float64(l.TargetUsers))
	gauge(c.workers, float64(len(l.Workers)))
	gauge(c.wanted, float64(l.Scale.Wanted))
	gauge(c.rps, l.Total.CurrentRPS)
	gauge(c.failRate, l.Total.CurrentFailPerS)
	for _, r := range l.Endpoints {
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(r.Requests), r.Method, r.Name)
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(r.Failures), r.Method, r.Name)
		if len(r.Buckets) == len(report.LatencyBounds) {
			buckets := make(map[float64]uint64, len(r.Buckets))
			for k, b := range report.LatencyBounds {
				buckets[b.Seconds()] = r.Buckets[k]
			}
			ch <- prometheus.MustNewConstHistogram(c.latency, r.Requests, r.AvgMs*float64(r.Requests)/1000, buckets, r.Method, r.Name)
		}
		ch <- prometheus.MustNewConstMetric(c.quantile, prometheus.GaugeValue, r.P99Ms/1000, r.Method, r.Name, "0.99")
		ch <- prometheus.MustNewConstMetric(c.quantile, prometheus.GaugeValue, r.P95Ms/1000, r.Method, r.Name, "0.95")
		ch <- prometheus.MustNewConstMetric(c.quantile, prometheus.GaugeValue, r.MedianMs/1000, r.Method, r.Name, "0.5")
	}
	hosts := append(append([]report.WorkerRow{}, l.Workers...), l.Agents...)
	for _, h := range hosts {
		role := h.Role
		if role == "" {
			role = "worker"
		}
		gauge(c.hostCPU, h.CPUPercent, h.ID, role)
		gauge(c.hostMem, float64(h.MemUsed), h.ID, role)
		gauge(c.procCPU, h.ProcessCPU, h.ID, role)
		if h.GPUs > 0 {
			gauge(c.gpuUtil, h.GPUUtil, h.ID, role)
		}
	}
}

// metricsHandler serves the live view and the Go runtime's own metrics.
func metricsHandler(ctl Control) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newLiveCollector(ctl), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Write([]byte("ok\n"))
}

// readyz is ready while the controller publishes its view (every second).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if age := time.Since(s.cfg.Control.Live().UpdatedAt); age > 5*time.Second {
		http.Error(w, "controller not publishing", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

func (s *Server) scale(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.cfg.Control.Live().Scale)
}

// telemetryNames serves the latest telemetry under the stable names thresholds use.
func (s *Server) telemetryNames(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, report.TelemetryNames(s.cfg.Control.Live()))
}
