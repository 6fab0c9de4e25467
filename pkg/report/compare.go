package report

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Comparison sets two or more runs side by side, endpoint by endpoint, each against
// the first (the baseline).
type Comparison struct {
	TolerancePct float64        `json:"tolerance_pct"`
	Runs         []RunSummary   `json:"runs"`
	Endpoints    []EndpointDiff `json:"endpoints"`
	Series       [][]Point      `json:"series"`
	Regressions  int            `json:"regressions"`
}

// EndpointDiff is one endpoint across the runs; nil entries where a run lacks it.
type EndpointDiff struct {
	Method     string        `json:"method"`
	Name       string        `json:"name"`
	Values     []*DiffValues `json:"values"`
	Deltas     []*Delta      `json:"deltas"` // one per run after the first
	Regression bool          `json:"regression"`
	Why        []string      `json:"why,omitempty"`
}

// DiffValues are the compared figures of one endpoint in one run.
type DiffValues struct {
	Requests   uint64  `json:"requests"`
	P50Ms      float64 `json:"p50_ms"`
	P95Ms      float64 `json:"p95_ms"`
	P99Ms      float64 `json:"p99_ms"`
	RPS        float64 `json:"rps"`
	FailurePct float64 `json:"failure_pct"`
}

// Delta is a run's change against the baseline: absolute and relative (percent).
type Delta struct {
	P50Ms      float64 `json:"p50_ms"`
	P50Pct     float64 `json:"p50_pct"`
	P95Ms      float64 `json:"p95_ms"`
	P95Pct     float64 `json:"p95_pct"`
	P99Ms      float64 `json:"p99_ms"`
	P99Pct     float64 `json:"p99_pct"`
	RPS        float64 `json:"rps"`
	RPSPct     float64 `json:"rps_pct"`
	FailurePct float64 `json:"failure_pct"` // percentage points
}

func valuesOf(r Row) *DiffValues {
	v := &DiffValues{Requests: r.Requests, P50Ms: r.MedianMs, P95Ms: r.P95Ms, P99Ms: r.P99Ms, RPS: r.RPS}
	if r.Requests > 0 {
		v.FailurePct = 100 * float64(r.Failures) / float64(r.Requests)
	}
	return v
}

func pct(now, base float64) float64 {
	if base == 0 {
		if now == 0 {
			return 0
		}
		return 100
	}
	return 100 * (now - base) / base
}

