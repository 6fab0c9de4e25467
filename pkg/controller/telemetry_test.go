package controller_test

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/agent"
	"github.com/stampede-load/stampede/pkg/aggregate/threshold"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/controller"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/telemetry"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// addHost starts an in-process worker or agent that samples this machine for real.
func (tc *testCluster) addHost(id, role string, builtins userbehavior.Builtins) {
	ctx, cancel := context.WithCancel(context.Background())
	tc.mu.Lock()
	tc.cancels[id] = cancel
	tc.mu.Unlock()
	sampler := telemetry.NewSampler(telemetry.Options{NoGPU: true})
	tc.g.Go(func() error {
		defer sampler.Close()
		return agent.Run(ctx, agent.Config{Master: tc.addr, Info: cluster.WorkerInfo{ID: id, Role: role},
			Builtins: builtins, Sampler: sampler, HeartbeatInterval: 200 * time.Millisecond})
	})
}

func TestTelemetryStoredForWorkersAndAgent(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ts.Close()
	builtins := oneGetUser(50 * time.Millisecond)
	tc := newTestCluster(t)
	tc.addHost("w1", cluster.RoleWorker, builtins)
	tc.addHost("w2", cluster.RoleWorker, builtins)
	tc.addHost("sut", cluster.RoleAgent, nil)
	res, err := tc.ctl.Run(context.Background(), controller.Config{
		Scenario: userbehavior.Scenario{Host: ts.URL, Builtin: "one"},
		Classes:  []scheduler.Class{{Name: "U", Weight: 1}},
		Users:    4, SpawnRate: 100, RunTime: 3 * time.Second, ExpectWorkers: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := tc.db.Telemetry(res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	ivs, err := tc.db.Intervals(res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	at := map[uint64]time.Time{}
	for _, iv := range ivs {
		at[iv.Seq] = iv.At
	}
	hosts := map[string]string{}
	for _, r := range recs {
		hosts[r.Host] = r.Role
		if when, ok := at[r.Seq]; !ok || !when.Equal(r.At) {
			t.Errorf("telemetry of %s at seq %d (%v) not aligned with interval %v", r.Host, r.Seq, r.At, when)
		}
	}
	if hosts["w1"] != "worker" || hosts["w2"] != "worker" || hosts["sut"] != "agent" {
		t.Errorf("telemetry stored for %v, want w1, w2 (worker) and sut (agent)", hosts)
	}
	// The agent ran no users.
	if res.Run.Summary.PeakUsers != 4 {
		t.Errorf("peak users %d, want 4 (agents run none)", res.Run.Summary.PeakUsers)
	}
}

func TestBusyWorkerRaisesSaturationWarning(t *testing.T) {
	spin := func(ctx context.Context, u *userbehavior.User) error {
		// A busy loop in bounded slices, so a stopped user stops within one slice.
		end := time.Now().Add(20 * time.Millisecond)
		x := 0
		for time.Now().Before(end) {
			x++
		}
		_ = x
		return nil
	}
	builtins := userbehavior.Builtins{"busy": func() []*userbehavior.Class {
		return []*userbehavior.Class{{Name: "Busy", Weight: 1, Tasks: []userbehavior.Task{{Name: "spin", Weight: 1, Fn: spin}}}}
	}}
	tc := newTestCluster(t)
	tc.addHost("hot", cluster.RoleWorker, builtins)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var res controller.Result
	go func() {
		var err error
		res, err = tc.ctl.Run(ctx, controller.Config{
			Scenario: userbehavior.Scenario{Builtin: "busy"},
			Classes:  []scheduler.Class{{Name: "Busy", Weight: 1}},
			Users:    8, SpawnRate: 100, ExpectWorkers: 1,
		})
		done <- err
	}()
	// Poll the live view (what the dashboard shows) until the warning is up.
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for len(tc.ctl.Live().Warnings) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no saturation warning; workers %+v", tc.ctl.Live().Workers)
		}
		<-tick.C
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	events, _ := tc.db.Events(res.Run.ID)
	found := false
	for _, e := range events {
		found = found || (e.Kind == "generator_saturated" && e.Worker == "hot")
	}
	if !found {
		t.Errorf("no generator_saturated event stored: %+v", events)
	}
}

// A long run costs the live view a bounded number of points: past LivePoints the
// run's series and every host's telemetry are merged into coarser points, while
// the store keeps every interval, and telemetry thresholds, summarised as the
// samples come, judge the run as the stored run judges it.
func TestLiveSeriesStayBounded(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ts.Close()
	builtins := oneGetUser(20 * time.Millisecond)
	tc := newTestCluster(t)
	const points = 8
	const interval = 25 * time.Millisecond
	tc.ctl = controller.New(tc.srv, tc.db, controller.Options{Interval: interval, LivePoints: points})
	tc.addHost("w1", cluster.RoleWorker, builtins)
	tc.addHost("sut", cluster.RoleAgent, nil)
	ths, err := threshold.ParseAll([]string{"avg(worker.w1.mem)>0B", "max(agent.sut.cpu)<=100%", "agent.sut.mem_slope<1TiB/min"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tc.ctl.Run(context.Background(), controller.Config{
		Scenario: userbehavior.Scenario{Host: ts.URL, Builtin: "one"},
		Classes:  []scheduler.Class{{Name: "U", Weight: 1}},
		Users:    2, SpawnRate: 100, RunTime: 3 * time.Second, ExpectWorkers: 1, Thresholds: ths,
	})
	if err != nil {
		t.Fatal(err)
	}
	ivs, err := tc.db.Intervals(res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ivs) < 4*points {
		t.Fatalf("%d intervals stored; the test needs at least %d to merge points twice", len(ivs), 4*points)
	}
	l := tc.ctl.Live()
	step := int(math.Round(l.SeriesStepS / interval.Seconds())) // intervals per point
	if len(l.Series) == 0 || len(l.Series) >= points || step < 4 || len(l.Series)*step > len(ivs) || (len(l.Series)+1)*step <= len(ivs) {
		t.Errorf("live series: %d points of %d intervals (%vs) each, for %d intervals stored; want fewer than %d points covering all but the last step",
			len(l.Series), step, l.SeriesStepS, len(ivs), points)
	}
	if l.Latest == nil || l.Latest.T < l.Series[len(l.Series)-1].T {
		t.Errorf("latest point %+v; want the last interval's, at or after the series' end (%v)", l.Latest, l.Series[len(l.Series)-1].T)
	}
	if len(l.Hosts) != 2 {
		t.Fatalf("live hosts: %d; want w1 and sut", len(l.Hosts))
	}
	for _, h := range l.Hosts {
		if len(h.Points) == 0 || len(h.Points) >= points {
			t.Errorf("host %s: %d live points; want 1..%d", h.Host, len(h.Points), points-1)
		}
	}
	view, err := loadView(t, tc.db, res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored := threshold.EvalAll(ths, report.BaselineInput(view), nil)
	// The live view's times run on the monotonic clock, the store's on the wall
	// clock: they may differ by nanoseconds.
	for i, live := range res.Thresholds {
		if live.Err != "" || !live.Pass || math.Abs(live.Observed-stored[i].Observed) > 1e-6*math.Abs(stored[i].Observed) {
			t.Errorf("%s: live %v observed %v (%s); from the store %v", ths[i], live.Pass, live.Observed, live.Err, stored[i].Observed)
		}
	}
}
