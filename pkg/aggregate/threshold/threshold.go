package threshold

import (
	"strconv"
	"strings"
	"time"
)

// Op is a comparison.
type Op int

// The comparisons, written < <= > >= == !=.
const (
	Less Op = iota + 1
	LessEqual
	Greater
	GreaterEqual
	Equal
	NotEqual
)

var opText = map[Op]string{Less: "<", LessEqual: "<=", Greater: ">", GreaterEqual: ">=", Equal: "==", NotEqual: "!="}

func (o Op) String() string { return opText[o] }

// holds reports whether "observed o limit" is true.
func (o Op) holds(observed, limit float64) bool {
	switch o {
	case Less:
		return observed < limit
	case LessEqual:
		return observed <= limit
	case Greater:
		return observed > limit
	case GreaterEqual:
		return observed >= limit
	case Equal:
		return observed == limit
	case NotEqual:
		return observed != limit
	}
	return false
}

// Filter selects endpoints of request metrics. An empty field matches any; a set one matches
// aggregate.Endpoint's Name or Method exactly (no globs, case-sensitive).
type Filter struct {
	Name   string
	Method string
}

// IsZero reports whether f selects every endpoint.
func (f Filter) IsZero() bool { return f == Filter{} }

// String writes f as written in a threshold, without braces: "name=/login,method=POST".
func (f Filter) String() string {
	var parts []string
	if f.Name != "" {
		parts = append(parts, "name="+filterValue(f.Name))
	}
	if f.Method != "" {
		parts = append(parts, "method="+filterValue(f.Method))
	}
	return strings.Join(parts, ",")
}

// filterValue quotes v when it would not read back as written.
func filterValue(v string) string {
	if v == "" || strings.ContainsAny(v, `,}"`) || strings.TrimSpace(v) != v || !strconv.CanBackquote(v) {
		return strconv.Quote(v)
	}
	return v
}

// Threshold is one parsed threshold expression. Build it with [Parse]; [Threshold.String]
// writes it back in canonical form, which Parse reads to an equal Threshold.
type Threshold struct {
	Source string // the expression as written

	// Metric is the canonical name of what is measured: "p95", "p99.9", "avg", "med", "min",
	// "max", "error_rate", "failures", "requests", "rps", "users", "dropped", or a telemetry
	// series "<role>.<host>.<series>" ("agent.api.cpu", "worker.*.mem_slope").
	Metric     string
	Percentile float64 // for pNN: NN (0 < NN <= 100)
	Filter     Filter  // request metrics only

	// Telemetry series: Role is "agent" or "worker", Host a host id or "*" (every host of the
	// role, each of which must pass), Series the series name ("cpu", "gpu.util", "mem_slope").
	// Func is how the series is reduced to one value: "avg" (also when not written), "min",
	// "max" or "last"; slopes take none.
	Role, Host, Series string
	Func               string

	Op Op
	// Value is the limit in the metric's canonical unit: nanoseconds for latencies, a fraction
	// for percentages (1% is 0.01), bytes for memory, per second for rps and for slopes
	// (1MiB/min is 1048576/60), a plain number for counts. With Baseline it is the factor.
	Value    float64
	Number   float64 // the number as written (1.1 in baseline*1.1, 100 in 100ms)
	Unit     string  // the unit as written: "ms", "%", "MiB/min", "" for none
	Baseline bool    // the limit is Value times the same metric measured on the baseline run

	// Abort asks to stop the run as soon as the threshold fails, but not before AbortGrace
	// has elapsed since the run started (as k6's delayAbortEval): ";abort" or ";abort=30s".
	Abort      bool
	AbortGrace time.Duration
}

// String writes t in canonical form: no spaces, filter keys in the order name, method,
// "avg(...)" written only when it differs from the default.
func (t Threshold) String() string {
	var b strings.Builder
	if t.Func != "" && t.Func != "avg" {
		b.WriteString(t.Func + "(" + t.Metric + ")")
	} else {
		b.WriteString(t.Metric)
	}
	if !t.Filter.IsZero() {
		b.WriteString("{" + t.Filter.String() + "}")
	}
	b.WriteString(t.Op.String())
	switch {
	case t.Baseline && t.Number == 1:
		b.WriteString("baseline")
	case t.Baseline:
		b.WriteString("baseline*" + formatNumber(t.Number))
	default:
		b.WriteString(formatNumber(t.Number) + t.Unit)
	}
	if t.Abort {
		b.WriteString(";abort")
		if t.AbortGrace > 0 {
			b.WriteString("=" + t.AbortGrace.String())
		}
	}
	return b.String()
}

func formatNumber(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
