package threshold

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	const ms = 1e6
	tests := []struct {
		in        string
		want      Threshold // without Source
		canonical string    // String(); "" when it is in
	}{
		{"p95<100ms", Threshold{Metric: "p95", Percentile: 95, Op: Less, Value: 100 * ms, Number: 100, Unit: "ms"}, ""},
		{"p99{name=/login}<300ms", Threshold{Metric: "p99", Percentile: 99, Filter: Filter{Name: "/login"}, Op: Less, Value: 300 * ms, Number: 300, Unit: "ms"}, ""},
		{"p99.9{method=POST,name=/api/x}<1s", Threshold{Metric: "p99.9", Percentile: 99.9, Filter: Filter{Name: "/api/x", Method: "POST"},
			Op: Less, Value: 1e9, Number: 1, Unit: "s"}, "p99.9{name=/api/x,method=POST}<1s"},
		{"avg<50ms", Threshold{Metric: "avg", Op: Less, Value: 50 * ms, Number: 50, Unit: "ms"}, ""},
		{"max<2s", Threshold{Metric: "max", Op: Less, Value: 2e9, Number: 2, Unit: "s"}, ""},
		{"med<20ms", Threshold{Metric: "med", Op: Less, Value: 20 * ms, Number: 20, Unit: "ms"}, ""},
		{"min>=1.5µs", Threshold{Metric: "min", Op: GreaterEqual, Value: 1500, Number: 1.5, Unit: "µs"}, ""},
		{"p50<250us", Threshold{Metric: "p50", Percentile: 50, Op: Less, Value: 250e3, Number: 250, Unit: "us"}, ""},
		{"p100<=2m", Threshold{Metric: "p100", Percentile: 100, Op: LessEqual, Value: 120e9, Number: 2, Unit: "m"}, ""},
		{"p95.0<100ns", Threshold{Metric: "p95", Percentile: 95, Op: Less, Value: 100, Number: 100, Unit: "ns"}, "p95<100ns"},
		{"error_rate<1%", Threshold{Metric: "error_rate", Op: Less, Value: 0.01, Number: 1, Unit: "%"}, ""},
		{"error_rate==0", Threshold{Metric: "error_rate", Op: Equal, Value: 0, Number: 0}, ""},
		{"error_rate{name=/pay}<0.1%", Threshold{Metric: "error_rate", Filter: Filter{Name: "/pay"}, Op: Less, Value: 0.001, Number: 0.1, Unit: "%"}, ""},
		{"failures==0", Threshold{Metric: "failures", Op: Equal, Number: 0}, ""},
		{"requests>=1000", Threshold{Metric: "requests", Op: GreaterEqual, Value: 1000, Number: 1000}, ""},
		{"rps>200", Threshold{Metric: "rps", Op: Greater, Value: 200, Number: 200}, ""},
		{"rps>200/s", Threshold{Metric: "rps", Op: Greater, Value: 200, Number: 200, Unit: "/s"}, ""},
		{"rps{name=/login}>10", Threshold{Metric: "rps", Filter: Filter{Name: "/login"}, Op: Greater, Value: 10, Number: 10}, ""},
		{"users>=50", Threshold{Metric: "users", Op: GreaterEqual, Value: 50, Number: 50}, ""},
		{"dropped==0", Threshold{Metric: "dropped", Op: Equal, Number: 0}, ""},
		{"requests!=7", Threshold{Metric: "requests", Op: NotEqual, Value: 7, Number: 7}, ""},
		{"agent.api.cpu<80%", Threshold{Metric: "agent.api.cpu", Role: "agent", Host: "api", Series: "cpu", Func: "avg",
			Op: Less, Value: 0.8, Number: 80, Unit: "%"}, ""},
		{"avg(agent.api.cpu)<80%", Threshold{Metric: "agent.api.cpu", Role: "agent", Host: "api", Series: "cpu", Func: "avg",
			Op: Less, Value: 0.8, Number: 80, Unit: "%"}, "agent.api.cpu<80%"},
		{"max(agent.api.cpu)<90%", Threshold{Metric: "agent.api.cpu", Role: "agent", Host: "api", Series: "cpu", Func: "max",
			Op: Less, Value: 0.9, Number: 90, Unit: "%"}, ""},
		{"last( worker.w-1.gpu.util )>=10%", Threshold{Metric: "worker.w-1.gpu.util", Role: "worker", Host: "w-1", Series: "gpu.util", Func: "last",
			Op: GreaterEqual, Value: 0.1, Number: 10, Unit: "%"}, "last(worker.w-1.gpu.util)>=10%"},
		{"agent.api.mem<16GiB", Threshold{Metric: "agent.api.mem", Role: "agent", Host: "api", Series: "mem", Func: "avg",
			Op: Less, Value: 16 << 30, Number: 16, Unit: "GiB"}, ""},
		{"agent.db.mem_total>=2GB", Threshold{Metric: "agent.db.mem_total", Role: "agent", Host: "db", Series: "mem_total", Func: "avg",
			Op: GreaterEqual, Value: 2e9, Number: 2, Unit: "GB"}, ""},
		{"agent.api.mem_slope<1MiB/min", Threshold{Metric: "agent.api.mem_slope", Role: "agent", Host: "api", Series: "mem_slope",
			Op: Less, Value: float64(1<<20) / 60, Number: 1, Unit: "MiB/min"}, ""},
		{"agent.api.cpu_slope<-0.5%/s", Threshold{Metric: "agent.api.cpu_slope", Role: "agent", Host: "api", Series: "cpu_slope",
			Op: Less, Value: -0.005, Number: -0.5, Unit: "%/s"}, ""},
		{"agent.api.mem_slope<=0", Threshold{Metric: "agent.api.mem_slope", Role: "agent", Host: "api", Series: "mem_slope",
			Op: LessEqual, Number: 0}, ""},
		{"agent.api.sched_lag_ms<5ms", Threshold{Metric: "agent.api.sched_lag_ms", Role: "agent", Host: "api", Series: "sched_lag_ms", Func: "avg",
			Op: Less, Value: 5 * ms, Number: 5, Unit: "ms"}, ""},
		{"worker.*.cpu<85%", Threshold{Metric: "worker.*.cpu", Role: "worker", Host: "*", Series: "cpu", Func: "avg",
			Op: Less, Value: 0.85, Number: 85, Unit: "%"}, ""},
		{"p95<=baseline*1.10", Threshold{Metric: "p95", Percentile: 95, Op: LessEqual, Value: 1.1, Number: 1.1, Baseline: true}, "p95<=baseline*1.1"},
		{"rps>=baseline*0.95", Threshold{Metric: "rps", Op: GreaterEqual, Value: 0.95, Number: 0.95, Baseline: true}, ""},
		{"agent.api.mem<=baseline", Threshold{Metric: "agent.api.mem", Role: "agent", Host: "api", Series: "mem", Func: "avg",
			Op: LessEqual, Value: 1, Number: 1, Baseline: true}, ""},
		{"p95<100ms;abort", Threshold{Metric: "p95", Percentile: 95, Op: Less, Value: 100 * ms, Number: 100, Unit: "ms", Abort: true}, ""},
		{"p95<100ms;abort=30s", Threshold{Metric: "p95", Percentile: 95, Op: Less, Value: 100 * ms, Number: 100, Unit: "ms",
			Abort: true, AbortGrace: 30 * time.Second}, ""},
		{" p95 { name = /a b } < 100 ms ; abort = 1m ", Threshold{Metric: "p95", Percentile: 95, Filter: Filter{Name: "/a b"}, Op: Less,
			Value: 100 * ms, Number: 100, Unit: "ms", Abort: true, AbortGrace: time.Minute}, "p95{name=/a b}<100ms;abort=1m0s"},
		{`p95{name="/q?a=1,2}"}<1s`, Threshold{Metric: "p95", Percentile: 95, Filter: Filter{Name: "/q?a=1,2}"}, Op: Less,
			Value: 1e9, Number: 1, Unit: "s"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got.Source != tt.in {
				t.Errorf("Source = %q, want %q", got.Source, tt.in)
			}
			want := tt.want
			want.Source = tt.in
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tt.in, got, want)
			}
			canonical := tt.canonical
			if canonical == "" {
				canonical = tt.in
			}
			if s := got.String(); s != canonical {
				t.Errorf("String() = %q, want %q", s, canonical)
			}
			again, err := Parse(got.String())
			if err != nil {
				t.Fatalf("Parse(String() = %q): %v", got.String(), err)
			}
			again.Source = got.Source
			if !reflect.DeepEqual(again, got) {
				t.Errorf("String() does not round-trip:\n got %+v\nwant %+v", again, got)
			}
		})
	}
}

