package telemetry

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestScraper reads a real client_golang exposition: gauges summed over label sets,
// counters as rates, histograms as the quantiles of the observations between two
// scrapes, summaries as their quantiles; names outside the match left out.
func TestScraper(t *testing.T) {
	reg := prometheus.NewRegistry()
	waiting := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vllm:num_requests_waiting"}, []string{"model_name"})
	tokens := prometheus.NewCounter(prometheus.CounterOpts{Name: "vllm:generation_tokens_total"})
	e2e := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vllm:e2e_request_latency_seconds", Buckets: []float64{0.1, 0.2, 0.4, 0.8}})
	sum := prometheus.NewSummary(prometheus.SummaryOpts{Name: "vllm:ttft_seconds", Objectives: map[float64]float64{0.5: 0.001, 0.99: 0.001}})
	other := prometheus.NewGauge(prometheus.GaugeOpts{Name: "go_goroutines_x"})
	reg.MustRegister(waiting, tokens, e2e, sum, other)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	s, err := NewScraper(ScrapeConfig{URLs: []string{srv.URL}, Match: []string{"vllm:.*"}})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	waiting.WithLabelValues("a").Set(3)
	waiting.WithLabelValues("b").Set(4)
	tokens.Add(100)
	e2e.Observe(0.05)
	got, errs := s.Scrape(context.Background(), t0)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got["vllm:num_requests_waiting"] != 7 {
		t.Errorf("gauge: %v, want 7 (3 + 4 over the label sets)", got["vllm:num_requests_waiting"])
	}
	if _, ok := got["vllm:generation_tokens_total"]; ok {
		t.Error("a counter has a rate on its first scrape")
	}
	if _, ok := got["go_goroutines_x"]; ok {
		t.Error("a series outside the match was kept")
	}
	// Two seconds later: 500 more tokens; 100 observations spread over the buckets.
	tokens.Add(500)
	for i := range 100 {
		e2e.Observe(0.1 + 0.3*float64(i)/100) // 0.100 .. 0.397: buckets 0.1 (1), 0.2 (33), 0.4 (66)
		sum.Observe(float64(i) / 100)
	}
	got, errs = s.Scrape(context.Background(), t0.Add(2*time.Second))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got["vllm:generation_tokens_total"] != 250 {
		t.Errorf("counter rate %v/s, want 250 (500 tokens in 2 s)", got["vllm:generation_tokens_total"])
	}
	// p50: rank 50 of 100, in the (0.2, 0.4] bucket holding ranks 35..100: 0.2 + 0.2*(50-34)/66.
	if p50, want := got["vllm:e2e_request_latency_seconds.p50"], 0.2+0.2*16.0/66; math.Abs(p50-want) > 1e-9 {
		t.Errorf("histogram p50 %v, want %v", p50, want)
	}
	if avg := got["vllm:e2e_request_latency_seconds.avg"]; math.Abs(avg-0.2485) > 1e-9 {
		t.Errorf("histogram avg %v, want 0.2485 (the mean of this interval's observations only)", avg)
	}
	if p99 := got["vllm:ttft_seconds.p99"]; p99 < 0.97 || p99 > 0.99 {
		t.Errorf("summary p99 %v, want about 0.98", p99)
	}
	// A counter that went back (the server restarted) has no rate this time.
	reg.Unregister(tokens)
	tokens = prometheus.NewCounter(prometheus.CounterOpts{Name: "vllm:generation_tokens_total"})
	reg.MustRegister(tokens)
	tokens.Add(10)
	got, _ = s.Scrape(context.Background(), t0.Add(3*time.Second))
	if v, ok := got["vllm:generation_tokens_total"]; ok {
		t.Errorf("a reset counter's rate is %v, want none", v)
	}
}

func TestScraperErrors(t *testing.T) {
	if _, err := NewScraper(ScrapeConfig{URLs: []string{"localhost:8000/metrics"}}); err == nil {
		t.Error("a URL without a scheme was accepted")
	}
	if _, err := NewScraper(ScrapeConfig{URLs: []string{"http://x/metrics"}, Match: []string{"vllm:("}}); err == nil {
		t.Error("a bad match was accepted")
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("this is { not an exposition\n"))
	}))
	defer bad.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("# TYPE queue gauge\nqueue 5\n"))
	}))
	defer good.Close()
	s, _ := NewScraper(ScrapeConfig{URLs: []string{bad.URL, down.URL, good.URL}})
	got, errs := s.Scrape(context.Background(), time.Now())
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), bad.URL) {
		t.Errorf("errors %v, want one for the bad exposition and one for the server that is down", errs)
	}
	if got["queue"] != 5 {
		t.Errorf("the endpoint that answered gave %v, want queue 5", got)
	}
}
