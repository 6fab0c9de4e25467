package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate/threshold"
	"github.com/stampede-load/stampede/pkg/controller"
	"github.com/stampede-load/stampede/pkg/store"
)

// checkWindow fails unless the stored run spans exactly want from its start, and its
// RPS is its requests over that window.
func checkWindow(t *testing.T, res controller.Result, want time.Duration) {
	t.Helper()
	r := res.Run
	if got := r.EndedAt.Sub(r.StartedAt); got != want || res.Duration != want {
		t.Errorf("stored window %v, duration %v; want %v", got, res.Duration, want)
	}
	if wantRPS := float64(r.Summary.Requests) / want.Seconds(); r.Summary.RPS != wantRPS {
		t.Errorf("RPS %v, want %d requests over %v = %v", r.Summary.RPS, r.Summary.Requests, want, wantRPS)
	}
}

// TestMasterOwnsTheStop: the master's stop timeout travels with the stop to every
// worker; the run's window (stored end, duration, RPS) ends when the workers' users
// did: at the run time with 0, the stop timeout later when users finish their task.
func TestMasterOwnsTheStop(t *testing.T) {
	for _, timeout := range []time.Duration{0, 3 * time.Second} {
		t.Run(timeout.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rig := newFakeRig(t, controller.Options{})
				a := rig.f.add("a", fakeBehaviour{})
				b := rig.f.add("b", fakeBehaviour{})
				res := rig.outcome(rig.start(controller.Config{Classes: oneClass, Users: 4, SpawnRate: 100,
					RunTime: 10 * time.Second, ExpectWorkers: 2, StopTimeout: timeout}))
				for _, w := range []*fakeWorker{a, b} {
					stops := w.stopsSeen()
					if len(stops) != 1 || stops[0].StopTimeout == nil || *stops[0].StopTimeout != timeout {
						t.Errorf("worker %s got stops %+v, want one with stop timeout %v", w.id, stops, timeout)
					}
				}
				if res.Run.Status != store.StatusCompleted || res.Aborted || len(res.Problems) != 0 {
					t.Errorf("status %s, aborted %v, problems %q", res.Run.Status, res.Aborted, res.Problems)
				}
				checkWindow(t, res, 10*time.Second+timeout)
				ra, _ := a.truth(res.Run.ID)
				rb, _ := b.truth(res.Run.ID)
				if res.Run.Summary.Requests != ra+rb {
					t.Errorf("counted %d, the workers made %d", res.Run.Summary.Requests, ra+rb)
				}
			})
		})
	}
}

// TestAbortCutsTheLoad: an abort stops the load at once whatever the stop timeout,
// even while users are finishing their task after a stop; the run is stored aborted
// with the reason, its window ending at the abort.
func TestAbortCutsTheLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newFakeRig(t, controller.Options{})
		a := rig.f.add("a", fakeBehaviour{})
		done := rig.start(controller.Config{Classes: oneClass, Users: 2, SpawnRate: 100,
			RunTime: 5 * time.Second, StopTimeout: 30 * time.Second})
		advance(6 * time.Second) // stopping: the users have until 35 s
		if err := rig.ctl.Abort(context.Background(), "stop_run: enough"); err != nil {
			t.Fatal(err)
		}
		res := rig.outcome(done)
		stops := a.stopsSeen()
		if len(stops) != 2 || *stops[0].StopTimeout != 30*time.Second || *stops[1].StopTimeout != 0 {
			t.Errorf("stops %+v: want 30 s, then 0", stops)
		}
		if res.Run.Status != store.StatusAborted || !res.Aborted || res.Run.Reason != "stop_run: enough" {
			t.Errorf("status %s, aborted %v, reason %q", res.Run.Status, res.Aborted, res.Run.Reason)
		}
		checkWindow(t, res, 6*time.Second)
		if err := rig.ctl.Abort(context.Background(), "again"); err != controller.ErrNoRun {
			t.Errorf("abort with no run: %v", err)
		}
	})
}

