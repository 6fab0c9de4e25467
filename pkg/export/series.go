package export

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/aggregate/threshold"
	"github.com/stampede-load/stampede/pkg/report"
)

// Metric names Stampede remote-writes. Every one carries run_id, label (when the run
// has one) and the --tag labels. deploy/grafana's test checks the dashboards'
// queries against this list.
const (
	MetricLatency        = "stampede_request_duration_seconds" // native histogram; _count and _sum beside it
	MetricRequests       = "stampede_requests_total"
	MetricFailures       = "stampede_failures_total"
	MetricErrors         = "stampede_errors_total"
	MetricUsers          = "stampede_users"
	MetricWorkers        = "stampede_workers"
	MetricDropped        = "stampede_dropped_iterations_total"
	MetricThresholdPass  = "stampede_threshold_pass"
	MetricHostCPU        = "stampede_host_cpu_percent"
	MetricHostMemUsed    = "stampede_host_memory_used_bytes"
	MetricHostMemTotal   = "stampede_host_memory_total_bytes"
	MetricProcessCPU     = "stampede_process_cpu_percent"
	MetricProcessRSS     = "stampede_process_rss_bytes"
	MetricNetRx          = "stampede_host_network_receive_bytes_per_second"
	MetricNetTx          = "stampede_host_network_transmit_bytes_per_second"
	MetricGPUUtil        = "stampede_gpu_utilization_percent"
	MetricGPUMemUsed     = "stampede_gpu_memory_used_bytes"
	MetricGPUPower       = "stampede_gpu_power_watts"
	MetricGPUTemperature = "stampede_gpu_temperature_celsius"
)

// Metrics lists every metric name a remote-write push can carry (the histogram's
// classic _count and _sum included).
func Metrics() []string {
	return []string{MetricLatency, MetricLatency + "_count", MetricLatency + "_sum", MetricRequests, MetricFailures,
		MetricErrors, MetricUsers, MetricWorkers, MetricDropped, MetricThresholdPass, MetricHostCPU, MetricHostMemUsed,
		MetricHostMemTotal, MetricProcessCPU, MetricProcessRSS, MetricNetRx, MetricNetTx, MetricGPUUtil,
		MetricGPUMemUsed, MetricGPUPower, MetricGPUTemperature}
}

// Host is one worker's or agent's latest telemetry at an interval's close.
type Host struct {
	ID, Role string
	Point    report.HostPoint
}

// Interval is what the controller hands over when it closes an interval: the
// merged interval (read-only from then on) and the run's state at its end.
type Interval struct {
	RunID, Label string
	Started      time.Time // when the run began
	At           time.Time
	Snapshot     *aggregate.Snapshot
	Users        int
	Workers      int
	Hosts        []Host
	Thresholds   []threshold.Result
	Final        bool // the run's last interval
}

// endpointSeries is one endpoint's cumulative figures.
type endpointSeries struct {
	latency            native
	requests, failures uint64
	// exemplars are the slow requests with a trace id (--trace-context) merged
	// since the last push: the next push carries them on the latency histogram.
	exemplars []prompb.Exemplar
}

// runSeries is a run's cumulative state: what every push writes, at the latest
// interval's time. Counters only grow (a statistics reset in the dashboard
// restarts the run's totals, not these), so increase() over the run is its total.
type runSeries struct {
	runID, label string
	started, at  time.Time
	// zeroed holds the counters (and histograms) already written once: each
	// series' first push starts with a zero at the run's start, so increase()
	// and rate() over the run count its first interval too.
	zeroed     map[string]bool
	seq        uint64 // intervals added; a push happens only when it moved
	final      bool
	endpoints  map[aggregate.Endpoint]*endpointSeries
	errors     map[aggregate.ErrorKey]uint64
	dropped    uint64
	users      int
	workers    int
	hosts      []Host
	thresholds []threshold.Result
}

