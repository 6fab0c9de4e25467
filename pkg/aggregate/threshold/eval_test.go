package threshold

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

var (
	login = aggregate.Endpoint{Method: "GET", Name: "/login"}
	apiX  = aggregate.Endpoint{Method: "POST", Name: "/api/x"}
)

// stats records latencies (µs) into fresh Stats with the given failures.
func stats(failures uint64, micros ...int) *aggregate.Stats {
	st := aggregate.NewStats()
	for _, us := range micros {
		d := time.Duration(us) * time.Microsecond
		st.Requests++
		st.TotalTime += d
		st.Latency.Record(d)
	}
	st.Failures = failures
	return st
}

// runSnapshot is two workers' reports merged as the master does. GET /login: 100 requests at
// 10, 20, ..., 1000 µs (2 failed); POST /api/x: 10 requests at 2000 µs (5 failed). Below
// 2048 µs the histogram is exact, so percentiles are known: /login p95 = 950 µs, p50 = 500 µs,
// avg 505 µs; over all 110 requests p95 (rank 105) = 2 ms and p90 (rank 99) = 990 µs.
func runSnapshot() *aggregate.Snapshot {
	var odd, even []int
	for i := 1; i <= 100; i++ {
		if i%2 == 1 {
			odd = append(odd, 10*i)
		} else {
			even = append(even, 10*i)
		}
	}
	w1 := aggregate.NewSnapshot(time.Unix(100, 0))
	w1.Endpoints[login] = stats(1, odd...)
	w1.Endpoints[apiX] = stats(5, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000)
	w2 := aggregate.NewSnapshot(time.Unix(100, 0))
	w2.Endpoints[login] = stats(1, even...)
	merged := &aggregate.Snapshot{}
	merged.Merge(w1)
	merged.Merge(w2)
	return merged
}

func telemetry() SeriesMap {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	const gib, mib = 1 << 30, 1 << 20
	return SeriesMap{
		// out of order on purpose: last() goes by time
		"agent.api.cpu":          {{at(2), 90}, {at(0), 50}, {at(1), 70}},
		"agent.api.mem":          {{at(0), gib}, {at(60), gib + mib}, {at(120), gib + 2*mib}},
		"agent.api.sched_lag_ms": {{at(0), 2}, {at(1), 4}},
		"agent.api.gpu.util":     {{at(0), 40}},
		"agent.one.mem":          {{at(0), gib}},
		"worker.w1.cpu":          {{at(0), 60}},
		"worker.w2.cpu":          {{at(0), 91}, {at(1), 91}},
		"worker.w3.cpu":          {{at(0), 80}},
	}
}

