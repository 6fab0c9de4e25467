package threshold

import (
	"strings"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// modelSnapshot: 10 chat requests (all at 2000 µs) with their TTFT rows (100..1000 µs)
// and ITL rows (40 samples of 50 µs), 400 output and 120 prompt tokens, goodput 7 of
// 10 judged.
func modelSnapshot() *aggregate.Snapshot {
	s := aggregate.NewSnapshot(time.Unix(100, 0))
	s.Endpoints[aggregate.Endpoint{Method: "POST", Name: "chat"}] = stats(0, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000)
	s.Endpoints[aggregate.Endpoint{Method: "TTFT", Name: "chat"}] = stats(0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000)
	itl := make([]int, 40)
	for i := range itl {
		itl[i] = 50
	}
	s.Endpoints[aggregate.Endpoint{Method: "ITL", Name: "chat"}] = stats(0, itl...)
	for name, n := range map[string]uint64{"tokens_out": 400, "tokens_out:chat": 400, "tokens_in": 120, "tokens_in:chat": 120,
		"goodput": 7, "slo_requests": 10} {
		s.AddCount(name, n)
	}
	return s
}

func TestModelMetrics(t *testing.T) {
	in := Input{Snapshot: modelSnapshot(), Elapsed: 10 * time.Second}
	tests := []struct {
		expr     string
		observed float64
		pass     bool
	}{
		// Without a method a latency is the requests' own: TTFT and ITL rows are
		// parts of a request, left out as the Aggregated row leaves them out.
		{"p50<3ms", float64(2000 * time.Microsecond), true},
		{"requests==10", 10, true},
		{"ttft.p90<1ms", float64(900 * time.Microsecond), true},
		{"ttft.p90{name=chat}<800us", float64(900 * time.Microsecond), false},
		{"p90{method=TTFT,name=chat}<800us", float64(900 * time.Microsecond), false},
		{"itl.avg<60us", float64(50 * time.Microsecond), true},
		{"itl.max<=50us", float64(50 * time.Microsecond), true},
		{"tokens_out==400", 400, true},
		{"tokens_in{name=chat}>=100", 120, true},
		{"tokens_out{name=other}==0", 0, true},
		{"output_tokens_per_s>50", 40, false},
		{"output_tokens_per_s{name=chat}>=40", 40, true},
		{"goodput>=0.7", 0.7, true},
		{"goodput_ratio>=80%", 0.7, false},
	}
	for _, tt := range tests {
		th, err := Parse(tt.expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.expr, err)
		}
		r := th.Eval(in, nil)
		if r.Err != "" || r.Observed != tt.observed || r.Pass != tt.pass {
			t.Errorf("%s: observed %v (%s), pass %v, err %q; want %v, pass %v", tt.expr, r.Observed, r.ObservedText, r.Pass, r.Err, tt.observed, tt.pass)
		}
		back, err := Parse(th.String())
		if err != nil || back.String() != th.String() || back.Filter != th.Filter || back.Metric != th.Metric {
			t.Errorf("%s: canonical %q reads back as %+v, %v", tt.expr, th.String(), back, err)
		}
	}
	// No model requests: goodput has no data; counts are data even when 0.
	plain := Input{Snapshot: runSnapshot(), Elapsed: time.Second}
	for expr, err := range map[string]string{"goodput_ratio>90%": "no request had an slo=", "tokens_out==0": ""} {
		th, _ := Parse(expr)
		if r := th.Eval(plain, nil); r.Err != err {
			t.Errorf("%s on a run without model requests: err %q, want %q", expr, r.Err, err)
		}
	}
}

func TestModelMetricErrors(t *testing.T) {
	for expr, want := range map[string]string{
		"ttft<1s":                   "say which figure, such as ttft.p95",
		"ttft.rps>1":                "want ttft.pNN, ttft.avg",
		"ttft.p95{method=POST}<1s":  "already selects the TTFT rows",
		"tokens_out{method=POST}>1": "filter it with {name=...} only",
		"goodput{name=chat}>1":      "takes no {filter}",
		"goodput_ratio>0.9":         "percentage",
		"output_tokens_per_s>10ms":  "",
	} {
		_, err := Parse(expr)
		if err == nil || want != "" && !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", expr, err, want)
		}
	}
}

// TestScrapedSeries: a series an agent scraped from the system under test (any name
// that is not a built-in series or a typo of one) is a plain number.
func TestScrapedSeries(t *testing.T) {
	r := Readings{}
	t0 := time.Unix(1000, 0)
	for i, v := range []float64{10, 40, 70} {
		r.Add("agent.gpu1.vllm:num_requests_waiting", t0.Add(time.Duration(i)*time.Second), v)
		r.Add("agent.gpu1.vllm:e2e_request_latency_seconds.p99", t0.Add(time.Duration(i)*time.Second), 1.5)
	}
	in := Input{Telemetry: r, Elapsed: 3 * time.Second}
	for expr, want := range map[string]struct {
		obs  float64
		pass bool
	}{
		"agent.gpu1.vllm:num_requests_waiting<50":           {40, true},
		"max(agent.gpu1.vllm:num_requests_waiting)<50":      {70, false},
		"agent.*.vllm:e2e_request_latency_seconds.p99<=1.5": {1.5, true},
		"agent.gpu1.vllm:num_requests_waiting_slope<10/s":   {30, false},
	} {
		th, err := Parse(expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", expr, err)
		}
		res := th.Eval(in, nil)
		if res.Err != "" || res.Observed != want.obs || res.Pass != want.pass {
			t.Errorf("%s: observed %v, pass %v, err %q; want %v, %v", expr, res.Observed, res.Pass, res.Err, want.obs, want.pass)
		}
	}
	th, _ := Parse("agent.gpu1.tgi_queue_size<5")
	if res := th.Eval(in, nil); res.Err != "no telemetry for agent.gpu1.tgi_queue_size" {
		t.Errorf("a series never scraped: err %q", res.Err)
	}
}
