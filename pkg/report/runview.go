package report

import (
	"encoding/json"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/store"
)

// RunSummary is one stored run in lists and comparisons.
type RunSummary struct {
	ID         string          `json:"id"`
	Status     string          `json:"status"`
	Reason     string          `json:"reason,omitempty"`
	Label      string          `json:"label"`
	Notes      string          `json:"notes"`
	StartedAt  time.Time       `json:"started_at"`
	EndedAt    time.Time       `json:"ended_at,omitzero"`
	DurationS  float64         `json:"duration_s"`
	PeakUsers  int             `json:"peak_users"`
	Requests   uint64          `json:"requests"`
	Failures   uint64          `json:"failures"`
	FailurePct float64         `json:"failure_pct"`
	RPS        float64         `json:"rps"`
	P50Ms      float64         `json:"p50_ms"`
	P95Ms      float64         `json:"p95_ms"`
	P99Ms      float64         `json:"p99_ms"`
	Config     json.RawMessage `json:"config,omitempty"`
}

// EventRow is one thing that happened during a run.
type EventRow struct {
	At     time.Time       `json:"at"`
	T      float64         `json:"t"` // seconds since the run began
	Kind   store.EventKind `json:"kind"`
	Worker string          `json:"worker,omitempty"`
	Detail string          `json:"detail,omitempty"`
}

// RunView is a stored run ready to show: summary, tables, series and events.
type RunView struct {
	Run        RunSummary          `json:"run"`
	Endpoints  []Row               `json:"endpoints"`
	Total      Row                 `json:"total"`
	Errors     []ErrorRow          `json:"errors"`
	Exceptions []ExceptionRow      `json:"exceptions"`
	Counters   []CounterRow        `json:"counters"`
	Slowest    []SlowRow           `json:"slowest"`
	Series     []Point             `json:"series"`
	Hosts      []HostSeries        `json:"hosts"`
	Warnings   []string            `json:"warnings"`
	Events     []EventRow          `json:"events"`
	Final      *aggregate.Snapshot `json:"-"`
}

// Summarize turns a stored run record into its summary.
func Summarize(r store.Run) RunSummary {
	s := RunSummary{ID: r.ID, Status: string(r.Status), Reason: r.Reason, Label: r.Label, Notes: r.Notes,
		StartedAt: r.StartedAt, EndedAt: r.EndedAt, PeakUsers: r.Summary.PeakUsers,
		Requests: r.Summary.Requests, Failures: r.Summary.Failures, RPS: r.Summary.RPS,
		P50Ms: ms(r.Summary.P50), P95Ms: ms(r.Summary.P95), P99Ms: ms(r.Summary.P99), Config: r.Config}
	if !r.EndedAt.IsZero() {
		s.DurationS = r.EndedAt.Sub(r.StartedAt).Seconds()
	}
	if r.Summary.Requests > 0 {
		s.FailurePct = 100 * float64(r.Summary.Failures) / float64(r.Summary.Requests)
	}
	return s
}

// PointOf is the series point of one interval of a run that began at started:
// the one definition of a chart point, used by the live view, stored runs, the
// history CSV, the HTML report and compare. The interval spans its snapshot's
// Start to End (the master's own interval, whatever the reports in it covered).
func PointOf(iv store.Interval, started time.Time) Point {
	snap := iv.Snapshot
	p := Point{T: iv.At.Sub(started).Seconds(), Users: iv.Users, Gap: iv.Reports == 0}
	if snap == nil {
		p.Gap = true
		return p
	}
	p.SpanS = max(snap.End.Sub(snap.Start).Seconds(), 0)
	tot := snap.Total()
	p.Requests, p.Failures = tot.Requests, tot.Failures
	if !p.Gap {
		p.P50, p.P95, p.P99 = ms(tot.Latency.Percentile(50)), ms(tot.Latency.Percentile(95)), ms(tot.Latency.Percentile(99))
	}
	p.setRates()
	return p
}

// setRates sets the point's rates from its counts and span.
func (p *Point) setRates() {
	p.RPS, p.FailPerS = 0, 0
	if p.SpanS > 0 {
		p.RPS, p.FailPerS = float64(p.Requests)/p.SpanS, float64(p.Failures)/p.SpanS
	}
}

// View is a stored run ready to show, computed from what the store read: its
// final snapshot, or for a run without one (an interrupted run) the merge of its
// intervals. It reads nothing itself; an error is one the intervals' reading gave.
func View(d *store.RunData) (*RunView, error) {
	r := d.Run
	v := &RunView{Run: Summarize(r), Series: []Point{}, Events: []EventRow{}}
	merged := aggregate.NewSnapshot(r.StartedAt)
	for iv, err := range d.Intervals {
		if err != nil {
			return nil, err
		}
		v.Series = append(v.Series, PointOf(iv, r.StartedAt))
		merged.Merge(iv.Snapshot)
	}
	v.Series = FoldShort(v.Series)
	final := d.Final
	if final == nil {
		final = merged
	}
	end := r.EndedAt
	if end.IsZero() && len(v.Series) > 0 {
		end = r.StartedAt.Add(time.Duration(v.Series[len(v.Series)-1].T * float64(time.Second)))
	}
	v.Final = final
	rows, total := Rows(final, end.Sub(r.StartedAt))
	v.Endpoints, v.Total, v.Errors = rows, total, Errors(final)
	v.Exceptions, v.Counters, v.Slowest = Exceptions(final), Counters(final), Slowest(final)
	LinkTraces(v.Slowest, TraceURLOf(r.Config))
	if v.Endpoints == nil {
		v.Endpoints = []Row{}
	}
	v.Warnings = []string{}
	for _, e := range d.Events {
		t := e.At.Sub(r.StartedAt).Seconds()
		v.Events = append(v.Events, EventRow{At: e.At, T: t, Kind: e.Kind, Worker: e.Worker, Detail: e.Detail})
		switch {
		case e.Kind.WorkerWarning():
			v.Warnings = append(v.Warnings, "worker "+e.Worker+": "+e.Detail)
		case e.Kind.RunWarning():
			v.Warnings = append(v.Warnings, e.Detail)
		}
	}
	markSaturated(v.Series, v.Events)
	v.Hosts = hostSeries(d.Telemetry, func(rec store.TelemetryRecord) float64 { return rec.At.Sub(r.StartedAt).Seconds() })
	if v.Hosts == nil {
		v.Hosts = []HostSeries{}
	}
	return v, nil
}

// markSaturated flags the series points that fall while some worker was saturated:
// from its generator_saturated (or _lagging) event until its generator_recovered
// event, or the end of the run.
func markSaturated(series []Point, events []EventRow) {
	hot := map[string]float64{} // worker -> since
	var spans [][2]float64
	for _, e := range events {
		switch {
		case e.Kind.Saturating():
			if _, ok := hot[e.Worker]; !ok {
				hot[e.Worker] = e.T
			}
		case e.Kind.Recovering():
			if since, ok := hot[e.Worker]; ok {
				spans = append(spans, [2]float64{since, e.T})
				delete(hot, e.Worker)
			}
		}
	}
	for _, since := range hot {
		spans = append(spans, [2]float64{since, 1e18})
	}
	for i := range series {
		for _, sp := range spans {
			if series[i].T >= sp[0] && series[i].T <= sp[1]+1 {
				series[i].Saturated = true
			}
		}
	}
}
