package report

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/store"
)

// Row is one endpoint's figures, as printed and as written to JSON.
type Row struct {
	Method   string  `json:"method"`
	Name     string  `json:"name"`
	Requests uint64  `json:"requests"`
	Failures uint64  `json:"failures"`
	MedianMs float64 `json:"median_ms"`
	P90Ms    float64 `json:"p90_ms"`
	P95Ms    float64 `json:"p95_ms"`
	P99Ms    float64 `json:"p99_ms"`
	P999Ms   float64 `json:"p99_9_ms"`
	// The rest of Locust's percentiles, for its CSV columns (not in the JSON).
	P66Ms, P75Ms, P80Ms, P98Ms, P9999Ms float64 `json:"-"`
	MinMs                               float64 `json:"min_ms"`
	MaxMs                               float64 `json:"max_ms"`
	AvgMs                               float64 `json:"avg_ms"`
	AvgSizeBytes                        float64 `json:"avg_size_bytes"`
	RPS                                 float64 `json:"rps"`
	FailuresPerS                        float64 `json:"failures_per_s"`
	// Live only: over the last few seconds.
	CurrentRPS      float64 `json:"current_rps,omitempty"`
	CurrentFailPerS float64 `json:"current_fail_per_s,omitempty"`
	// Live only: cumulative counts at or below each of LatencyBounds (Prometheus).
	Buckets []uint64 `json:"-"`
	// Service is the time from sending (open-model runs, where the percentiles above
	// are from each iteration's due time); Corrected the latency corrected for
	// coordinated omission (paced closed-model users). nil when not measured.
	Service   *Percentiles `json:"service,omitempty"`
	Corrected *Percentiles `json:"co_corrected,omitempty"`
}

// Percentiles are one latency distribution's figures.
type Percentiles struct {
	MedianMs float64 `json:"median_ms"`
	P90Ms    float64 `json:"p90_ms"`
	P95Ms    float64 `json:"p95_ms"`
	P99Ms    float64 `json:"p99_ms"`
	P999Ms   float64 `json:"p99_9_ms"`
	MaxMs    float64 `json:"max_ms"`
}

// percentilesOf returns h's figures, nil for an empty h.
func percentilesOf(h *aggregate.Histogram) *Percentiles {
	if h.Count() == 0 {
		return nil
	}
	ps := h.Percentiles(50, 90, 95, 99, 99.9)
	return &Percentiles{MedianMs: ms(ps[0]), P90Ms: ms(ps[1]), P95Ms: ms(ps[2]), P99Ms: ms(ps[3]),
		P999Ms: ms(ps[4]), MaxMs: ms(h.Max())}
}

// LatencyBounds are the bucket bounds of the latency histograms /metrics serves.
var LatencyBounds = []time.Duration{time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2500 * time.Millisecond,
	5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute}

// ErrorRow is one group of failures.
type ErrorRow struct {
	Method  string `json:"method"`
	Name    string `json:"name"`
	Message string `json:"message"`
	Count   uint64 `json:"count"`
}

// ExceptionRow is one group of errors raised by tasks.
type ExceptionRow struct {
	Message   string `json:"message"`
	Traceback string `json:"traceback"`
	Count     uint64 `json:"count"`
}

// CounterRow is one custom counter.
type CounterRow struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
}

// SlowRow is one of the slowest requests.
type SlowRow struct {
	Method    string    `json:"method"`
	Name      string    `json:"name"`
	URL       string    `json:"url,omitempty"`
	LatencyMs float64   `json:"latency_ms"`
	At        time.Time `json:"at,omitzero"`
	Worker    string    `json:"worker,omitempty"`
	Error     string    `json:"error,omitempty"`
	TraceID   string    `json:"trace_id,omitempty"`  // the W3C trace id it carried (--trace-context)
	TraceURL  string    `json:"trace_url,omitempty"` // TraceID in the run's --trace-url template
}

// TraceIDPlaceholder is what a trace URL template (--trace-url) has where the
// trace id goes.
const TraceIDPlaceholder = "{trace_id}"

// LinkTraces sets each row's TraceURL from template (nothing when it is empty).
func LinkTraces(rows []SlowRow, template string) {
	if template == "" {
		return
	}
	for i, r := range rows {
		if r.TraceID != "" {
			rows[i].TraceURL = strings.ReplaceAll(template, TraceIDPlaceholder, r.TraceID)
		}
	}
}

