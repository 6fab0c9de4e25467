package controller_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/controller"
)

// TestScriptStopRun: a script's stop_run(reason) on one worker (Locust's
// runner.quit()) stops the whole run long before its run time, with the reason
// stored beside the run and as an event, and every request served counted.
func TestScriptStopRun(t *testing.T) {
	target := &countingTarget{served: map[string]uint64{}}
	ts := httptest.NewServer(target)
	defer ts.Close()
	const src = `
def work(u):
    u.http.get("/work")
    u.vars["n"] = u.vars.get("n", 0) + 1
    if u.worker_index == 1 and u.vars["n"] == 5:
        stop_run("enough from worker %d of %d" % (u.worker_index, u.worker_count))

A = user(tasks=[work], wait=constant(0.05))
`
	sc, classes := scriptRun(t, ts.URL, src, nil)
	tc := newTestCluster(t)
	tc.addResolvingWorker("w1", resolveAsWorker)
	tc.addResolvingWorker("w2", resolveAsWorker)
	res, err := tc.ctl.Run(runContext(t), controller.Config{
		Scenario: sc, Classes: classes, Users: 4, SpawnRate: 100, RunTime: 10 * time.Minute, ExpectWorkers: 2,
		// Users finish their request at the stop: every request served is counted.
		StopTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	const why = `stop_run("enough from worker 1 of 2") by a user on worker w`
	if !strings.Contains(res.Run.Reason, why) {
		t.Errorf("stored run: status %s, reason %q, want it to say %q", res.Run.Status, res.Run.Reason, why)
	}
	events, err := tc.db.Events(res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Kind == "stop_run" {
			n++
			if e.Detail != "enough from worker 1 of 2" {
				t.Errorf("stop_run event %q", e.Detail)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d stop_run events, want 1 (every later report repeats the reason)", n)
	}
	checkCountedAsServed(t, res.Final, target.snapshot(), samePath)
}