// TestParseErrors is the catalogue of bad input and the exact message each gets.
func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		// unit missing or of the wrong kind
		{"p95<100", `column 8: p95 is a latency and needs a unit such as ms`},
		{"p95<100MiB", `column 8: unit mismatch: p95 is a latency, "MiB" is a memory size (want ns, us, µs, ms, s, m, h)`},
		{"agent.api.mem<5%", `column 16: unit mismatch: agent.api.mem is a memory size, "%" is a percentage (want B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)`},
		{"agent.api.mem<512", `column 18: agent.api.mem is a memory size and needs a unit such as MiB`},
		{"error_rate<0.01", `column 16: error_rate is a percentage and needs %: for the fraction 0.01 write 1%`},
		{"agent.api.cpu<80", `column 17: agent.api.cpu is a percentage and needs a unit such as %`},
		{"error_rate<1ms", `column 13: unit mismatch: error_rate is a percentage, "ms" is a latency (want %)`},
		{"requests>10ms", `column 12: requests is a count and takes no unit, not "ms"`},
		{"rps>5/min", `column 6: rps is a rate per second: write a plain number or /s, not "/min"`},
		{"p95<1xs", `column 6: unknown unit "xs" (p95 takes ns, us, µs, ms, s, m, h)`},
		{"agent.api.mem_slope<1MiB", `column 22: agent.api.mem_slope is a slope and needs a unit per time, such as 1MiB/min (want /s or /min)`},
		{"agent.api.mem_slope<1MiB/h", `column 22: agent.api.mem_slope is a slope and needs a unit per time, such as 1MiB/min (want /s or /min)`},
		{"agent.api.mem_slope<1ms/min", `column 22: unit mismatch: agent.api.mem_slope is a memory size, "ms" is a latency (want B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)`},
		// unknown metric
		{"foo<1", `column 1: unknown metric "foo" (want pNN, avg, med, min, max, error_rate, failures, requests, rps, users, dropped, ttft.pNN, itl.pNN, tokens_in, tokens_out, output_tokens_per_s, goodput, goodput_ratio, or agent|worker.<host>.<series>)`},
		{"cpu<1%", `column 1: unknown metric "cpu": telemetry is written <role>.<host>.<series>, such as agent.*.cpu`},
		{"host.api.cpu<1%", `column 1: unknown telemetry role "host" in host.api.cpu (want agent.<host>.<series> or worker.<host>.<series>)`},
		{"agent.api<1%", `column 1: telemetry "agent.api": want agent.<host>.<series>, with * for every host, such as agent.*.cpu`},
		{"agent.api.cpuu<1%", `column 1: unknown telemetry series "cpuu": did you mean cpu? (built-in: cpu, gpu.util, mem, mem_total, process_cpu, sched_lag_ms, or one of them with _slope; any other name is a series the agent scraped)`},
		{"agent.a*.cpu<1%", `column 1: telemetry host "a*": write one host id or * for every host`},
		{"p0<1s", `column 1: percentile p0: want a number above 0 and at most 100`},
		{"p100.1<1s", `column 1: percentile p100.1: want a number above 0 and at most 100`},
		{"p9x<1s", `column 1: percentile "p9x": want p followed by a number, such as p95 or p99.9`},
		{"sum(agent.api.cpu)<1%", `column 1: unknown function "sum" (want avg, min, max or last)`},
		{"max(p95)<1s", `column 5: max(...) applies to telemetry series such as agent.api.cpu, not p95`},
		{"max(agent.api.mem_slope)<1MiB/min", `column 1: agent.api.mem_slope is already one value over the run; it takes no max(...)`},
		{"max(agent.api.cpu<1%", `column 18: missing ) after max(agent.api.cpu`},
		// malformed number
		{"p95<1.2.3ms", `column 5: malformed number "1.2.3"`},
		{"p95<.ms", `column 5: malformed number "."`},
		{"p95<fast", `column 5: malformed number "fast" (want a number such as 100ms, or baseline*1.1)`},
		{"p95<-1ms", `column 5: negative value -1: only slopes can be negative`},
		{"p95<=baseline*x", `column 15: malformed factor "x" after baseline* (want a number such as 1.10)`},
		{"p95<=baseline*-1", `column 15: malformed factor "-1" after baseline* (want a number such as 1.10)`},
		{"worker.*.cpu<=baseline", `column 15: baseline compares one series: name a host instead of *`},
		// filters
		{"p99{path=/x}<1s", `column 5: unknown filter key "path" (want name or method)`},
		{"p99{name=/x,name=/y}<1s", `column 13: filter key "name" given twice`},
		{"p99{name}<1s", `column 9: missing = after filter key "name"`},
		{"p99{name=}<1s", `column 10: empty value for filter key "name"`},
		{"p99{=/x}<1s", `column 5: missing filter key before "=/x}<1s" (want name= or method=)`},
		{"p99{name=/x<1s", `column 4: unclosed {: missing }`},
		{`p99{name="/x}<1s`, `column 10: malformed quoted value "/x}<1s`},
		{`p99{name="/x" y}<1s`, `column 15: unexpected "y}<1s" in filter (want , or })`},
		{"users{name=/x}>1", `column 6: users takes no {filter}; filters apply to request metrics such as p95 and error_rate`},
		{"agent.api.cpu{name=/x}<1%", `column 14: agent.api.cpu takes no {filter}; filters apply to request metrics such as p95 and error_rate`},
		// operator, value and the rest
		{"", `column 1: empty threshold; write one such as p95<100ms`},
		{"  ", `column 3: empty threshold; write one such as p95<100ms`},
		{"<1s", `column 1: missing metric before "<1s"`},
		{"p95", `column 4: missing operator and value after p95 (want <, <=, >, >=, == or !=)`},
		{"p95 100ms", `column 5: missing operator before "100ms" (want <, <=, >, >=, == or !=)`},
		{"p95=100ms", `column 4: single = : compare with == (or <, <=, >, >=, !=)`},
		{"p95=<100ms", `column 4: single = : compare with == (or <, <=, >, >=, !=)`},
		{"p95<", `column 5: missing value after p95<`},
		{"p95<100ms junk", `column 11: unexpected "junk" after the value`},
		{"p95<100ms;abrt", `column 11: unknown option "abrt" (want abort or abort=30s)`},
		{"p95<100ms;", `column 11: unknown option "" (want abort or abort=30s)`},
		{"p95<100ms;abort;abort", `column 17: option abort given twice`},
		{"p95<100ms;abort=x", `column 17: abort grace "x": want a duration such as 30s`},
		{"p95<100ms;abort=-5s", `column 17: abort grace "-5s": want a duration such as 30s`},
		{"p95<100ms;abort=30s junk", `column 21: unexpected "junk" after the value`},
		{"p95<" + strings.Repeat("1", MaxLength) + "ms", `column 1001: longer than 1000 bytes`},
		{"p95{name=/x\ny}<1s", `column 12: control character '\n'`},
		{"p95{name=\xff}<1s", `column 10: not valid UTF-8`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want an error", tt.in, got)
			}
			want := `threshold "` + tt.in + `", ` + tt.want
			if strings.ContainsAny(tt.in, "\"\n") || !utf8.ValidString(tt.in) || len(tt.in) > MaxLength {
				want = tt.want // quoted differently or too long to repeat: compare the tail
				if !strings.HasSuffix(err.Error(), want) {
					t.Errorf("Parse(%q) error\n got: %s\nwant: …%s", tt.in, err, want)
				}
			} else if err.Error() != want {
				t.Errorf("Parse(%q) error\n got: %s\nwant: %s", tt.in, err, want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Expr != tt.in {
				t.Errorf("error %v is not a *ParseError for the expression", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line", err)
			}
		})
	}
}

func TestParseAll(t *testing.T) {
	ts, err := ParseAll([]string{"p95<100ms", "error_rate<1%"})
	if err != nil || len(ts) != 2 || ts[1].Metric != "error_rate" {
		t.Fatalf("ParseAll = %v, %v", ts, err)
	}
	ts, err = ParseAll([]string{"p95<100", "error_rate<1%", "foo<1"})
	if err == nil || ts != nil {
		t.Fatalf("ParseAll with bad input = %v, %v; want no thresholds and an error", ts, err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"p95<100"`) || !strings.Contains(lines[1], `"foo<1"`) {
		t.Errorf("ParseAll error should list both problems, one a line:\n%v", err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error does not match ErrInvalid")
	}
}