// TraceURLOf is the trace URL template stored with a run's configuration
// ("trace_url"), "" when it has none.
func TraceURLOf(config json.RawMessage) string {
	var c struct {
		TraceURL string `json:"trace_url"`
	}
	if len(config) == 0 || json.Unmarshal(config, &c) != nil {
		return ""
	}
	return c.TraceURL
}

// Slowest returns the slowest requests kept by the snapshot, slowest first.
func Slowest(snap *aggregate.Snapshot) []SlowRow {
	out := make([]SlowRow, 0, len(snap.Slowest))
	for _, r := range snap.Slowest {
		out = append(out, SlowRow{Method: r.Method, Name: r.Name, URL: r.URL, LatencyMs: ms(r.Latency),
			At: r.At, Worker: r.Worker, Error: r.Err, TraceID: r.TraceID})
	}
	return out
}

// Exceptions returns the task exceptions, most frequent first.
func Exceptions(snap *aggregate.Snapshot) []ExceptionRow {
	out := make([]ExceptionRow, 0, len(snap.Exceptions))
	for k, n := range snap.Exceptions {
		out = append(out, ExceptionRow{Message: k.Message, Traceback: k.Traceback, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Message+out[i].Traceback < out[j].Message+out[j].Traceback
	})
	return out
}

// Counters returns the custom counters by name.
func Counters(snap *aggregate.Snapshot) []CounterRow {
	out := make([]CounterRow, 0, len(snap.Counters))
	for name, n := range snap.Counters {
		out = append(out, CounterRow{Name: name, Value: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Summary is the machine-readable result of a run (--json).
type Summary struct {
	RunID       string         `json:"run_id"`
	Status      string         `json:"status"`
	Reason      string         `json:"reason,omitempty"`
	StartedAt   time.Time      `json:"started_at"`
	EndedAt     time.Time      `json:"ended_at"`
	DurationS   float64        `json:"duration_s"`
	Users       int            `json:"users"`
	PeakUsers   int            `json:"peak_users"`
	Total       Row            `json:"total"`
	Endpoints   []Row          `json:"endpoints"`
	Errors      []ErrorRow     `json:"errors"`
	Exceptions  []ExceptionRow `json:"exceptions"`
	Counters    []CounterRow   `json:"counters"`
	Tokens      *TokenSummary  `json:"tokens,omitempty"` // model requests (u.llm) only
	Slowest     []SlowRow      `json:"slowest"`
	FailureRate float64        `json:"failure_rate"`
	// Thresholds and their verdicts; Passed is false when one failed.
	Thresholds []store.Verdict `json:"thresholds,omitempty"`
	Passed     bool            `json:"thresholds_passed"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// RowOf computes an endpoint's row over a run of the given duration.
func RowOf(ep aggregate.Endpoint, s *aggregate.Stats, duration time.Duration) Row {
	ps := s.Latency.Percentiles(50, 66, 75, 80, 90, 95, 98, 99, 99.9, 99.99)
	r := Row{Method: ep.Method, Name: ep.Name, Requests: s.Requests, Failures: s.Failures,
		MedianMs: ms(ps[0]), P66Ms: ms(ps[1]), P75Ms: ms(ps[2]), P80Ms: ms(ps[3]), P90Ms: ms(ps[4]),
		P95Ms: ms(ps[5]), P98Ms: ms(ps[6]), P99Ms: ms(ps[7]), P999Ms: ms(ps[8]), P9999Ms: ms(ps[9]),
		MinMs: ms(s.Latency.Min()), MaxMs: ms(s.Latency.Max()),
		AvgMs: ms(s.Mean()), AvgSizeBytes: s.AvgBytes(),
		Service: percentilesOf(s.Service), Corrected: percentilesOf(s.Corrected)}
	if secs := duration.Seconds(); secs > 0 {
		r.RPS = float64(s.Requests) / secs
		r.FailuresPerS = float64(s.Failures) / secs
	}
	return r
}

// Rows returns the endpoint rows in name order and the aggregated row.
func Rows(snap *aggregate.Snapshot, duration time.Duration) ([]Row, Row) {
	var rows []Row
	for _, ep := range snap.Names() {
		rows = append(rows, RowOf(ep, snap.Endpoints[ep], duration))
	}
	total := RowOf(aggregate.Endpoint{Name: "Aggregated"}, snap.Total(), duration)
	return rows, total
}

// Errors returns the failure groups, most frequent first.
func Errors(snap *aggregate.Snapshot) []ErrorRow {
	out := make([]ErrorRow, 0, len(snap.Errors))
	for k, n := range snap.Errors {
		out = append(out, ErrorRow{Method: k.Method, Name: k.Name, Message: k.Message, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Message < out[j].Message
	})
	return out
}

// WriteTable prints the per-endpoint table and the failures, as Locust does at the end
// of a headless run.
func WriteTable(w io.Writer, snap *aggregate.Snapshot, duration time.Duration) error {
	rows, total := Rows(snap, duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "Type\tName\t# reqs\t# fails\tMedian\t90%\t95%\t99%\t99.9%\tMax\tAvg size\tRPS\t")
	line := func(r Row) {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.1f\t\n", r.Method, r.Name, r.Requests,
			failures(r), msCell(r.MedianMs), msCell(r.P90Ms), msCell(r.P95Ms), msCell(r.P99Ms), msCell(r.P999Ms),
			msCell(r.MaxMs), r.AvgSizeBytes, r.RPS)
	}
	for _, r := range rows {
		line(r)
	}
	fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t\t\t\t")
	line(total)
	if err := tw.Flush(); err != nil {
		return err
	}
	extra := func(title string, get func(Row) *Percentiles) error {
		all := append(append([]Row{}, rows...), total)
		if !slices.ContainsFunc(all, func(r Row) bool { return get(r) != nil }) {
			return nil
		}
		fmt.Fprintln(w, "\n"+title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "Type\tName\tMedian\t90%\t95%\t99%\t99.9%\tMax\t")
		for _, r := range all {
			if p := get(r); p != nil {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Method, r.Name, msCell(p.MedianMs), msCell(p.P90Ms),
					msCell(p.P95Ms), msCell(p.P99Ms), msCell(p.P999Ms), msCell(p.MaxMs))
			}
		}
		return tw.Flush()
	}
	if err := extra("Service time, from sending each request (open model: the latency above is from when each iteration was due):",
		func(r Row) *Percentiles { return r.Service }); err != nil {
		return err
	}
	if err := extra("Latency corrected for coordinated omission against each paced user's interval (the table above is uncorrected):",
		func(r Row) *Percentiles { return r.Corrected }); err != nil {
		return err
	}
	if errs := Errors(snap); len(errs) > 0 {
		fmt.Fprintln(w, "\nFailures:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "# occurrences\tType\tName\tError")
		for _, e := range errs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", e.Count, e.Method, e.Name, e.Message)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if exs := Exceptions(snap); len(exs) > 0 {
		fmt.Fprintln(w, "\nExceptions:")
		for _, e := range exs {
			fmt.Fprintf(w, "%d x %s\n    %s\n", e.Count, e.Message, strings.ReplaceAll(e.Traceback, "\n", "\n    "))
		}
	}
	if cs := Counters(snap); len(cs) > 0 {
		fmt.Fprintln(w, "\nCounters:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range cs {
			fmt.Fprintf(tw, "%s\t%d\n", c.Name, c.Value)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	writeTokens(w, Tokens(snap, duration))
	return nil
}

func failures(r Row) string {
	if r.Requests == 0 {
		return "0"
	}
	return fmt.Sprintf("%d(%.2f%%)", r.Failures, 100*float64(r.Failures)/float64(r.Requests))
}

// Millis formats a latency in milliseconds with sensible precision ("-" for none).
func Millis(d time.Duration) string { return msCell(ms(d)) }

func msCell(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 10:
		return fmt.Sprintf("%.2fms", v)
	case v < 100:
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}

// WriteJSON writes s as indented JSON.
func WriteJSON(w io.Writer, s Summary) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// NewSummary builds the JSON summary of a finished run.
func NewSummary(runID, status, reason string, started, ended time.Time, users, peak int, snap *aggregate.Snapshot) Summary {
	d := ended.Sub(started)
	rows, total := Rows(snap, d)
	s := Summary{RunID: runID, Status: status, Reason: reason, StartedAt: started, EndedAt: ended,
		DurationS: d.Seconds(), Users: users, PeakUsers: peak, Total: total, Endpoints: rows, Errors: Errors(snap),
		Exceptions: Exceptions(snap), Counters: Counters(snap), Tokens: Tokens(snap, d), Slowest: Slowest(snap), Passed: true}
	if rows == nil {
		s.Endpoints = []Row{}
	}
	if total.Requests > 0 {
		s.FailureRate = float64(total.Failures) / float64(total.Requests)
	}
	return s
}
