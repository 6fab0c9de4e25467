package grafana

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/aggregate/threshold"
	"github.com/stampede-load/stampede/pkg/export"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/store"
	"github.com/stampede-load/stampede/web"
)

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	Title      string
	Templating struct {
		List []struct {
			Name, Type string
			Query      json.RawMessage
		}
	}
	Panels []struct {
		Title   string
		Targets []struct{ Expr string }
	}
}

// grafanaVars stand in for Grafana's variables so the query parses as Prometheus sees it.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "$__interval", "15s", "$__range", "1h",
	"$run_id", "r1", "${run_id}", "r1", "$testid", "t1", "$job", "stampede", "$datasource", "p")

// labelValues is Grafana's label_values(selector, label) variable query.
var labelValues = regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_]+\)$`)

func TestDashboards(t *testing.T) {
	exported := map[string]map[string]bool{
		"stampede-remote-write.json": remoteWritten(t),
		"stampede-scrape.json":       scraped(t),
	}
	for file, names := range exported {
		t.Run(file, func(t *testing.T) {
			var d dashboard
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &d); err != nil {
				t.Fatal(err)
			}
			var exprs []string
			for _, p := range d.Panels {
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
				for _, tg := range p.Targets {
					exprs = append(exprs, tg.Expr)
				}
			}
			for _, v := range d.Templating.List {
				if v.Type != "query" {
					continue
				}
				var q struct{ Query string }
				if err := json.Unmarshal(v.Query, &q); err != nil {
					t.Fatalf("variable %s: %v", v.Name, err)
				}
				m := labelValues.FindStringSubmatch(q.Query)
				if m == nil {
					t.Fatalf("variable %s: %q is not label_values(selector, label)", v.Name, q.Query)
				}
				exprs = append(exprs, m[1])
			}
			used := 0
			for _, e := range exprs {
				expr, err := parser.NewParser(parser.Options{}).ParseExpr(grafanaVars.Replace(e))
				if err != nil {
					t.Errorf("%q does not parse: %v", e, err)
					continue
				}
				parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
					vs, ok := n.(*parser.VectorSelector)
					if !ok {
						return nil
					}
					used++
					if !names[vs.Name] {
						t.Errorf("%q reads %s, which Stampede does not export here", e, vs.Name)
					}
					return nil
				})
			}
			if used == 0 {
				t.Error("no query names a metric")
			}
		})
	}
}

// remoteWritten is every metric name in a push pkg/export makes for an interval
// with requests, errors, dropped iterations, a threshold and a host with a GPU.
func remoteWritten(t *testing.T) map[string]bool {
	var mu sync.Mutex
	names := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		raw, err := snappy.Decode(nil, body)
		var req prompb.WriteRequest
		if err == nil {
			err = req.Unmarshal(raw)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, ts := range req.Timeseries {
			for _, l := range ts.Labels {
				if l.Name == model.MetricNameLabel {
					names[l.Value] = true
				}
			}
		}
	}))
	defer srv.Close()
	e, err := export.New(export.Config{URLs: []string{srv.URL}, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	start := time.Now()
	snap := aggregate.NewSnapshot(start)
	st := aggregate.NewStats()
	st.Latency.Record(3 * time.Millisecond)
	st.Requests, st.Failures, st.TotalTime = 1, 1, 3*time.Millisecond
	ep := aggregate.Endpoint{Method: "GET", Name: "/x"}
	snap.Endpoints[ep] = st
	snap.Errors[aggregate.ErrorKey{Endpoint: ep, Message: "HTTP 500"}] = 1
	snap.Counters = map[string]uint64{aggregate.DroppedCounter: 1}
	th, err := threshold.Parse("p95<300ms")
	if err != nil {
		t.Fatal(err)
	}
	e.Interval(export.Interval{RunID: "r1", Started: start, At: start.Add(time.Second), Snapshot: snap, Users: 1, Workers: 1,
		Hosts: []export.Host{{ID: "w1", Role: "worker", Point: report.HostPoint{CPUPercent: 5, GPUUtil: []float64{1},
			GPUMemUsed: []uint64{1}, GPUPowerW: []float64{1}, GPUTempC: []float64{1}}}},
		Thresholds: []threshold.Result{{Threshold: th, Pass: true}}, Final: true})
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := export.Metrics(); !slices.Equal(slices.Sorted(maps.Keys(names)), slices.Sorted(slices.Values(want))) {
		t.Errorf("a push carries %v; export.Metrics lists %v", slices.Sorted(maps.Keys(names)), want)
	}
	return names
}

// scraped is every metric name web's /metrics serves while a run with an endpoint
// and a worker with a GPU is live (a histogram's _bucket, _count and _sum included).
func scraped(t *testing.T) map[string]bool {
	db, err := store.Open(filepath.Join(t.TempDir(), "runs.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctl := &liveOnly{live: &report.Live{State: report.StateRunning, RunID: "r1", Users: 3, UpdatedAt: time.Now(),
		Endpoints: []report.Row{{Method: "GET", Name: "/x", Requests: 10, Buckets: make([]uint64, len(report.LatencyBounds))}},
		Workers:   []report.WorkerRow{{ID: "w1", Role: "worker", GPUs: 1, GPUUtil: 50}}}}
	srv, err := web.NewServer(web.Config{Control: ctl, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for name, f := range fams {
		names[name] = true
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			names[name+"_bucket"], names[name+"_count"], names[name+"_sum"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name+"_count"], names[name+"_sum"] = true, true
		}
	}
	if !names["stampede_latency_seconds_bucket"] || !names["stampede_gpu_utilization_percent"] {
		t.Fatalf("the scrape lacks the run's series: %v", slices.Sorted(maps.Keys(names)))
	}
	return names
}

// liveOnly is a web.Control that shows one live view and starts nothing.
type liveOnly struct{ live *report.Live }

func (c *liveOnly) Live() *report.Live                               { return c.live }
func (c *liveOnly) Subscribe() (<-chan struct{}, func())             { return make(chan struct{}), func() {} }
func (c *liveOnly) StartRun(context.Context, web.StartRequest) error { return web.ErrBadRequest }
func (c *liveOnly) Stop(context.Context, string) error               { return nil }
func (c *liveOnly) Edit(context.Context, int, float64) error         { return nil }
func (c *liveOnly) Reset(context.Context) error                      { return nil }
