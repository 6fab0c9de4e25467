package controller_test

import (
	"math"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate/threshold"
	"github.com/stampede-load/stampede/pkg/controller"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/store"
)

// advance lets d pass on the bubble's clock, then waits until every goroutine of
// the bubble is blocked: what d brings has happened. It takes no real time.
func advance(d time.Duration) {
	<-time.After(d)
	synctest.Wait()
}

var oneClass = []scheduler.Class{{Name: "U", Weight: 1}}

// checkSeries fails unless the series, as a chart draws it, adds up to what the
// workers did: its points' spans tile the time axis from `from` seconds (each
// point covers the time since the one before), and Σ rate × that length is wantReq
// requests and wantFail failures; so do its counts.
func checkSeries(t *testing.T, what string, series []report.Point, from float64, wantReq, wantFail uint64) {
	t.Helper()
	var req, fail uint64
	var rateSpan, failSpan float64
	prev := from
	for _, p := range series {
		length := p.T - prev
		if math.Abs(length-p.SpanS) > 1e-9 {
			t.Errorf("%s: the point at %.3f s spans %.3f s, but follows one at %.3f s", what, p.T, p.SpanS, prev)
		}
		prev = p.T
		req, fail = req+p.Requests, fail+p.Failures
		rateSpan += p.RPS * length
		failSpan += p.FailPerS * length
	}
	if req != wantReq || fail != wantFail {
		t.Errorf("%s: series counts add up to %d requests, %d failures; the workers made %d, %d", what, req, fail, wantReq, wantFail)
	}
	if math.Abs(rateSpan-float64(wantReq)) > 1e-6*float64(wantReq)+1e-9 || math.Abs(failSpan-float64(wantFail)) > 1e-6*float64(wantFail)+1e-9 {
		t.Errorf("%s: Σ requests/s × interval = %.6f, failures %.6f; the workers made %d, %d", what, rateSpan, failSpan, wantReq, wantFail)
	}
}

// TestSeriesAddsUpToTheTotal: the per-second series of a run — live and stored —
// adds up to what the workers' users really did (Σ requests/s × interval length =
// the total), with one worker and with three, and an interval in which no worker
// reported is a gap, not a zero.
func TestSeriesAddsUpToTheTotal(t *testing.T) {
	for _, workers := range []int{1, 3} {
		t.Run(map[int]string{1: "one worker", 3: "three workers"}[workers], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rig := newFakeRig(t, controller.Options{})
				var ws []*fakeWorker
				for i := range workers {
					ws = append(ws, rig.f.add(string(rune('a'+i)), fakeBehaviour{PerTick: 3, FailEvery: 7}))
				}
				done := rig.start(controller.Config{Classes: oneClass, Users: 10, SpawnRate: 5,
					RunTime: 12 * time.Second, ExpectWorkers: workers})
				// Every worker's stream stalls for 3 s in the middle: its next report
				// carries what it measured meanwhile.
				advance(4500 * time.Millisecond)
				for _, w := range ws {
					w.setSilent(true)
				}
				advance(3 * time.Second)
				for _, w := range ws {
					w.setSilent(false)
				}
				res := rig.outcome(done)
				var wantReq, wantFail uint64
				for _, w := range ws {
					r, f := w.truth(res.Run.ID)
					wantReq, wantFail = wantReq+r, wantFail+f
				}
				if wantReq == 0 || wantFail == 0 {
					t.Fatalf("the workers made %d requests, %d failures", wantReq, wantFail)
				}
				if got := res.Run.Summary; got.Requests != wantReq || got.Failures != wantFail {
					t.Errorf("stored summary %d requests, %d failures; the workers made %d, %d", got.Requests, got.Failures, wantReq, wantFail)
				}
				live := rig.ctl.Live()
				checkSeries(t, "live", live.Series, 0, wantReq, wantFail)
				if last := live.Series[len(live.Series)-1]; live.Latest == nil || *live.Latest != last {
					t.Errorf("live latest point %+v, the series ends with %+v", live.Latest, last)
				}
				if live.Total.Requests != wantReq {
					t.Errorf("live total %d requests, the workers made %d", live.Total.Requests, wantReq)
				}
				view, err := loadView(t, rig.db, res.Run.ID)
				if err != nil {
					t.Fatal(err)
				}
				checkSeries(t, "stored", view.Series, 0, wantReq, wantFail)
				gaps := 0
				for _, p := range view.Series {
					if p.Gap {
						gaps++
						if p.Requests != 0 || p.RPS != 0 || p.P95 != 0 {
							t.Errorf("gap point with data: %+v", p)
						}
					}
				}
				if gaps < 2 {
					t.Errorf("%d gap points; 3 s without reports should leave at least 2", gaps)
				}
				// The rates of the points with data are what the workers' users do:
				// 10 users × 3 requests per 100 ms = 300/s once all are running.
				var steady []float64
				for _, p := range view.Series {
					if p.T > 3 && p.T < 4.5 {
						steady = append(steady, p.RPS)
					}
				}
				for _, rps := range steady {
					if rps < 299 || rps > 301 {
						t.Errorf("steady interval at %.1f rps, the users made 300/s: %v", rps, steady)
						break
					}
				}
				// Rates and totals agree between the live view, the stored run and the list.
				if sum := report.Summarize(res.Run); math.Abs(sum.RPS-live.Total.RPS) > 1e-9 {
					t.Errorf("stored RPS %.6f, live %.6f", sum.RPS, live.Total.RPS)
				}
			})
		})
	}
}