func newRunSeries(iv Interval) *runSeries {
	return &runSeries{runID: iv.RunID, label: iv.Label, started: iv.Started, zeroed: map[string]bool{}, endpoints: map[aggregate.Endpoint]*endpointSeries{},
		errors: map[aggregate.ErrorKey]uint64{}}
}

// add adds one closed interval. The error groups are bounded as the snapshot's
// (aggregate.MaxErrorKinds) and so are the endpoints (aggregate.MaxEndpoints): the
// interval holds at most those, and a key once seen stays one series.
func (r *runSeries) add(iv Interval) {
	r.seq++
	r.at, r.users, r.workers, r.hosts, r.thresholds = iv.At, iv.Users, iv.Workers, iv.Hosts, iv.Thresholds
	r.final = r.final || iv.Final
	s := iv.Snapshot
	if s == nil {
		return
	}
	for ep, st := range s.Endpoints {
		e := r.endpoints[ep]
		if e == nil {
			if len(r.endpoints) >= aggregate.MaxEndpointRows {
				e = r.other()
			} else {
				e = &endpointSeries{}
				r.endpoints[ep] = e
			}
		}
		e.requests += st.Requests
		e.failures += st.Failures
		if st.Latency != nil {
			e.latency.add(st.Latency, st.TotalTime)
		}
	}
	for k, n := range s.Errors {
		if _, ok := r.errors[k]; !ok && len(r.errors) >= aggregate.MaxErrorKinds {
			k.Message = aggregate.OtherErrors
		}
		r.errors[k] += n
	}
	r.dropped += s.Counters[aggregate.DroppedCounter]
	for _, slow := range s.Slowest {
		if e := r.endpoints[slow.Endpoint]; e != nil && slow.TraceID != "" && len(e.exemplars) < aggregate.MaxSlowest {
			at := slow.At
			if at.IsZero() {
				at = iv.At
			}
			e.exemplars = append(e.exemplars, prompb.Exemplar{Labels: []prompb.Label{{Name: "trace_id", Value: slow.TraceID}},
				Value: slow.Latency.Seconds(), Timestamp: at.UnixMilli()})
		}
	}
}

// other is the one row endpoints beyond the cap merge into. The merged intervals
// are capped already (aggregate.MaxEndpointRows); this bounds a run whose
// intervals each named different endpoints.
func (r *runSeries) other() *endpointSeries {
	k := aggregate.Endpoint{Method: aggregate.OtherMethods, Name: aggregate.OtherEndpoints}
	e := r.endpoints[k]
	if e == nil {
		e = &endpointSeries{}
		r.endpoints[k] = e
	}
	return e
}

