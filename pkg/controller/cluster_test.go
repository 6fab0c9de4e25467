package controller_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/stampede-load/stampede/pkg/agent"
	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/controller"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/store"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// testCluster is a master (gRPC on loopback, controller, store on a temp dir) with
// in-process worker agents dialling it over real TCP.
type testCluster struct {
	t       *testing.T
	addr    string
	srv     *cluster.Server
	db      *store.DB
	ctl     *controller.Controller
	g       *errgroup.Group
	cancels map[string]context.CancelFunc
	mu      sync.Mutex
}

func newTestCluster(t *testing.T) *testCluster {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "runs.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := cluster.NewServer(cluster.ServerConfig{HeartbeatTimeout: 3 * time.Second})
	gs := grpc.NewServer()
	srv.RegisterOn(gs)
	tc := &testCluster{t: t, addr: lis.Addr().String(), srv: srv, db: db,
		ctl: controller.New(srv, db, controller.Options{}), g: &errgroup.Group{}, cancels: map[string]context.CancelFunc{}}
	tc.g.Go(func() error { return gs.Serve(lis) })
	t.Cleanup(func() {
		tc.mu.Lock()
		for _, c := range tc.cancels {
			c()
		}
		tc.mu.Unlock()
		srv.Close()
		gs.Stop()
		tc.g.Wait()
		db.Close()
	})
	return tc
}

// addWorker starts an in-process worker; its cancel func is kept for killWorker.
func (tc *testCluster) addWorker(id string, builtins userbehavior.Builtins) {
	ctx, cancel := context.WithCancel(context.Background())
	tc.mu.Lock()
	tc.cancels[id] = cancel
	tc.mu.Unlock()
	tc.g.Go(func() error {
		return agent.Run(ctx, agent.Config{Master: tc.addr, Info: cluster.WorkerInfo{ID: id}, Builtins: builtins})
	})
}

// runOutcome is what a run started with runAsync ends with.
type runOutcome struct {
	res controller.Result
	err error
}

// runAsync runs cfg on the cluster's controller in the background; the outcome
// comes on the channel when the run ends.
func (tc *testCluster) runAsync(ctx context.Context, cfg controller.Config) <-chan runOutcome {
	done := make(chan runOutcome, 1)
	go func() {
		res, err := tc.ctl.Run(ctx, cfg)
		done <- runOutcome{res, err}
	}()
	return done
}

// countingTarget serves fixed endpoints and counts what it served.
type countingTarget struct {
	mu     sync.Mutex
	served map[string]uint64
}

func (c *countingTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/fixed":
		// A fixed service time; the timer also ends when the client goes away.
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	case "/fail":
		w.WriteHeader(http.StatusInternalServerError)
	}
	c.mu.Lock()
	c.served[r.Method+" "+r.URL.Path]++
	c.mu.Unlock()
	fmt.Fprint(w, "hello")
}

func (c *countingTarget) snapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]uint64{}
	for k, v := range c.served {
		out[k] = v
	}
	return out
}

// oneGetUser is the builtin "one": class U, which GETs / then waits wait.
func oneGetUser(wait time.Duration) userbehavior.Builtins {
	return userbehavior.Builtins{"one": func() []*userbehavior.Class {
		return []*userbehavior.Class{{Name: "U", Weight: 1, Wait: userbehavior.Wait{Kind: userbehavior.WaitConstant, Min: wait},
			Tasks: []userbehavior.Task{{Name: "get", Weight: 1, Fn: get("/")}}}}
	}}
}

func get(path string) func(context.Context, *userbehavior.User) error {
	return func(ctx context.Context, u *userbehavior.User) error {
		u.HTTP.Get(ctx, path)
		return nil
	}
}

