package threshold

import (
	"fmt"
	"iter"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// Telemetry is where telemetry thresholds read their series. Values are in the units the
// series carry (see the package documentation): percent for CPU and GPU utilisation, bytes for
// memory, milliseconds for sched_lag_ms.
type Telemetry interface {
	// Hosts returns the ids of the hosts of role ("agent" or "worker") that have telemetry.
	Hosts(role string) []string
	// Stats returns what is known of one series of one host over the run; nil when it
	// has no readings.
	Stats(role, host, name string) *SeriesStats
}

// SeriesStats is what thresholds read of one series: its count, minimum, maximum, mean,
// latest reading and least-squares slope. It is built reading by reading, so a live
// run keeps a few numbers per series rather than every reading. The zero value is an
// empty summary.
type SeriesStats struct {
	N        int
	Min, Max float64
	Last     float64 // the reading with the latest time (of equal times, the one added last)

	sum    float64
	lastAt time.Time
	t0     time.Time // x = seconds since t0, the first reading's time
	mx, my float64   // running means of x and of the readings
	m2x    float64   // sum of squared deviations of x
	cxy    float64   // sum of products of the deviations of x and of the readings
}

// Add takes one reading, in any order of time.
func (s *SeriesStats) Add(at time.Time, v float64) {
	if s.N == 0 {
		s.Min, s.Max, s.t0 = v, v, at
	}
	s.N++
	s.Min, s.Max, s.sum = math.Min(s.Min, v), math.Max(s.Max, v), s.sum+v
	if s.N == 1 || !at.Before(s.lastAt) {
		s.Last, s.lastAt = v, at
	}
	// Welford's online update, for a slope that stays exact over long runs.
	x := at.Sub(s.t0).Seconds()
	n := float64(s.N)
	dx := x - s.mx
	s.mx += dx / n
	s.my += (v - s.my) / n
	s.m2x += dx * (x - s.mx)
	s.cxy += dx * (v - s.my)
}

// Avg is the mean reading.
func (s *SeriesStats) Avg() float64 { return s.sum / float64(s.N) }

// Slope is the least-squares slope of the readings over their times, in value units
// per second; false when they were not taken at two different times.
func (s *SeriesStats) Slope() (float64, bool) {
	if s.m2x == 0 {
		return 0, false
	}
	return s.cxy / s.m2x, true
}

// Readings is a Telemetry built as the readings arrive: a SeriesStats by full name
// "<role>.<host>.<series>" ("agent.api.cpu", "worker.w1.gpu.util").
type Readings map[string]*SeriesStats

// Add takes one reading of the series name.
func (r Readings) Add(name string, at time.Time, v float64) {
	s := r[name]
	if s == nil {
		s = &SeriesStats{}
		r[name] = s
	}
	s.Add(at, v)
}

// Hosts returns the hosts of role in r, sorted.
func (r Readings) Hosts(role string) []string { return hostsOf(maps.Keys(r), role) }

// Stats returns the statistics of role.host.name.
func (r Readings) Stats(role, host, name string) *SeriesStats { return r[role+"."+host+"."+name] }

// Point is one telemetry reading.
type Point struct {
	At time.Time
	V  float64
}

// SeriesMap is a Telemetry held as every reading: points by full name
// "<role>.<host>.<series>".
type SeriesMap map[string][]Point

// Hosts returns the hosts of role in m, sorted.
func (m SeriesMap) Hosts(role string) []string { return hostsOf(maps.Keys(m), role) }

// Stats summarises the points of role.host.name.
func (m SeriesMap) Stats(role, host, name string) *SeriesStats {
	pts := m[role+"."+host+"."+name]
	if len(pts) == 0 {
		return nil
	}
	s := &SeriesStats{}
	for _, p := range pts {
		s.Add(p.At, p.V)
	}
	return s
}

// hostsOf returns the hosts of role among full series names, sorted.
func hostsOf(names iter.Seq[string], role string) []string {
	seen := map[string]bool{}
	for name := range names {
		r, rest, _ := strings.Cut(name, ".")
		if host, _, ok := strings.Cut(rest, "."); r == role && ok {
			seen[host] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// Input is what thresholds are evaluated on: a run so far (live) or a finished one.
type Input struct {
	Snapshot  *aggregate.Snapshot // cumulative, merged over all workers; nil is no requests
	Elapsed   time.Duration       // since the run started
	Users     int                 // users running now (or at the end)
	Dropped   uint64              // iterations dropped because no user was free
	Telemetry Telemetry           // nil when there is none
}

// Result is the verdict of one threshold.
type Result struct {
	Threshold    Threshold
	Observed     float64 // in the metric's canonical unit (see Threshold.Value)
	ObservedText string  // Observed for people, with its unit: "523.1ms", "0.42%", "212.3/s"
	Limit        float64 // what Observed was compared with: Value, or the baseline's figure times Value
	LimitText    string
	BaselineText string // with a baseline: the baseline run's figure, for people
	Host         string // telemetry: the host the verdict is about (for *, the worst one)
	Pass         bool
	// Abort is true when the threshold failed on data, asks to abort (";abort") and its grace
	// has elapsed: the run should stop. A threshold without data does not abort.
	Abort bool
	// Err says why there is no verdict on data: "no requests for name=/login", "no baseline
	// run to compare with". A Result with an Err fails.
	Err string
}

// Eval evaluates t on in; baseline is the stored run that "baseline" refers to (nil when
// there is none). A metric without data (no requests, no such endpoint, no telemetry) fails
// with Err set.
func (t Threshold) Eval(in Input, baseline *Input) Result {
	r := Result{Threshold: t}
	sp := t.spec()
	obs, host, err := t.observe(in, sp)
	r.Host = host
	if err != "" {
		r.Err = err
		return r
	}
	r.Observed, r.ObservedText = obs, t.format(sp, obs)
	r.Limit = t.Value
	if t.Baseline {
		if baseline == nil {
			r.Err = "no baseline run to compare with"
			return r
		}
		b, _, err := t.observe(*baseline, sp)
		if err != "" {
			r.Err = "baseline: " + err
			return r
		}
		r.Limit, r.BaselineText = b*t.Value, t.format(sp, b)
	}
	r.LimitText = t.format(sp, r.Limit)
	r.Pass = t.Op.holds(r.Observed, r.Limit)
	r.Abort = t.Abort && !r.Pass && in.Elapsed >= t.AbortGrace
	return r
}

// EvalAll evaluates every threshold, in order.
func EvalAll(ts []Threshold, in Input, baseline *Input) []Result {
	out := make([]Result, len(ts))
	for i, t := range ts {
		out[i] = t.Eval(in, baseline)
	}
	return out
}

// Passed reports whether every result passed.
func Passed(results []Result) bool {
	for _, r := range results {
		if !r.Pass {
			return false
		}
	}
	return true
}

// format writes v (canonical unit of t's metric) for people.
func (t Threshold) format(sp spec, v float64) string {
	if sp.slope {
		per := "/min"
		if strings.HasSuffix(t.Unit, "/s") {
			per = "/s"
		}
		return formatSlope(sp.kind, v, per)
	}
	return formatValue(sp.kind, v)
}

// observe measures t's metric on in; host is the telemetry host it is about.
func (t Threshold) observe(in Input, sp spec) (v float64, host string, err string) {
	switch {
	case sp.telemetry:
		return t.observeTelemetry(in.Telemetry, sp)
	case sp.request:
		v, err := t.observeRequests(in)
		return v, "", err
	case sp.tokens:
		v, err := t.observeTokens(in)
		return v, "", err
	case t.Metric == "users":
		return float64(in.Users), "", ""
	case t.Metric == "dropped":
		return float64(in.Dropped), "", ""
	}
	return 0, "", fmt.Sprintf("unknown metric %q", t.Metric) // only for a Threshold not built by Parse
}

func (t Threshold) observeRequests(in Input) (float64, string) {
	st := aggregate.NewStats()
	matched := false
	if in.Snapshot != nil {
		for ep, s := range in.Snapshot.Endpoints {
			// Without a method, the requests themselves: the rows that time a part of
			// one (TTFB, TTFT, ITL ...) are chosen by name, as in the Aggregated row.
			method := t.Filter.Method == "" && !aggregate.TimingKinds[ep.Method] || ep.Method == t.Filter.Method
			if (t.Filter.Name == "" || ep.Name == t.Filter.Name) && method {
				st.Merge(s)
				matched = true
			}
		}
	}
	noRequests := "no requests"
	if !t.Filter.IsZero() {
		if !matched {
			return 0, "no data for " + t.Filter.String()
		}
		noRequests += " for " + t.Filter.String()
	}
	switch t.Metric {
	case "failures":
		return float64(st.Failures), ""
	case "requests":
		return float64(st.Requests), ""
	case "rps":
		if in.Elapsed <= 0 {
			return 0, "no time has elapsed"
		}
		return float64(st.Requests) / in.Elapsed.Seconds(), ""
	case "error_rate":
		if st.Requests == 0 {
			return 0, noRequests
		}
		return float64(st.Failures) / float64(st.Requests), ""
	}
	h := st.Latency
	if h == nil || h.Count() == 0 {
		return 0, noRequests
	}
	var d time.Duration
	switch t.Metric {
	case "avg":
		d = st.Mean()
	case "med":
		d = h.Percentile(50)
	case "min":
		d = h.Min()
	case "max":
		d = h.Max()
	default:
		d = h.Percentile(t.Percentile)
	}
	return float64(d), ""
}

// Counters of model requests (pkg/userbehavior's Generate names them; per row name
// as NAME:row).
const (
	counterTokensIn    = "tokens_in"
	counterTokensOut   = "tokens_out"
	counterGoodput     = "goodput"
	counterSLORequests = "slo_requests"
)

func (t Threshold) observeTokens(in Input) (float64, string) {
	var c map[string]uint64
	if in.Snapshot != nil {
		c = in.Snapshot.Counters
	}
	count := func(name string) (uint64, bool) {
		if t.Filter.Name != "" {
			name += ":" + t.Filter.Name
		}
		n, ok := c[name]
		return n, ok
	}
	switch t.Metric {
	case "tokens_in", "tokens_out":
		n, _ := count(t.Metric)
		return float64(n), ""
	case "output_tokens_per_s":
		if in.Elapsed <= 0 {
			return 0, "no time has elapsed"
		}
		n, _ := count(counterTokensOut)
		return float64(n) / in.Elapsed.Seconds(), ""
	}
	good, judged := c[counterGoodput], c[counterSLORequests]
	if judged == 0 {
		return 0, "no request had an slo="
	}
	if t.Metric == "goodput_ratio" {
		return float64(good) / float64(judged), ""
	}
	if in.Elapsed <= 0 {
		return 0, "no time has elapsed"
	}
	return float64(good) / in.Elapsed.Seconds(), ""
}

func (t Threshold) observeTelemetry(tel Telemetry, sp spec) (float64, string, string) {
	if tel == nil {
		return 0, t.Host, "no telemetry"
	}
	hosts := []string{t.Host}
	if t.Host == "*" {
		hosts = slices.Sorted(slices.Values(tel.Hosts(t.Role)))
		if len(hosts) == 0 {
			return 0, "", fmt.Sprintf("no %s reports telemetry", t.Role)
		}
	}
	var worst float64
	worstHost := ""
	for _, h := range hosts {
		v, err := t.seriesValue(tel, h, sp)
		if err != "" {
			return 0, h, err
		}
		if worstHost == "" || t.worse(v, worst) {
			worst, worstHost = v, h
		}
	}
	return worst, worstHost, ""
}

// worse reports whether a is a worse reading than b for t: failing before passing, then
// further from the limit.
func (t Threshold) worse(a, b float64) bool {
	pa, pb := t.Op.holds(a, t.Value), t.Op.holds(b, t.Value)
	if pa != pb {
		return !pa
	}
	switch t.Op {
	case Less, LessEqual:
		return a > b
	case Greater, GreaterEqual:
		return a < b
	}
	return false
}

// seriesValue reduces one host's series to one value in the canonical unit.
func (t Threshold) seriesValue(tel Telemetry, host string, sp spec) (float64, string) {
	base := strings.TrimSuffix(t.Series, slopeSuffix)
	name := t.Role + "." + host + "." + base
	sum := tel.Stats(t.Role, host, base)
	if sum == nil || sum.N == 0 {
		return 0, "no telemetry for " + name
	}
	if sp.slope {
		s, ok := sum.Slope()
		if !ok {
			return 0, fmt.Sprintf("%s: a slope needs readings at two different times (have %d)", name, sum.N)
		}
		return s * sp.scale, ""
	}
	var v float64
	switch t.Func {
	case "min":
		v = sum.Min
	case "max":
		v = sum.Max
	case "last":
		v = sum.Last
	default: // avg
		v = sum.Avg()
	}
	return v * sp.scale, ""
}