// TestUserStagesDriveTheRun: a closed-model run follows its stages (ramp to 4 users,
// hold, ramp to 0) over two workers and ends with the shape.
func TestUserStagesDriveTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newFakeRig(t, controller.Options{})
		a, b := rig.f.add("a", fakeBehaviour{}), rig.f.add("b", fakeBehaviour{})
		stages, err := scheduler.ParseStages("1s:4,2s:4,1s:0")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res := rig.outcome(rig.start(controller.Config{Classes: oneClass, Stages: stages, SpawnRate: 1, ExpectWorkers: 2}))
		if res.Run.Reason != "the load shape is over" {
			t.Errorf("reason %q", res.Run.Reason)
		}
		if res.Run.Summary.PeakUsers != 4 {
			t.Errorf("peak users %d, want the shape's 4", res.Run.Summary.PeakUsers)
		}
		if got := a.peakUsers(res.Run.ID) + b.peakUsers(res.Run.ID); got != 4 {
			t.Errorf("the workers ran %d users at most, want 4", got)
		}
		if took := time.Since(start); took < 4*time.Second || took > 5*time.Second {
			t.Errorf("the 4 s shape ran %v", took)
		}
	})
}

// TestGlobalSpawnRateAndClassSplit: 100 users at 20/s over two workers are split
// 75/25 between the classes and each worker spawns at half the rate, so the whole
// cluster spawns 20 a second.
func TestGlobalSpawnRateAndClassSplit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newFakeRig(t, controller.Options{})
		a, b := rig.f.add("a", fakeBehaviour{}), rig.f.add("b", fakeBehaviour{})
		res := rig.outcome(rig.start(controller.Config{Classes: []scheduler.Class{{Name: "A", Weight: 3}, {Name: "B", Weight: 1}},
			Users: 100, SpawnRate: 20, RunTime: 6500 * time.Millisecond, ExpectWorkers: 2}))
		perClass := map[string]int{}
		var rate float64
		for _, w := range []*fakeWorker{a, b} {
			starts := w.startsSeen()
			if len(starts) != 1 {
				t.Fatalf("worker %s got %d plans, want 1", w.id, len(starts))
			}
			for c, n := range starts[0].Users {
				perClass[c] += n
			}
			rate += starts[0].SpawnRate
			if n := len(w.spawnedClasses(res.Run.ID)); n != 50 {
				t.Errorf("worker %s spawned %d users, want 50", w.id, n)
			}
		}
		if perClass["A"] != 75 || perClass["B"] != 25 {
			t.Errorf("class split %v, want A 75, B 25", perClass)
		}
		if rate != 20 {
			t.Errorf("the workers' spawn rates add up to %g/s, want 20", rate)
		}
		if res.Run.Summary.PeakUsers != 100 {
			t.Errorf("peak users %d, want 100", res.Run.Summary.PeakUsers)
		}
	})
}