func TestDistributedRunCountsExactly(t *testing.T) {
	target := &countingTarget{served: map[string]uint64{}}
	ts := httptest.NewServer(target)
	defer ts.Close()

	builtins := userbehavior.Builtins{"shop": func() []*userbehavior.Class {
		return []*userbehavior.Class{
			{Name: "Reader", Weight: 3, Wait: userbehavior.Wait{Kind: userbehavior.WaitConstant, Min: 5 * time.Millisecond},
				Tasks: []userbehavior.Task{{Name: "fast", Weight: 3, Fn: get("/fast")}, {Name: "fixed", Weight: 1, Fn: get("/fixed")}}},
			{Name: "Breaker", Weight: 1, Wait: userbehavior.Wait{Kind: userbehavior.WaitConstant, Min: 5 * time.Millisecond},
				Tasks: []userbehavior.Task{
					{Name: "fail", Weight: 1, Fn: get("/fail")},
					{Name: "measure", Weight: 1, Fn: func(ctx context.Context, u *userbehavior.User) error {
						u.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: "CUSTOM", Name: "fixed-measure"}, Latency: 42 * time.Millisecond})
						return nil
					}}}},
		}
	}}
	tc := newTestCluster(t)
	tc.addWorker("w1", builtins)
	tc.addWorker("w2", builtins)
	res, err := tc.ctl.Run(context.Background(), controller.Config{
		Scenario: userbehavior.Scenario{Host: ts.URL, Builtin: "shop"},
		Classes:  []scheduler.Class{{Name: "Reader", Weight: 3}, {Name: "Breaker", Weight: 1}},
		Users:    8, SpawnRate: 100, RunTime: 2 * time.Second, ExpectWorkers: 2,
		// Users finish their request at the stop, so every request the target
		// served is counted (with 0 those in flight count as cancelled at stop).
		StopTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	served := target.snapshot()
	var servedTotal uint64
	for k, n := range served {
		servedTotal += n
		var method, name string
		fmt.Sscanf(k, "%s %s", &method, &name)
		st := res.Final.Endpoints[aggregate.Endpoint{Method: method, Name: name}]
		if st == nil || st.Requests != n {
			t.Errorf("%s: served %d, counted %+v", k, n, st)
		}
	}
	if servedTotal == 0 {
		t.Fatal("target served nothing")
	}
	if fails := res.Final.Endpoints[aggregate.Endpoint{Method: "GET", Name: "/fail"}]; fails.Failures != fails.Requests {
		t.Errorf("/fail: %d failures of %d requests", fails.Failures, fails.Requests)
	}
	total := res.Final.Total()
	custom := res.Final.Endpoints[aggregate.Endpoint{Method: "CUSTOM", Name: "fixed-measure"}]
	if total.Requests != servedTotal+custom.Requests {
		t.Errorf("total counted %d, served %d + custom %d", total.Requests, servedTotal, custom.Requests)
	}
	// Percentiles survive recording, the wire and the merge within 3 significant digits.
	if p := custom.Latency.Percentile(50); p < 42*time.Millisecond || p > 42042*time.Microsecond {
		t.Errorf("custom p50 = %v, want 42ms within 0.1%%", p)
	}
	fixed := res.Final.Endpoints[aggregate.Endpoint{Method: "GET", Name: "/fixed"}]
	if p := fixed.Latency.Percentile(50); p < 20*time.Millisecond || p > 25*time.Millisecond {
		t.Errorf("/fixed p50 = %v, want 20ms plus loopback overhead", p)
	}

	// The store holds the same totals, in the final snapshot and over the intervals.
	stored, err := tc.db.Final(res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := stored.Total().Requests; got != total.Requests {
		t.Errorf("stored final has %d requests, run %d", got, total.Requests)
	}
	ivs, err := tc.db.Intervals(res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for i, iv := range ivs {
		if iv.Seq != uint64(i+1) {
			t.Fatalf("interval %d has seq %d", i, iv.Seq)
		}
		sum += iv.Snapshot.Total().Requests
	}
	if sum != total.Requests {
		t.Errorf("intervals sum to %d requests, run %d", sum, total.Requests)
	}
	if res.Run.Status != store.StatusCompleted || res.Run.Summary.Requests != total.Requests {
		t.Errorf("stored run: %+v", res.Run)
	}
}

// waitForInterval polls the store for the newest run's intervals until one
// satisfies ok, and returns the run id. It fails the test after 20 s.
func waitForInterval(t *testing.T, db *store.DB, ok func(store.Interval) bool) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 20 s")
		}
		runs, err := db.Runs()
		if err != nil || len(runs) == 0 {
			continue
		}
		ivs, err := db.Intervals(runs[0].ID)
		if err != nil {
			continue
		}
		for _, iv := range ivs {
			if ok(iv) {
				return runs[0].ID
			}
		}
	}
	return ""
}