func TestEval(t *testing.T) {
	in := Input{Snapshot: runSnapshot(), Elapsed: 11 * time.Second, Users: 50, Dropped: 3, Telemetry: telemetry()}
	base := &Input{Snapshot: &aggregate.Snapshot{Endpoints: map[aggregate.Endpoint]*aggregate.Stats{
		login: stats(0, 100, 950, 1000), // p95 = 1 ms, avg ≈ 683.3 µs
	}}, Elapsed: 10 * time.Second, Users: 40,
		Telemetry: SeriesMap{"agent.api.cpu": {{time.Unix(0, 0), 50}}}}
	tests := []struct {
		expr     string
		in       *Input // nil: the run above
		baseline *Input
		observed float64
		text     string
		limit    string
		host     string
		pass     bool
		abort    bool
		err      string
	}{
		// latency, from the merged histogram
		{expr: "p95<1ms", observed: 2e6, text: "2ms", limit: "1ms"},
		{expr: "p90<1ms", observed: 990e3, text: "990µs", limit: "1ms", pass: true},
		{expr: "p95{name=/login}<1ms", observed: 950e3, text: "950µs", limit: "1ms", pass: true},
		{expr: "p99.9{method=POST,name=/api/x}<=2ms", observed: 2e6, text: "2ms", limit: "2ms", pass: true},
		{expr: "p95{method=GET}==950us", observed: 950e3, text: "950µs", limit: "950µs", pass: true},
		{expr: "avg{name=/login}==505us", observed: 505e3, text: "505µs", limit: "505µs", pass: true},
		{expr: "med{name=/login}==500us", observed: 500e3, text: "500µs", limit: "500µs", pass: true},
		{expr: "min>=10us", observed: 10e3, text: "10µs", limit: "10µs", pass: true},
		{expr: "max{name=/login}<1ms", observed: 1e6, text: "1ms", limit: "1ms"},
		// counts and rates
		{expr: "error_rate<5%", observed: 7.0 / 110, text: "6.364%", limit: "5%"},
		{expr: "error_rate{name=/login}<=2%", observed: 0.02, text: "2%", limit: "2%", pass: true},
		{expr: "failures==7", observed: 7, text: "7", limit: "7", pass: true},
		{expr: "failures{name=/api/x}==0", observed: 5, text: "5", limit: "0"},
		{expr: "requests>=110", observed: 110, text: "110", limit: "110", pass: true},
		{expr: "rps>=10", observed: 10, text: "10/s", limit: "10/s", pass: true},
		{expr: "rps{name=/api/x}>1", observed: 10.0 / 11, text: "0.9091/s", limit: "1/s"},
		{expr: "users>=50", observed: 50, text: "50", limit: "50", pass: true},
		{expr: "dropped==0", observed: 3, text: "3", limit: "0"},
		// no data fails
		{expr: "p99{name=/nope}<1s", err: "no data for name=/nope"},
		{expr: "failures{method=PUT}==0", err: "no data for method=PUT"},
		{expr: "p95<1s", in: &Input{Elapsed: time.Second}, err: "no requests"},
		{expr: "error_rate<1%", in: &Input{Snapshot: aggregate.NewSnapshot(time.Time{})}, err: "no requests"},
		{expr: "requests==0", in: &Input{}, observed: 0, text: "0", limit: "0", pass: true},
		{expr: "rps>1", in: &Input{Snapshot: runSnapshot()}, err: "no time has elapsed"},
		// telemetry
		{expr: "agent.api.cpu<80%", observed: 0.7, text: "70%", limit: "80%", host: "api", pass: true},
		{expr: "max(agent.api.cpu)<90%", observed: 0.9, text: "90%", limit: "90%", host: "api"},
		{expr: "min(agent.api.cpu)<=50%", observed: 0.5, text: "50%", limit: "50%", host: "api", pass: true},
		{expr: "last(agent.api.cpu)==90%", observed: 0.9, text: "90%", limit: "90%", host: "api", pass: true},
		{expr: "agent.api.mem<1GiB", observed: 1<<30 + 1<<20, text: "1.001GiB", limit: "1GiB", host: "api"},
		{expr: "agent.api.mem_slope<1MiB/min", observed: float64(1<<20) / 60, text: "1MiB/min", limit: "1MiB/min", host: "api"},
		{expr: "agent.api.mem_slope<=1MiB/min", observed: float64(1<<20) / 60, text: "1MiB/min", limit: "1MiB/min", host: "api", pass: true},
		{expr: "agent.api.mem_slope<20KiB/s", observed: float64(1<<20) / 60, text: "17.07KiB/s", limit: "20KiB/s", host: "api", pass: true},
		{expr: "agent.api.cpu_slope>0", observed: 0.2, text: "1200%/min", limit: "0%/min", host: "api", pass: true},
		{expr: "agent.api.sched_lag_ms<5ms", observed: 3e6, text: "3ms", limit: "5ms", host: "api", pass: true},
		{expr: "agent.api.gpu.util>=40%", observed: 0.4, text: "40%", limit: "40%", host: "api", pass: true},
		{expr: "worker.*.cpu<85%", observed: 0.91, text: "91%", limit: "85%", host: "w2"},
		{expr: "worker.*.cpu>50%", observed: 0.6, text: "60%", limit: "50%", host: "w1", pass: true},
		{expr: "worker.*.cpu!=80%", observed: 0.8, text: "80%", limit: "80%", host: "w3"},
		{expr: "agent.*.mem<2GiB", observed: 1<<30 + 1<<20, text: "1.001GiB", limit: "2GiB", host: "api", pass: true},
		{expr: "agent.db.cpu<80%", host: "db", err: "no telemetry for agent.db.cpu"},
		{expr: "agent.one.mem_slope<=0", host: "one", err: "agent.one.mem: a slope needs readings at two different times (have 1)"},
		{expr: "agent.api.cpu<80%", in: &Input{}, host: "api", err: "no telemetry"},
		{expr: "agent.*.cpu<80%", in: &Input{Telemetry: SeriesMap{}}, err: "no agent reports telemetry"},
		// baselines
		{expr: "p95{name=/login}<=baseline*1.1", baseline: base, observed: 950e3, text: "950µs", limit: "1.1ms", pass: true},
		{expr: "p95<=baseline*1.1", baseline: base, observed: 2e6, text: "2ms", limit: "1.1ms"},
		{expr: "rps>=baseline*0.95", baseline: base, observed: 10, text: "10/s", limit: "0.285/s", pass: true},
		{expr: "users>=baseline", baseline: base, observed: 50, text: "50", limit: "40", pass: true},
		{expr: "agent.api.cpu<=baseline*1.2", baseline: base, observed: 0.7, text: "70%", limit: "60%", host: "api"},
		{expr: "p95<=baseline", err: "no baseline run to compare with", observed: 2e6, text: "2ms"},
		{expr: "p95{name=/api/x}<=baseline", baseline: base, observed: 2e6, text: "2ms", err: "baseline: no data for name=/api/x"},
		// abort after the grace
		{expr: "p95<1ms;abort", observed: 2e6, text: "2ms", limit: "1ms", abort: true},
		{expr: "p95<1ms;abort=11s", observed: 2e6, text: "2ms", limit: "1ms", abort: true},
		{expr: "p95<1ms;abort=12s", observed: 2e6, text: "2ms", limit: "1ms"},
		{expr: "p95<3ms;abort", observed: 2e6, text: "2ms", limit: "3ms", pass: true},
		{expr: "p95{name=/nope}<1ms;abort", err: "no data for name=/nope"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			th, err := Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			input := in
			if tt.in != nil {
				input = *tt.in
			}
			r := th.Eval(input, tt.baseline)
			if r.Err != tt.err {
				t.Fatalf("Err = %q, want %q", r.Err, tt.err)
			}
			if r.Pass != tt.pass || r.Abort != tt.abort || r.Host != tt.host {
				t.Errorf("Pass, Abort, Host = %v, %v, %q; want %v, %v, %q", r.Pass, r.Abort, r.Host, tt.pass, tt.abort, tt.host)
			}
			if tt.err != "" && r.Pass {
				t.Errorf("a threshold without data passed")
			}
			if math.Abs(r.Observed-tt.observed) > 1e-9*math.Max(1, math.Abs(tt.observed)) || r.ObservedText != tt.text {
				t.Errorf("Observed = %v (%q), want %v (%q)", r.Observed, r.ObservedText, tt.observed, tt.text)
			}
			if r.LimitText != tt.limit {
				t.Errorf("LimitText = %q, want %q", r.LimitText, tt.limit)
			}
			if r.Threshold.Source != tt.expr {
				t.Errorf("Result.Threshold is not the threshold evaluated")
			}
		})
	}
}