// request builds the write request of the run's state now, with the given extra
// labels (--tag) on every series.
func (r *runSeries) request(tags []prompb.Label) *prompb.WriteRequest {
	ts := r.at.UnixMilli()
	base := []prompb.Label{{Name: "run_id", Value: r.runID}}
	if r.label != "" {
		base = append(base, prompb.Label{Name: "label", Value: r.label})
	}
	base = append(base, tags...)
	req := &prompb.WriteRequest{}
	series := func(name string, extra ...string) *prompb.TimeSeries {
		ls := make([]prompb.Label, 0, len(base)+1+len(extra)/2)
		ls = append(ls, prompb.Label{Name: "__name__", Value: name})
		ls = append(ls, base...)
		for i := 0; i+1 < len(extra); i += 2 {
			ls = append(ls, prompb.Label{Name: extra[i], Value: extra[i+1]})
		}
		slices.SortFunc(ls, func(a, b prompb.Label) int { return cmp.Compare(a.Name, b.Name) })
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{Labels: ls})
		return &req.Timeseries[len(req.Timeseries)-1]
	}
	sample := func(name string, v float64, extra ...string) {
		s := series(name, extra...)
		s.Samples = []prompb.Sample{{Value: v, Timestamp: ts}}
	}
	start := r.started.UnixMilli()
	fresh := func(name string, extra ...string) bool {
		key := name + "\xff" + strings.Join(extra, "\xff")
		if r.zeroed[key] || start >= ts {
			return false
		}
		r.zeroed[key] = true
		return true
	}
	counter := func(name string, v float64, extra ...string) {
		s := series(name, extra...)
		if fresh(name, extra...) {
			s.Samples = append(s.Samples, prompb.Sample{Value: 0, Timestamp: start})
		}
		s.Samples = append(s.Samples, prompb.Sample{Value: v, Timestamp: ts})
	}
	eps := make([]aggregate.Endpoint, 0, len(r.endpoints))
	for ep := range r.endpoints {
		eps = append(eps, ep)
	}
	slices.SortFunc(eps, func(a, b aggregate.Endpoint) int {
		return cmp.Or(cmp.Compare(a.Method, b.Method), cmp.Compare(a.Name, b.Name))
	})
	for _, ep := range eps {
		e := r.endpoints[ep]
		kv := []string{"method", ep.Method, "name", ep.Name}
		h := series(MetricLatency, kv...)
		if fresh(MetricLatency, kv...) {
			h.Histograms = append(h.Histograms, (&native{}).proto(start))
		}
		h.Histograms = append(h.Histograms, e.latency.proto(ts))
		if len(e.exemplars) > 0 {
			slices.SortStableFunc(e.exemplars, func(a, b prompb.Exemplar) int { return cmp.Compare(a.Timestamp, b.Timestamp) })
			h.Exemplars, e.exemplars = e.exemplars, nil
		}
		counter(MetricLatency+"_count", float64(e.latency.count), kv...)
		counter(MetricLatency+"_sum", e.latency.sum, kv...)
		counter(MetricRequests, float64(e.requests), kv...)
		counter(MetricFailures, float64(e.failures), kv...)
	}
	errs := make([]aggregate.ErrorKey, 0, len(r.errors))
	for k := range r.errors {
		errs = append(errs, k)
	}
	slices.SortFunc(errs, func(a, b aggregate.ErrorKey) int {
		return cmp.Or(cmp.Compare(a.Method, b.Method), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Message, b.Message))
	})
	for _, k := range errs {
		counter(MetricErrors, float64(r.errors[k]), "method", k.Method, "name", k.Name, "error", k.Message)
	}
	sample(MetricUsers, float64(r.users))
	sample(MetricWorkers, float64(r.workers))
	counter(MetricDropped, float64(r.dropped))
	for _, v := range r.thresholds {
		pass := 0.0
		if v.Pass {
			pass = 1
		}
		sample(MetricThresholdPass, pass, "threshold", v.Threshold.String())
	}
	for _, h := range r.hosts {
		p := h.Point
		kv := []string{"host", h.ID, "role", h.Role}
		sample(MetricHostCPU, p.CPUPercent, kv...)
		sample(MetricHostMemUsed, float64(p.MemUsed), kv...)
		sample(MetricHostMemTotal, float64(p.MemTotal), kv...)
		sample(MetricProcessCPU, p.ProcessCPU, kv...)
		sample(MetricProcessRSS, float64(p.ProcessRSS), kv...)
		sample(MetricNetRx, p.NetRxBps, kv...)
		sample(MetricNetTx, p.NetTxBps, kv...)
		for g := range p.GPUUtil {
			gkv := append(slices.Clone(kv), "gpu", strconv.Itoa(g))
			sample(MetricGPUUtil, p.GPUUtil[g], gkv...)
			if g < len(p.GPUMemUsed) {
				sample(MetricGPUMemUsed, float64(p.GPUMemUsed[g]), gkv...)
			}
			if g < len(p.GPUPowerW) {
				sample(MetricGPUPower, p.GPUPowerW[g], gkv...)
			}
			if g < len(p.GPUTempC) {
				sample(MetricGPUTemperature, p.GPUTempC[g], gkv...)
			}
		}
	}
	return req
}
