package controller_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/agent"
	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/controller"
	"github.com/stampede-load/stampede/pkg/scenarios"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/store"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// resolveFunc is agent.Config.Resolve.
type resolveFunc func(sc userbehavior.Scenario, index, count int) ([]*userbehavior.Class, error)

// resolveAsWorker resolves a scenario as the worker binary does.
func resolveAsWorker(sc userbehavior.Scenario, index, count int) ([]*userbehavior.Class, error) {
	return scenarios.Resolve(sc, scenarios.Placement{Index: index, Count: count})
}

// addResolvingWorker starts an in-process worker that turns scenarios into classes
// with resolve (scripts included); killWorker ends it like any other.
func (tc *testCluster) addResolvingWorker(id string, resolve resolveFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	tc.mu.Lock()
	tc.cancels[id] = cancel
	tc.mu.Unlock()
	tc.g.Go(func() error {
		return agent.Run(ctx, agent.Config{Master: tc.addr, Info: cluster.WorkerInfo{ID: id}, Resolve: resolve})
	})
}

// scriptRun is a run of a script bundle whose main file is main.star, with the
// classes the master derives from the script (as cmd/master does).
func scriptRun(t *testing.T, host, src string, files map[string]string) (userbehavior.Scenario, []scheduler.Class) {
	t.Helper()
	bundle := map[string][]byte{"main.star": []byte(src)}
	for name, data := range files {
		bundle[name] = []byte(data)
	}
	sc := userbehavior.Scenario{Host: host, Script: &userbehavior.ScriptSpec{Main: "main.star", Files: bundle}}
	classes, err := scenarios.Resolve(sc, scenarios.Placement{Index: 0, Count: 1})
	if err != nil {
		t.Fatalf("the master cannot compile the script: %v", err)
	}
	var out []scheduler.Class
	for _, c := range classes {
		out = append(out, scheduler.Class{Name: c.Name, Weight: c.Weight, FixedCount: c.FixedCount})
	}
	return sc, out
}

// position returns the 1-based line and column of the first occurrence of needle in
// src, so assertions on script positions follow the script when it is edited.
func position(t *testing.T, src, needle string) (line, col int) {
	t.Helper()
	for i, l := range strings.Split(src, "\n") {
		if c := strings.Index(l, needle); c >= 0 {
			return i + 1, c + 1
		}
	}
	t.Fatalf("%q not in the script", needle)
	return 0, 0
}

// checkCountedAsServed asserts that every request the target served is counted
// exactly once in final, under the name nameOf gives its path, and that final counts
// no HTTP request the target did not serve.
func checkCountedAsServed(t *testing.T, final *aggregate.Snapshot, served map[string]uint64, nameOf func(path string) string) {
	t.Helper()
	want := map[aggregate.Endpoint]uint64{}
	for k, n := range served {
		method, path, _ := strings.Cut(k, " ")
		want[aggregate.Endpoint{Method: method, Name: nameOf(path)}] += n
	}
	for ep, n := range want {
		st := final.Endpoints[ep]
		if st == nil || st.Requests != n {
			t.Errorf("%s %s: served %d, counted %+v", ep.Method, ep.Name, n, st)
		}
	}
	for ep, st := range final.Endpoints {
		if _, ok := want[ep]; !ok && ep.Method != "CUSTOM" && ep.Method != "CHECK" {
			t.Errorf("%s %s: counted %d requests the target never served", ep.Method, ep.Name, st.Requests)
		}
	}
}

func samePath(p string) string { return p }