func TestEvalAll(t *testing.T) {
	ts, err := ParseAll([]string{"requests>=110", "users>=50"})
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Snapshot: runSnapshot(), Users: 50}
	rs := EvalAll(ts, in, nil)
	if len(rs) != 2 || !Passed(rs) {
		t.Fatalf("EvalAll = %+v, want two passes", rs)
	}
	in.Users = 49
	if rs := EvalAll(ts, in, nil); Passed(rs) || !rs[0].Pass || rs[1].Pass {
		t.Fatalf("EvalAll with 49 users = %+v, want the second to fail", rs)
	}
	if !Passed(nil) {
		t.Errorf("no thresholds should pass")
	}
}

func TestSlope(t *testing.T) {
	t0 := time.Unix(0, 0)
	tests := []struct {
		name string
		pts  []Point
		want float64
		ok   bool
	}{
		{"flat", []Point{{t0, 5}, {t0.Add(time.Second), 5}}, 0, true},
		{"line", []Point{{t0, 1}, {t0.Add(2 * time.Second), 5}, {t0.Add(4 * time.Second), 9}}, 2, true},
		{"noisy line, least squares", []Point{{t0, 0}, {t0.Add(time.Second), 2}, {t0.Add(2 * time.Second), 1}}, 0.5, true},
		{"falling", []Point{{t0.Add(time.Minute), 0}, {t0, 60}}, -1, true},
		{"one time", []Point{{t0, 1}, {t0, 2}}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s SeriesStats
			for _, p := range tt.pts {
				s.Add(p.At, p.V)
			}
			got, ok := s.Slope()
			if ok != tt.ok || math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("slope = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		k    kind
		v    float64
		want string
	}{
		{kindDuration, 523.1e6, "523.1ms"},
		{kindDuration, 523.14e6, "523.1ms"},
		{kindDuration, 999, "999ns"},
		{kindDuration, 1500, "1.5µs"},
		{kindDuration, 12.5e9, "12.5s"},
		{kindDuration, 900e9, "15m"},
		{kindFraction, 0.0042, "0.42%"},
		{kindFraction, 1, "100%"},
		{kindBytes, 512, "512B"},
		{kindBytes, 1.5 * (1 << 30), "1.5GiB"},
		{kindBytes, 16 << 40, "16TiB"},
		{kindRate, 212.34, "212.3/s"},
		{kindCount, 1000, "1000"},
		{kindCount, 12345678, "12345678"},
		{kindCount, 2.5, "2.5"},
		{kindFraction, 1e-9, "0.0000001%"},
		{kindFraction, 1e-15, "1e-13%"},
	}
	for _, tt := range tests {
		if got := formatValue(tt.k, tt.v); got != tt.want {
			t.Errorf("formatValue(%v, %v) = %q, want %q", tt.k, tt.v, got, tt.want)
		}
	}
}

// Readings, fed one reading at a time as a live run does, answer exactly as the
// whole series does.
func TestReadingsMatchTheWholeSeries(t *testing.T) {
	m := telemetry()
	r := Readings{}
	for name, pts := range m {
		for _, p := range pts {
			r.Add(name, p.At, p.V)
		}
	}
	for _, role := range []string{"agent", "worker"} {
		if got, want := r.Hosts(role), m.Hosts(role); !slices.Equal(got, want) {
			t.Errorf("Hosts(%s) = %v; want %v", role, got, want)
		}
	}
	for name := range m {
		role, rest, _ := strings.Cut(name, ".")
		host, series, _ := strings.Cut(rest, ".")
		got, want := r.Stats(role, host, series), m.Stats(role, host, series)
		if *got != *want {
			t.Errorf("%s: %+v; want %+v", name, *got, *want)
		}
	}
	if r.Stats("agent", "api", "nope") != nil || m.Stats("agent", "api", "nope") != nil {
		t.Error("a series without readings has statistics")
	}
}

// A day of readings, one a second, of memory growing 1 KiB a second from 1 GiB:
// the slope stays exact, and a slope threshold over it is judged right.
func TestSlopeOverADay(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	r := Readings{}
	for s := range 86_400 {
		r.Add("agent.api.mem", t0.Add(time.Duration(s)*time.Second), float64(1<<30+1024*s))
	}
	got, ok := r.Stats("agent", "api", "mem").Slope()
	if !ok || math.Abs(got-1024) > 1e-6 {
		t.Fatalf("slope = %v, %v; want 1024 B/s", got, ok)
	}
	for expr, pass := range map[string]bool{"agent.api.mem_slope<100KiB/min": true, "agent.api.mem_slope<50KiB/min": false} {
		th, err := Parse(expr)
		if err != nil {
			t.Fatal(err)
		}
		if v := th.Eval(Input{Telemetry: r}, nil); v.Pass != pass || v.Err != "" {
			t.Errorf("%s: pass %v (%s, %s); want %v", expr, v.Pass, v.ObservedText, v.Err, pass)
		}
	}
}
