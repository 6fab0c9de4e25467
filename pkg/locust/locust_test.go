package locust_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
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

// locustBinary finds Debian's locust (python3-locust); without it the test skips,
// except in CI, where scripts/ensure-debian.sh installs it and the test must run.
func locustBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/locust"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("locust"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("locust is not installed: CI must install python3-locust (scripts/ensure-debian.sh python3-locust)")
	}
	t.Skip("locust is not installed (apt-get install python3-locust); skipping the test against real Locust workers")
	return ""
}

// locustWorker is one `locust --worker` process.
type locustWorker struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	log    *lockedBuffer
}

func (m *testMaster) startLocust(ctx context.Context, bin string, budget int) *locustWorker {
	m.t.Helper()
	cmd := exec.CommandContext(ctx, bin, "-f", "testdata/locustfile.py", "--worker",
		"--master-host", m.host, "--master-port", strconv.Itoa(m.port), "--loglevel", "INFO")
	cmd.Env = append(os.Environ(), "STAMPEDE_TEST_BUDGET="+strconv.Itoa(budget), "PYTHONUNBUFFERED=1")
	w := &locustWorker{cmd: cmd, exited: make(chan struct{}), log: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = w.log, w.log
	if err := cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	go func() { w.err = cmd.Wait(); close(w.exited) }()
	m.t.Cleanup(func() {
		cmd.Process.Kill()
		<-w.exited
		if m.t.Failed() {
			m.t.Logf("locust worker %d output:\n%s", cmd.Process.Pid, w.log.String())
		}
	})
	return w
}

// Two real Locust workers (Debian's python3-locust) take the users of the
// configured classes, split as the scheduler plans; their stats merge into the
// run; a SIGKILLed worker is detected and its users move to the other; stop and
// quit end the run and the last worker cleanly.
//
// Each worker sends a bounded number of requests; the test waits until the
// master has counted them all before it kills one, so no unreported request is
// lost with it, and the totals must match the target's count exactly.
func TestLocustWorkers(t *testing.T) {
	bin := locustBinary(t)
	const budget = 60 // requests per worker
	ctx := deadline(t, 150*time.Second)
	m := newTestMaster(t, locust.Config{HeartbeatTimeout: 3 * time.Second})
	target, served := countingTarget(t)
	a := m.startLocust(ctx, bin, budget)
	b := m.startLocust(ctx, bin, budget)

	done, err := m.ctl.Start(ctx, controller.Config{
		Scenario: userbehavior.Scenario{Host: target.URL},
		Classes:  []scheduler.Class{{Name: "WebsiteUser", Weight: 3}, {Name: "ApiUser", Weight: 1}},
		Users:    8, SpawnRate: 8, ExpectWorkers: 2, StopWait: 20 * time.Second, QuitWorkers: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	l := m.waitLive(ctx, "8 users on two workers, 4 each", func(l *report.Live) bool {
		return l.Users == 8 && len(l.Workers) == 2 && l.Workers[0].Users == 4 && l.Workers[1].Users == 4
	})
	for _, w := range l.Workers {
		if w.Kind != cluster.KindLocust {
			t.Errorf("worker %s: kind %q, want locust", w.ID, w.Kind)
		}
	}
	l = m.waitLive(ctx, "both workers' requests counted", func(l *report.Live) bool { return l.Total.Requests >= 2*budget })
	if l.Total.Requests != 2*budget || served.Load() != 2*budget {
		t.Fatalf("master counted %d requests, target served %d, want %d", l.Total.Requests, served.Load(), 2*budget)
	}
	byName := map[string]report.Row{}
	for _, r := range l.Endpoints {
		byName[r.Name] = r
	}
	if byName["/"].Requests == 0 || byName["/api/items"].Requests == 0 || byName["/"].Requests+byName["/api/items"].Requests != 2*budget {
		t.Errorf("endpoints %+v: want both classes' requests, %d in all", l.Endpoints, 2*budget)
	}

	// Kill one worker the hard way: the other must get all 8 users.
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.exited
	m.waitLive(ctx, "the killed worker gone and its users moved", func(l *report.Live) bool {
		return len(l.Workers) == 1 && l.Users == 8 && l.Workers[0].Users == 8
	})

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
	// The killed worker is a problem of the run, said in its reason; the survivor's
	// final report came.
	if !strings.HasPrefix(res.Run.Reason, "test over; worker ") || strings.Contains(res.Run.Reason, "no final report") ||
		len(res.Problems) != 1 {
		t.Errorf("run reason %q, problems %q: want the killed worker's loss, and the survivor's final report", res.Run.Reason, res.Problems)
	}
	tot := res.Final.Total()
	if tot.Requests != 2*budget || served.Load() != 2*budget || tot.Failures != 0 {
		t.Errorf("final: %d requests (%d failed), target served %d, want %d", tot.Requests, tot.Failures, served.Load(), 2*budget)
	}
	events, err := m.db.Events(res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, e := range events {
		if e.Kind == "worker_lost" {
			lost++
		}
	}
	if lost != 1 {
		t.Errorf("stored events %+v: want one worker_lost", events)
	}
	// QuitWorkers: the survivor exits, cleanly.
	select {
	case <-b.exited:
		if b.err != nil {
			t.Errorf("the surviving worker exited with %v after quit", b.err)
		}
	case <-ctx.Done():
		t.Fatal("the surviving worker did not exit after quit")
	}
}
