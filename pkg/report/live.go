package report

import (
	"time"

	"github.com/stampede-load/stampede/pkg/store"
)

// States of the master as the dashboard shows them.
const (
	StateIdle     = "idle"     // no run yet
	StateWaiting  = "waiting"  // a run waits for its workers
	StateRunning  = "running"  // users spawning or running (Live.Spawning tells which)
	StateStopping = "stopping" // waiting for final reports
	StateStopped  = "stopped"  // the last run is over
)

// Live is the master's current view: what the dashboard shows and pushes. It is
// built once per interval and shared by every reader; do not modify it.
type Live struct {
	State       string         `json:"state"`
	RunID       string         `json:"run_id,omitempty"`
	Status      string         `json:"status,omitempty"` // stored status once stopped
	Reason      string         `json:"reason,omitempty"`
	Error       string         `json:"error,omitempty"` // why the last run could not run
	Host        string         `json:"host,omitempty"`
	Scenario    string         `json:"scenario,omitempty"`
	Users       int            `json:"users"`
	TargetUsers int            `json:"target_users"`
	SpawnRate   float64        `json:"spawn_rate"`
	StartedAt   time.Time      `json:"started_at,omitzero"`
	ElapsedS    float64        `json:"elapsed_s"`
	UpdatedAt   time.Time      `json:"updated_at"`
	Workers     []WorkerRow    `json:"workers"`
	Endpoints   []Row          `json:"endpoints"`
	Total       Row            `json:"total"`
	Errors      []ErrorRow     `json:"errors"`
	Exceptions  []ExceptionRow `json:"exceptions"`
	Counters    []CounterRow   `json:"counters"`
	Slowest     []SlowRow      `json:"slowest"`
	Warnings    []string       `json:"warnings"`
	Scale       Scale          `json:"scale"`
	Agents      []WorkerRow    `json:"agents"`
	// Series and each of Hosts are the run's points; in a long run each point
	// covers SeriesStepS seconds (see MaxLivePoints), and the readings of the
	// latest step not yet complete are left out. The store keeps every second.
	Hosts       []HostSeries `json:"hosts,omitempty"`
	Series      []Point      `json:"series,omitempty"`
	SeriesStepS float64      `json:"series_step_s,omitempty"`
	// Latest is the point of the last interval, one second, wherever the series is.
	Latest *Point `json:"latest,omitempty"`
	// Thresholds are the run's criteria as last evaluated (each second while it runs).
	Thresholds []store.Verdict `json:"thresholds,omitempty"`
	// OpenModel: latency is from each iteration's due time; rows carry service time too.
	OpenModel bool `json:"open_model,omitempty"`
	// StatsSinceS is when the statistics window of the totals began, in seconds
	// since the run began: 0, or when the statistics were last reset.
	StatsSinceS float64 `json:"stats_since_s,omitempty"`
	// Spawning: the run is running and its users are still ramping towards
	// TargetUsers (Locust's "spawning"). State stays StateRunning meanwhile.
	Spawning bool `json:"spawning,omitempty"`
	// ClassUsers are the users running per user class, as the workers last
	// reported them; ClassTargets the users the run's plan gives each class.
	ClassUsers   map[string]int `json:"class_users,omitempty"`
	ClassTargets map[string]int `json:"class_targets,omitempty"`
}

// WorkerRow is one connected worker.
type WorkerRow struct {
	ID             string  `json:"id"`
	Host           string  `json:"host"`
	Addr           string  `json:"addr"`
	Version        string  `json:"version"`
	Cores          int     `json:"cores"`
	MemoryBytes    uint64  `json:"memory_bytes"`
	State          string  `json:"state"` // ready, running, stopping, stopped (its run is over), agent
	Users          int     `json:"users"`
	LastReportAgeS float64 `json:"last_report_age_s"` // -1: none yet
	Role           string  `json:"role"`
	// Kind is what the worker is: "stampede", or "locust" / "boomer" for workers
	// speaking Locust's protocol, whose response times are rounded (RoundedNote).
	Kind string `json:"kind,omitempty"`
	// From the latest telemetry sample (zero until one came).
	CPUPercent float64 `json:"cpu_percent"`
	ProcessCPU float64 `json:"process_cpu_percent"`
	MemUsed    uint64  `json:"mem_used"`
	MemTotal   uint64  `json:"mem_total"`
	SchedLagMs float64 `json:"sched_lag_p99_ms"`
	GPUs       int     `json:"gpus"`
	GPUUtil    float64 `json:"gpu_util"` // mean over the GPUs
	GPUStatus  string  `json:"gpu_status,omitempty"`
	Saturated  bool    `json:"saturated"`
	// Late: the worker runs users of the active run and its last report is older
	// than a few intervals. A worker with no run to report on is never late.
	Late bool `json:"late,omitempty"`
}

// RoundedNote says why the statistics of Locust and boomer workers are less
// exact than Stampede's own: the worker buckets every response time (1 ms below
// 100 ms, 10 ms below 1 s, 100 ms below 10 s, 1 s above) before the master sees it.
const RoundedNote = "rounded by Locust worker"

// Point is one interval of a run's time series: what the master merged in the
// SpanS seconds that end T seconds after the run began. Its rates are averaged
// over that span (Requests / SpanS), so that over a whole series
// Σ RPS × SpanS = Σ Requests = the run's total. A point of a merged (decimated)
// series covers the spans of the intervals it merged.
type Point struct {
	T        float64 `json:"t"` // seconds since the run began, at the point's end
	SpanS    float64 `json:"span_s"`
	Requests uint64  `json:"requests"`
	Failures uint64  `json:"failures"`
	// Gap: no worker reported during the point's span; its rates and percentiles
	// are unknown (drawn as a gap), not zero.
	Gap      bool    `json:"gap,omitempty"`
	Users    int     `json:"users"`
	RPS      float64 `json:"rps"`
	FailPerS float64 `json:"fail_per_s"`
	P50      float64 `json:"p50_ms"`
	P95      float64 `json:"p95_ms"`
	P99      float64 `json:"p99_ms"`
	// Saturated marks an interval during which a worker was over its CPU or
	// scheduling-lag limit: its latency figures are not trustworthy.
	Saturated bool `json:"saturated,omitempty"`
}

// Ms converts a latency to float milliseconds.
func Ms(d time.Duration) float64 { return ms(d) }

// Scale is the master's hint of how many workers the current load needs, from the
// workers' CPU: what an autoscaler (or a person) acts on.
type Scale struct {
	Workers     int     `json:"workers"`        // connected, able to take users
	Wanted      int     `json:"wanted"`         // needed to keep each under TargetCPU
	TargetCPU   float64 `json:"target_cpu"`     // percent per worker
	MeanCPU     float64 `json:"mean_cpu"`       // percent, over workers with telemetry
	WithSamples int     `json:"with_telemetry"` // workers that sent telemetry
}