// TestAbortThresholdCutsTheLoad: a failing ";abort" threshold stops the load at once
// although users would have had 30 s to finish, and the run is stored aborted.
func TestAbortThresholdCutsTheLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newFakeRig(t, controller.Options{})
		a := rig.f.add("a", fakeBehaviour{Latency: 30 * time.Millisecond})
		th, err := threshold.Parse("p95<20ms;abort")
		if err != nil {
			t.Fatal(err)
		}
		res := rig.outcome(rig.start(controller.Config{Classes: oneClass, Users: 2, SpawnRate: 100, RunTime: time.Minute,
			StopTimeout: 30 * time.Second, Thresholds: []threshold.Threshold{th}}))
		stops := a.stopsSeen()
		if len(stops) != 1 || *stops[0].StopTimeout != 0 {
			t.Errorf("stops %+v: want one, cutting at once", stops)
		}
		if res.Run.Status != store.StatusAborted || !strings.Contains(res.Run.Reason, "p95<20ms") {
			t.Errorf("status %s, reason %q", res.Run.Status, res.Run.Reason)
		}
		// The first interval judges it: the load ends at 1 s.
		checkWindow(t, res, time.Second)
	})
}

// TestRunProblems: a run that sent no request, and one during which a worker died
// and did not come back, end completed but say why their outcome is not sound, in
// the result and the stored reason; a worker that comes back is no problem.
func TestRunProblems(t *testing.T) {
	t.Run("no request", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rig := newFakeRig(t, controller.Options{})
			rig.f.add("a", fakeBehaviour{})
			res := rig.outcome(rig.start(controller.Config{Classes: oneClass, Users: 0, SpawnRate: 1, RunTime: 2 * time.Second}))
			if len(res.Problems) != 1 || res.Problems[0] != "the run sent no request" || !strings.Contains(res.Run.Reason, "no request") {
				t.Errorf("problems %q, reason %q", res.Problems, res.Run.Reason)
			}
		})
	})
	t.Run("worker ran none of its users", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rig := newFakeRig(t, controller.Options{})
			rig.f.add("a", fakeBehaviour{})
			rig.f.add("b", fakeBehaviour{NoUsers: true})
			res := rig.outcome(rig.start(controller.Config{Classes: oneClass, Users: 4, SpawnRate: 100, RunTime: 10 * time.Second, ExpectWorkers: 2}))
			if len(res.Problems) != 1 || !strings.Contains(res.Problems[0], "worker b ran none of the users planned for it") {
				t.Errorf("problems %q", res.Problems)
			}
		})
	})
	t.Run("worker died", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rig := newFakeRig(t, controller.Options{})
			rig.f.add("a", fakeBehaviour{})
			b := rig.f.add("b", fakeBehaviour{})
			done := rig.start(controller.Config{Classes: oneClass, Users: 4, SpawnRate: 100, RunTime: 10 * time.Second, ExpectWorkers: 2})
			advance(2 * time.Second)
			b.kill()
			res := rig.outcome(done)
			if res.Run.Status != store.StatusCompleted || len(res.Problems) != 1 ||
				!strings.Contains(res.Problems[0], "worker b died or left with an error during the run: no heartbeat") ||
				!strings.Contains(res.Run.Reason, res.Problems[0]) {
				t.Errorf("status %s, problems %q, reason %q", res.Run.Status, res.Problems, res.Run.Reason)
			}
		})
	})
}

// TestProgressAveragesOverReports: with a worker that reports every 3 s (as Locust
// workers do) and progress lines every 2 s, every line's rate is the worker's rate
// over the reports it sent, never 0 for a window that holds none of them.
func TestProgressAveragesOverReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newFakeRig(t, controller.Options{})
		rig.f.add("locust", fakeBehaviour{PerTick: 2, ReportEvery: 3 * time.Second})
		var out strings.Builder
		rig.outcome(rig.start(controller.Config{Classes: oneClass, Users: 5, SpawnRate: 1000, RunTime: 20 * time.Second,
			Progress: &out, ProgressEvery: 2 * time.Second}))
		// 5 users, 2 requests each per 100 ms: 100 requests/s.
		var lines int
		for _, line := range strings.Split(out.String(), "\n") {
			var at string
			var rps float64
			if n, _ := fmt.Sscanf(strings.Join(strings.Fields(line), " "), "%s users 5/5 workers 1 rps %f", &at, &rps); n != 2 {
				continue
			}
			lines++
			if d, _ := time.ParseDuration(at); d < 4*time.Second {
				continue // before the first report or two, the rate is still building
			}
			if rps < 90 || rps > 110 {
				t.Errorf("progress %q: rps %v, want about 100", line, rps)
			}
		}
		if lines < 8 {
			t.Errorf("%d progress lines:\n%s", lines, out.String())
		}
	})
}