// Compare compares runs against the first. A run regresses on an endpoint when its
// p50, p95 or p99 is more than tolerancePct higher, its throughput more than
// tolerancePct lower, or its failure rate more than tolerancePct/10 points higher.
// The aggregated row comes first.
func Compare(runs []*RunView, tolerancePct float64) Comparison {
	c := Comparison{TolerancePct: tolerancePct}
	type key struct{ method, name string }
	index := map[key]int{}
	add := func(k key) int {
		if i, ok := index[k]; ok {
			return i
		}
		index[k] = len(c.Endpoints)
		c.Endpoints = append(c.Endpoints, EndpointDiff{Method: k.method, Name: k.name,
			Values: make([]*DiffValues, len(runs)), Deltas: make([]*Delta, max(len(runs)-1, 0))})
		return len(c.Endpoints) - 1
	}
	add(key{"", "Aggregated"})
	for _, r := range runs {
		for _, row := range r.Endpoints {
			add(key{row.Method, row.Name})
		}
	}
	for i, r := range runs {
		c.Runs = append(c.Runs, r.Run)
		c.Series = append(c.Series, r.Series)
		c.Endpoints[0].Values[i] = valuesOf(r.Total)
		for _, row := range r.Endpoints {
			c.Endpoints[index[key{row.Method, row.Name}]].Values[i] = valuesOf(row)
		}
	}
	rest := c.Endpoints[1:]
	sort.SliceStable(rest, func(i, j int) bool {
		if rest[i].Name != rest[j].Name {
			return rest[i].Name < rest[j].Name
		}
		return rest[i].Method < rest[j].Method
	})
	for ei := range c.Endpoints {
		e := &c.Endpoints[ei]
		base := e.Values[0]
		for i := 1; i < len(runs); i++ {
			v := e.Values[i]
			if base == nil || v == nil {
				continue
			}
			d := &Delta{P50Ms: v.P50Ms - base.P50Ms, P50Pct: pct(v.P50Ms, base.P50Ms),
				P95Ms: v.P95Ms - base.P95Ms, P95Pct: pct(v.P95Ms, base.P95Ms),
				P99Ms: v.P99Ms - base.P99Ms, P99Pct: pct(v.P99Ms, base.P99Ms),
				RPS: v.RPS - base.RPS, RPSPct: pct(v.RPS, base.RPS), FailurePct: v.FailurePct - base.FailurePct}
			e.Deltas[i-1] = d
			why := func(cond bool, format string, args ...any) {
				if cond {
					e.Why = append(e.Why, fmt.Sprintf("run %d: ", i+1)+fmt.Sprintf(format, args...))
				}
			}
			why(d.P50Pct > tolerancePct, "p50 +%.1f%%", d.P50Pct)
			why(d.P95Pct > tolerancePct, "p95 +%.1f%%", d.P95Pct)
			why(d.P99Pct > tolerancePct, "p99 +%.1f%%", d.P99Pct)
			why(d.RPSPct < -tolerancePct, "throughput %.1f%%", d.RPSPct)
			why(d.FailurePct > tolerancePct/10, "failures +%.2f points", d.FailurePct)
		}
		if len(e.Why) > 0 {
			e.Regression = true
			c.Regressions++
		}
	}
	return c
}

// WriteComparison prints a comparison as a table (format "table") or a Markdown
// table (format "markdown").
func WriteComparison(w io.Writer, c Comparison, format string) error {
	sep, head, rowEnd := "\t", "", "\t\n"
	var tw io.Writer = w
	var flush func() error
	if format == "markdown" {
		sep, head, rowEnd = " | ", "| ", " |\n"
	} else {
		t := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		tw, flush = t, t.Flush
	}
	cols := []string{"Type", "Name"}
	for i := range c.Runs {
		tag := fmt.Sprintf("#%d", i+1)
		cols = append(cols, tag+" p50", tag+" p95", tag+" p99", tag+" rps", tag+" fail%")
	}
	cols = append(cols, "verdict")
	fmt.Fprint(tw, head+strings.Join(cols, sep)+rowEnd)
	if format == "markdown" {
		fmt.Fprint(tw, "|"+strings.Repeat(" --- |", len(cols))+"\n")
	}
	for _, e := range c.Endpoints {
		cells := []string{e.Method, e.Name}
		for i, v := range e.Values {
			if v == nil {
				cells = append(cells, "-", "-", "-", "-", "-")
				continue
			}
			cell := func(val, delta float64, unit string, show bool) string {
				s := fmt.Sprintf("%.1f%s", val, unit)
				if show {
					s += fmt.Sprintf(" (%+.1f%%)", delta)
				}
				return s
			}
			var d *Delta
			if i > 0 {
				d = e.Deltas[i-1]
			}
			has := d != nil
			if d == nil {
				d = &Delta{}
			}
			cells = append(cells, cell(v.P50Ms, d.P50Pct, "ms", has), cell(v.P95Ms, d.P95Pct, "ms", has),
				cell(v.P99Ms, d.P99Pct, "ms", has), cell(v.RPS, d.RPSPct, "", has), fmt.Sprintf("%.2f", v.FailurePct))
		}
		verdict := "ok"
		if e.Regression {
			verdict = "REGRESSION: " + strings.Join(e.Why, ", ")
		}
		cells = append(cells, verdict)
		fmt.Fprint(tw, head+strings.Join(cells, sep)+rowEnd)
	}
	if flush != nil {
		if err := flush(); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "\n%d regression(s) beyond a tolerance of %g%%\n", c.Regressions, c.TolerancePct)
	return err
}
