package locust_test

import (
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/controller"
	"github.com/stampede-load/stampede/pkg/locust"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// A real boomer v1.6.0 worker joins, gets its users from the scheduler, loads an
// httptest target, and the master's totals are the target's count. The worker
// sends a bounded number of requests and the test stops the run only once the
// master has seen them all, so nothing is left in boomer's unreported 3 s window
// (which boomer drops on stop): the totals must match exactly.
func TestBoomerWorker(t *testing.T) {
	const requests = 300
	ctx := deadline(t, 90*time.Second)
	m := newTestMaster(t, locust.Config{})
	target, served := countingTarget(t)
	exited := m.startBoomer(ctx, target.URL, requests)

	done, err := m.ctl.Start(ctx, controller.Config{
		Scenario: userbehavior.Scenario{Host: target.URL},
		Classes:  []scheduler.Class{{Name: "GoUser", Weight: 1}},
		Users:    4, SpawnRate: 20, ExpectWorkers: 1, StopWait: 15 * time.Second, QuitWorkers: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	l := m.waitLive(ctx, "every request reported", func(l *report.Live) bool { return l.Total.Requests >= requests })
	if len(l.Workers) != 1 || l.Workers[0].Kind != cluster.KindBoomer {
		t.Errorf("workers view: %+v, want one boomer worker", l.Workers)
	}
	if l.Users != 4 {
		t.Errorf("users %d, want 4", l.Users)
	}
	if err := m.ctl.Stop(ctx, "test over"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the run did not end")
	}
	res, err := m.ctl.Outcome(done)
	if err != nil {
		t.Fatal(err)
	}
	got := res.Final.Total()
	if got.Requests != requests || served.Load() != requests {
		t.Errorf("master counted %d requests, the target served %d, the worker sent %d", got.Requests, served.Load(), requests)
	}
	if got.Failures != 0 {
		t.Errorf("%d failures", got.Failures)
	}
	if got.Latency.Count() != int64(got.Requests) {
		t.Errorf("histogram holds %d latencies for %d requests", got.Latency.Count(), got.Requests)
	}
	if res.Run.Reason != "test over" {
		t.Errorf("run reason %q: the final report did not come in time", res.Run.Reason)
	}
	// QuitWorkers: the master's quit ends the boomer process.
	select {
	case <-exited:
	case <-ctx.Done():
		t.Fatal("the boomer worker did not exit after quit")
	}
}

// A boomer worker that falls silent (SIGSTOP) is lost after the heartbeat
// timeout and its users leave the plan; when it wakes (SIGCONT) it is told to
// stop what it ran, says client_ready again and rejoins, taking users anew.
func TestSilentBoomerWorkerIsLostAndRejoins(t *testing.T) {
	ctx := deadline(t, 90*time.Second)
	m := newTestMaster(t, locust.Config{HeartbeatTimeout: time.Second})
	target, _ := countingTarget(t)
	m.startBoomer(ctx, target.URL, 20_000)
	done, err := m.ctl.Start(ctx, controller.Config{
		Scenario: userbehavior.Scenario{Host: target.URL},
		Classes:  []scheduler.Class{{Name: "GoUser", Weight: 1}},
		Users:    2, SpawnRate: 100, ExpectWorkers: 1, StopWait: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	m.waitLive(ctx, "2 users running", func(l *report.Live) bool { return l.Users == 2 })
	proc := m.boomerProcess(t)
	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	m.waitLive(ctx, "the silent worker lost", func(l *report.Live) bool { return len(l.Workers) == 0 })
	if err := proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	m.waitLive(ctx, "the worker back with its users", func(l *report.Live) bool {
		return len(l.Workers) == 1 && l.Users == 2
	})
	if err := m.ctl.Stop(ctx, "test over"); err != nil {
		t.Fatal(err)
	}
	<-done
	res, err := m.ctl.Outcome(done)
	if err != nil {
		t.Fatal(err)
	}
	events, err := m.db.Events(res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, string(e.Kind))
	}
	if !slices.Contains(kinds, "worker_lost") || len(slices.DeleteFunc(slices.Clone(kinds), func(k string) bool { return k != "worker_joined" })) != 2 {
		t.Errorf("stored events %v: want the worker joined, lost, joined again", kinds)
	}
}