// TestLostWorkerUsersMoveToSurvivor: a worker that dies is marked lost when the
// cluster notices (its heartbeat timeout), and its users move to the survivor.
func TestLostWorkerUsersMoveToSurvivor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newFakeRig(t, controller.Options{})
		a, b := rig.f.add("a", fakeBehaviour{}), rig.f.add("b", fakeBehaviour{})
		done := rig.start(controller.Config{Classes: oneClass, Users: 10, SpawnRate: 100, RunTime: 10 * time.Second, ExpectWorkers: 2})
		advance(3 * time.Second)
		killed := time.Now()
		b.kill()
		res := rig.outcome(done)
		starts := a.startsSeen()
		if last := starts[len(starts)-1]; last.Users["U"] != 10 {
			t.Errorf("the survivor's last plan: %v, want all 10 users", last.Users)
		}
		var lost *store.Event
		for _, e := range rig.events(res.Run.ID) {
			if e.Kind == "worker_lost" && e.Worker == "b" {
				lost = &e
			}
		}
		if lost == nil || !lost.At.Equal(killed.Add(rig.f.heartbeat)) {
			t.Fatalf("worker_lost event %+v, want one when the cluster noticed (%v)", lost, killed.Add(rig.f.heartbeat))
		}
		ivs, err := rig.db.Intervals(res.Run.ID)
		if err != nil {
			t.Fatal(err)
		}
		last := ivs[len(ivs)-2] // the last full second before the stop
		if last.Users != 10 || last.Workers != 1 {
			t.Errorf("after the loss: %d users on %d workers, want 10 on 1", last.Users, last.Workers)
		}
		// What the survivor measured is all counted; the dead one's unreported
		// second is lost, and only that.
		ra, _ := a.truth(res.Run.ID)
		rb := b.reportedSoFar(res.Run.ID)
		if res.Run.Summary.Requests != ra+rb {
			t.Errorf("stored %d requests; the survivor made %d and the lost worker reported %d", res.Run.Summary.Requests, ra, rb)
		}
	})
}

// TestSecondRunHasNoFalseEvents: two runs from one master, on the same workers:
// the second run's report numbers start where the first's ended, which is not
// "reports missing", and a worker that was saturated in the first run has not
// "recovered" in the second, which never said it was saturated.
func TestSecondRunHasNoFalseEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newFakeRig(t, controller.Options{})
		a, b := rig.f.add("a", fakeBehaviour{}), rig.f.add("b", fakeBehaviour{})
		cfg := controller.Config{Classes: oneClass, Users: 4, SpawnRate: 10, RunTime: 5 * time.Second, ExpectWorkers: 2}
		done := rig.start(cfg)
		for range 3 {
			advance(time.Second)
			a.telemetry(99)
		}
		first := rig.outcome(done)
		second := rig.outcome(rig.start(cfg))
		advance(0)
		a.telemetry(20)
		for _, run := range []controller.Result{first, second} {
			var kinds []string
			for _, e := range rig.events(run.Run.ID) {
				kinds = append(kinds, string(e.Kind))
			}
			if slices.Contains(kinds, "report_missing") {
				t.Errorf("run %s: report_missing in %v", run.Run.ID, kinds)
			}
			if run.Run.ID == first.Run.ID && !slices.Contains(kinds, "generator_saturated") {
				t.Errorf("first run: no generator_saturated in %v", kinds)
			}
			if run.Run.ID == second.Run.ID && slices.Contains(kinds, "generator_recovered") {
				t.Errorf("second run: generator_recovered in %v", kinds)
			}
		}
		ra, _ := a.truth(second.Run.ID)
		rb, _ := b.truth(second.Run.ID)
		if second.Run.Summary.Requests != ra+rb {
			t.Errorf("second run stored %d requests, the workers made %d", second.Run.Summary.Requests, ra+rb)
		}
	})
}

