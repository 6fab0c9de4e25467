package main

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// TestWorkerOutOfFileDescriptors runs the real worker with RLIMIT_NOFILE lowered to
// 160 (soft and hard: Go raises the soft limit to the hard one at start) and asks it
// for 300 users, each holding a keep-alive connection. The worker caps its users at
// what its descriptors allow instead of failing their connections or crashing, the
// master warns (progress output, run events), every request is accounted for, and
// the worker stays connected to the end and exits cleanly when told to quit.
func TestWorkerOutOfFileDescriptors(t *testing.T) {
	masterBin, workerBin := binaries(t)
	target := &requestLog{}
	ts := httptest.NewServer(target)
	defer ts.Close()
	addr := freePort(t)
	db := filepath.Join(t.TempDir(), "runs.db")
	const asked = 300
	w := start(t, "/bin/sh", "-c", `ulimit -n 160 && exec "$0" "$@"`, workerBin,
		"--master", addr, "--id", "fd1", "--no-gpu", "--log-level", "warn")
	code, out := runMaster(t, masterBin, "--headless", "--stop-timeout", "10s", "-u", "300", "-r", "1000", "-t", "4s", "-H", ts.URL+"/x",
		"--wait", "20ms", "--expect-workers", "1", "--listen", addr, "--db", db, "--exit-code-on-error", "0")
	if code != 0 {
		t.Fatalf("master exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, "WARNING: worker fd1: users capped at ") || !strings.Contains(out, "too many open files") {
		t.Errorf("no users-capped warning in the master's output:\n%s", out)
	}
	done := make(chan error, 1)
	go func() { done <- w.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("worker after the run: %v, want a clean exit", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("the worker did not exit after the master told it to quit")
	}

	s, run := storedRun(t, db)
	if run.Summary.PeakUsers <= 0 || run.Summary.PeakUsers >= asked {
		t.Errorf("peak users %d: want capped below the %d asked, and some", run.Summary.PeakUsers, asked)
	}
	final, err := s.Final(run.ID)
	if err != nil {
		t.Fatal(err)
	}
	refused := uint64(0)
	for k, n := range final.Exceptions {
		if k.Traceback == userbehavior.LimitTraceback && strings.Contains(k.Message, "too many open files") {
			refused += n
		}
	}
	if refused == 0 {
		t.Errorf("no refused user in the exceptions: %v", final.Exceptions)
	}
	// Every request the worker counted reached the target, or failed with a
	// grouped reason: nothing lost, nothing made up.
	tot := final.Total()
	served, _ := target.read()
	if tot.Requests == 0 || tot.Requests != uint64(served)+tot.Failures {
		t.Errorf("counted %d requests (%d failed), the target served %d", tot.Requests, tot.Failures, served)
	}
	for k := range final.Errors {
		if !strings.Contains(k.Message, "too many open files") {
			t.Errorf("failure %q: want none, or too many open files", k.Message)
		}
	}
	events, err := s.Events(run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var capped, lost int
	for _, e := range events {
		switch e.Kind {
		case "users_capped":
			capped++
		case "worker_lost":
			lost++
		}
	}
	if capped == 0 || lost != 0 {
		t.Errorf("%d users_capped and %d worker_lost events, want some and none: %+v", capped, lost, events)
	}
	t.Logf("peak users %d of %d asked, %d refusals, %d requests", run.Summary.PeakUsers, asked, refused, tot.Requests)
}