// runContext bounds a run, so a broken controller fails the test instead of hanging it.
func runContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestScriptWeightsAndFixedCountsOverThreeWorkers(t *testing.T) {
	target := &countingTarget{served: map[string]uint64{}}
	ts := httptest.NewServer(target)
	defer ts.Close()
	const src = `
def start_a(u):
    u.http.get("/start/A")

def start_b(u):
    u.http.get("/start/B")

def start_c(u):
    u.http.get("/start/C")

def work(u):
    u.http.get("/work/" + u.class_name)

A = user(weight=3, tasks=[work], wait=constant(0.05), on_start=start_a)
B = user(weight=1, tasks=[work], wait=constant(0.05), on_start=start_b)
C = user(fixed_count=2, tasks=[work], wait=constant(0.05), on_start=start_c)
`
	sc, classes := scriptRun(t, ts.URL, src, nil)

	// Each worker compiles the bundle itself; its users' on_start is counted per worker.
	var started sync.Map // worker id -> *atomic.Int64
	resolveCounting := func(id string) resolveFunc {
		n := &atomic.Int64{}
		started.Store(id, n)
		return func(sc userbehavior.Scenario, index, count int) ([]*userbehavior.Class, error) {
			cs, err := resolveAsWorker(sc, index, count)
			for _, c := range cs {
				onStart := c.OnStart
				c.OnStart = func(ctx context.Context, u *userbehavior.User) error {
					n.Add(1)
					return onStart(ctx, u)
				}
			}
			return cs, err
		}
	}
	tc := newTestCluster(t)
	workers := []string{"w1", "w2", "w3"}
	for _, id := range workers {
		tc.addResolvingWorker(id, resolveCounting(id))
	}
	res, err := tc.ctl.Run(runContext(t), controller.Config{
		Scenario: sc, Classes: classes,
		Users: 42, SpawnRate: 200, RunTime: 3 * time.Second, ExpectWorkers: 3,
		// Users finish their request at the stop: every request served is counted.
		StopTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Run.Status != store.StatusCompleted || res.Run.Reason != "" {
		t.Errorf("stored run: status %s, reason %q", res.Run.Status, res.Run.Reason)
	}

	served := target.snapshot()
	for class, want := range map[string]uint64{"A": 30, "B": 10, "C": 2} {
		if got := served["GET /start/"+class]; got != want {
			t.Errorf("on_start of %s ran %d times, want %d", class, got, want)
		}
		if served["GET /work/"+class] == 0 {
			t.Errorf("no user of %s ran its task", class)
		}
	}
	checkCountedAsServed(t, res.Final, served, samePath)

	// Every worker took part: its users ran, and the master saw the three of them
	// carry all 42 users in one interval.
	var total int64
	for _, id := range workers {
		n, _ := started.Load(id)
		got := n.(*atomic.Int64).Load()
		if got == 0 {
			t.Errorf("worker %s started no user", id)
		}
		total += got
	}
	if total != 42 {
		t.Errorf("workers started %d users in all, want 42", total)
	}
	ivs, err := tc.db.Intervals(res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	full := false
	for _, iv := range ivs {
		full = full || (iv.Users == 42 && iv.Workers == 3)
	}
	if !full {
		t.Errorf("no stored interval with 42 users on 3 workers: %+v", ivs)
	}
	if res.Run.Summary.PeakUsers != 42 {
		t.Errorf("peak users %d, want 42", res.Run.Summary.PeakUsers)
	}
}

func TestScriptFeederUniqueAcrossWorkers(t *testing.T) {
	target := &countingTarget{served: map[string]uint64{}}
	ts := httptest.NewServer(target)
	defer ts.Close()
	const rows = 60
	var csv strings.Builder
	csv.WriteString("id,name\n")
	for i := range rows {
		fmt.Fprintf(&csv, "%d,row %d\n", i, i)
	}
	const src = `rows = data.csv("rows.csv", mode="unique")

def use(u):
    u.http.get("/iter")
    row = rows.next()
    u.http.get("/use/" + row["id"], name="/use/[id]")

Feeder = user(tasks=[use], wait=constant(0.02))
`
	sc, classes := scriptRun(t, ts.URL, src, map[string]string{"rows.csv": csv.String()})
	tc := newTestCluster(t)
	for _, id := range []string{"w1", "w2", "w3"} {
		tc.addResolvingWorker(id, resolveAsWorker)
	}
	// 6 users at 50 iterations/s each use up the 60 rows in about 0.2 s; the rest of
	// the run every iteration finds the feeder exhausted. The run lasts long enough
	// for every worker to report once with all its users running.
	res, err := tc.ctl.Run(runContext(t), controller.Config{
		Scenario: sc, Classes: classes,
		Users: 6, SpawnRate: 100, RunTime: 2500 * time.Millisecond, ExpectWorkers: 3,
		// Users finish their request at the stop: every request served is counted.
		StopTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	served := target.snapshot()
	for i := range rows {
		if n := served["GET /use/"+strconv.Itoa(i)]; n != 1 {
			t.Errorf("row %d used %d times, want once", i, n)
		}
	}
	uses := uint64(0)
	for k, n := range served {
		if strings.HasPrefix(k, "GET /use/") {
			uses += n
		}
	}
	if uses != rows {
		t.Errorf("%d rows used, want %d", uses, rows)
	}
	checkCountedAsServed(t, res.Final, served, func(p string) string {
		if strings.HasPrefix(p, "/use/") {
			return "/use/[id]"
		}
		return p
	})

	// Every iteration that found no row is an exception at rows.next(), and nothing else.
	line, col := position(t, src, "rows.next(")
	col += len("rows.next")
	wantMsg := fmt.Sprintf("main.star:%d:%d: feeder rows.csv exhausted", line, col)
	var exhausted uint64
	for k, n := range res.Final.Exceptions {
		if k.Message != wantMsg {
			t.Errorf("unexpected exception %q (x%d), want only %q:\n%s", k.Message, n, wantMsg, k.Traceback)
			continue
		}
		if !strings.Contains(k.Traceback, fmt.Sprintf("main.star:%d:%d: in use", line, col)) {
			t.Errorf("traceback does not name the task:\n%s", k.Traceback)
		}
		exhausted += n
	}
	iterations := served["GET /iter"]
	if exhausted == 0 || exhausted != iterations-rows {
		t.Errorf("%d feeder-exhausted exceptions, want %d iterations - %d rows = %d", exhausted, iterations, rows, iterations-rows)
	}
	// Nothing crashed: every worker kept its users to the end and sent its final report.
	if res.Run.Status != store.StatusCompleted || res.Run.Reason != "" {
		t.Errorf("stored run: status %s, reason %q", res.Run.Status, res.Run.Reason)
	}
	if res.Run.Summary.PeakUsers != 6 {
		t.Errorf("peak users %d, want 6", res.Run.Summary.PeakUsers)
	}
}

func TestWorkerThatCannotLoadTheScriptAbortsTheRun(t *testing.T) {
	target := &countingTarget{served: map[string]uint64{}}
	loading := make(chan struct{})
	var once sync.Once
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target.ServeHTTP(w, r)
		once.Do(func() { close(loading) })
	}))
	defer ts.Close()
	const src = `
def hit(u):
    u.http.get("/load")

Loader = user(tasks=[hit], wait=constant(0.01))
`
	sc, classes := scriptRun(t, ts.URL, src, nil)
	const why = "main.star: bundle corrupted on this worker"
	tc := newTestCluster(t)
	tc.addResolvingWorker("w1", resolveAsWorker)
	// w2 fails once w1's users are loading the target, so the abort has load to stop.
	tc.addResolvingWorker("w2", func(sc userbehavior.Scenario, index, count int) ([]*userbehavior.Class, error) {
		select {
		case <-loading:
		case <-time.After(10 * time.Second):
		}
		return nil, errors.New(why)
	})
	res, err := tc.ctl.Run(runContext(t), controller.Config{
		Scenario: sc, Classes: classes,
		Users: 4, SpawnRate: 100, ExpectWorkers: 2,
	})
	if err == nil || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "w2") {
		t.Fatalf("run error %v, want one naming w2 and %q", err, why)
	}
	if res.Run.ID == "" {
		t.Fatal("the failed run was not stored")
	}
	stored, err := tc.db.Run(res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != store.StatusFailed || !strings.Contains(stored.Reason, why) {
		t.Errorf("stored run: status %s, reason %q; want failed with %q", stored.Status, stored.Reason, why)
	}
	events, err := tc.db.Events(res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	failed := false
	for _, e := range events {
		failed = failed || (e.Kind == "worker_failed" && e.Worker == "w2" && e.Detail == why)
	}
	if !failed {
		t.Errorf("no worker_failed event for w2 in %+v", events)
	}

	// w1 was loading the target; it must stop: wait until the target has been quiet
	// for half a second.
	if target.snapshot()["GET /load"] == 0 {
		t.Fatal("w1 never loaded the target")
	}
	const quiet = 500 * time.Millisecond
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last, since := target.snapshot()["GET /load"], time.Now()
	for range tick.C {
		now := time.Now()
		if n := target.snapshot()["GET /load"]; n != last {
			last, since = n, now
		}
		if now.Sub(since) >= quiet {
			break
		}
		if now.After(deadline) {
			t.Fatalf("the target still receives load 10 s after the run failed (%d requests)", last)
		}
	}
}

func TestScriptExceptionsCountedWithTraceback(t *testing.T) {
	target := &countingTarget{served: map[string]uint64{}}
	ts := httptest.NewServer(target)
	defer ts.Close()
	const src = `
def boom(u):
    u.http.get("/iter")
    fail("boom")

Breaker = user(tasks=[boom], wait=constant(0.05))
`
	sc, classes := scriptRun(t, ts.URL, src, nil)
	tc := newTestCluster(t)
	tc.addResolvingWorker("w1", resolveAsWorker)
	tc.addResolvingWorker("w2", resolveAsWorker)
	const users = 4
	res, err := tc.ctl.Run(runContext(t), controller.Config{
		Scenario: sc, Classes: classes,
		Users: users, SpawnRate: 100, RunTime: 2500 * time.Millisecond, ExpectWorkers: 2,
		// Users finish their request at the stop: every request served is counted.
		StopTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	iterations := target.snapshot()["GET /iter"]
	checkCountedAsServed(t, res.Final, target.snapshot(), samePath)

	line, col := position(t, src, `fail("boom")`)
	col += len("fail")
	key := aggregate.ExceptionKey{Message: fmt.Sprintf("main.star:%d:%d: boom", line, col)}
	var n uint64
	for k, c := range res.Final.Exceptions {
		if k.Message != key.Message {
			t.Errorf("unexpected exception %q (x%d)", k.Message, c)
			continue
		}
		n += c
		for _, want := range []string{"Traceback (most recent call last):",
			fmt.Sprintf("main.star:%d:%d: in boom", line, col), "Error in fail: boom"} {
			if !strings.Contains(k.Traceback, want) {
				t.Errorf("traceback lacks %q:\n%s", want, k.Traceback)
			}
		}
	}
	if n == 0 || n != iterations {
		t.Errorf("%d exceptions counted, %d iterations served", n, iterations)
	}
	// All users kept going after their first exception, to the end of the run: several
	// intervals hold exceptions, and every worker sent its final report.
	if iterations < 5*users {
		t.Errorf("%d iterations by %d users in 2.5 s: users stopped after an exception", iterations, users)
	}
	ivs, err := tc.db.Intervals(res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	withExceptions := 0
	for _, iv := range ivs {
		if len(iv.Snapshot.Exceptions) > 0 {
			withExceptions++
		}
	}
	if withExceptions < 2 {
		t.Errorf("exceptions in %d of %d stored intervals, want them throughout the run", withExceptions, len(ivs))
	}
	if res.Run.Status != store.StatusCompleted || res.Run.Reason != "" || res.Run.Summary.PeakUsers != users {
		t.Errorf("stored run: status %s, reason %q, peak users %d", res.Run.Status, res.Run.Reason, res.Run.Summary.PeakUsers)
	}
}