// TestSaturationWarningAndRecovery: three hot samples in a row warn, a cool one
// after them records the recovery.
func TestSaturationWarningAndRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newFakeRig(t, controller.Options{})
		a := rig.f.add("a", fakeBehaviour{})
		done := rig.start(controller.Config{Classes: oneClass, Users: 1, SpawnRate: 10, RunTime: 6 * time.Second})
		advance(time.Second)
		for _, cpu := range []float64{95, 96, 97, 40} {
			a.telemetry(cpu)
			advance(time.Second)
		}
		res := rig.outcome(done)
		var kinds []string
		for _, e := range rig.events(res.Run.ID) {
			if strings.HasPrefix(string(e.Kind), "generator_") {
				kinds = append(kinds, string(e.Kind))
			}
		}
		if !slices.Equal(kinds, []string{"generator_saturated", "generator_recovered"}) {
			t.Errorf("events %v, want saturated then recovered", kinds)
		}
	})
}

// TestResetStartsANewWindow: after a reset, the run's totals, rates and stored
// summary cover what the workers did after it, and every view says the same.
func TestResetStartsANewWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newFakeRig(t, controller.Options{})
		a := rig.f.add("a", fakeBehaviour{PerTick: 2})
		done := rig.start(controller.Config{Classes: oneClass, Users: 5, SpawnRate: 100, RunTime: 10 * time.Second})
		advance(4200 * time.Millisecond)
		if err := rig.ctl.Reset(t.Context()); err != nil {
			t.Fatal(err)
		}
		resetAt := time.Now()
		before := a.reportedSoFar(rig.ctl.Live().RunID)
		res := rig.outcome(done)
		made, _ := a.truth(res.Run.ID)
		want := made - before
		sum := res.Run.Summary
		if sum.Requests != want || before == 0 {
			t.Errorf("stored %d requests; the worker made %d after the reset (%d before)", sum.Requests, want, before)
		}
		if !sum.Since.Equal(resetAt) {
			t.Errorf("stored statistics since %v, reset at %v", sum.Since, resetAt)
		}
		if wantRPS := float64(want) / res.Run.EndedAt.Sub(resetAt).Seconds(); math.Abs(sum.RPS-wantRPS) > 1e-9 {
			t.Errorf("stored RPS %.4f, want %.4f (the window's requests over its length)", sum.RPS, wantRPS)
		}
		live := rig.ctl.Live()
		if live.Total.Requests != want || math.Abs(live.Total.RPS-sum.RPS) > 1e-9 {
			t.Errorf("live: %d requests at %.4f/s; stored %d at %.4f/s", live.Total.Requests, live.Total.RPS, sum.Requests, sum.RPS)
		}
		if math.Abs(live.StatsSinceS-resetAt.Sub(res.Run.StartedAt).Seconds()) > 1e-9 {
			t.Errorf("live statistics since %.3f s", live.StatsSinceS)
		}
		// The series keeps every second; after the reset it adds up to the window.
		view, err := loadView(t, rig.db, res.Run.ID)
		if err != nil {
			t.Fatal(err)
		}
		var after []report.Point
		for _, p := range view.Series {
			if p.T > live.StatsSinceS {
				after = append(after, p)
			}
		}
		checkSeries(t, "stored, after the reset", after, live.StatsSinceS, want, 0)
		checkSeries(t, "stored, whole run", view.Series, 0, made, 0)
	})
}

// TestAbortThresholdStopsTheRun: a failing ";abort" threshold stops the run at the
// first interval that judges it, long before its run time.
func TestAbortThresholdStopsTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newFakeRig(t, controller.Options{})
		rig.f.add("a", fakeBehaviour{Latency: 30 * time.Millisecond})
		th, err := threshold.Parse("p95<20ms;abort")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res := rig.outcome(rig.start(controller.Config{Classes: oneClass, Users: 2, SpawnRate: 100, RunTime: time.Minute,
			Thresholds: []threshold.Threshold{th}}))
		if !res.Aborted || len(res.Thresholds) != 1 || res.Thresholds[0].Pass {
			t.Errorf("aborted %v, verdicts %+v", res.Aborted, res.Thresholds)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("the run went on %v after its threshold failed", took)
		}
		if !strings.Contains(res.Run.Reason, "p95<20ms") {
			t.Errorf("reason %q", res.Run.Reason)
		}
	})
}
