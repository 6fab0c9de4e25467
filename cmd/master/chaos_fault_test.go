package main

import (
	"flag"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/store"
)

// chaosIterations is how many kills each chaos test makes: 5 in make test, 100 in
// make chaos (go test -run Chaos ./cmd/master -chaos.iterations 100).
var chaosIterations = flag.Int("chaos.iterations", 5, "kills per chaos test")

// maxLostData is how much of a run's end may be missing after kill -9 of the master:
// the interval (1 s) that was open, and what it took to commit the one before.
const maxLostData = 1500 * time.Millisecond

// TestChaosMasterKill starts a headless run (real master binary, demo target, two
// local workers) again and again on one store and kill -9's the master at a random
// moment. After each kill the store opens and passes bbolt's consistency check and
// the record check, the run is interrupted, its intervals are numbered 1..n with no
// hole, they cover the run up to at most maxLostData before the kill, and every
// earlier run is still there, unchanged.
func TestChaosMasterKill(t *testing.T) {
	masterBin, _ := binaries(t)
	db := filepath.Join(t.TempDir(), "chaos.db")
	kept := map[string]int{} // run -> intervals, as left by earlier iterations
	var worstLoss time.Duration
	var beforeStart int
	for i := range *chaosIterations {
		m := exec.Command(masterBin, "--headless", "--demo", "--local-workers", "2", "-u", "20", "-r", "50",
			"-t", "1m", "--listen", freePort(t), "--db", db, "--log-level", "error")
		out := &syncWriter{}
		m.Stdout, m.Stderr = out, out
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill at a random moment of the first 4 s: sometimes before the run is
		// stored, mostly during it, at any point of an interval.
		time.Sleep(time.Duration(rand.Int64N(int64(4 * time.Second))))
		if err := m.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		_ = m.Wait()

		s, err := store.Open(db, store.Options{Timeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("iteration %d: the store does not open after kill -9: %v\n%s", i, err, out.String())
		}
		if err := s.Check(); err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		runs, err := s.Runs()
		if err != nil {
			t.Fatal(err)
		}
		storedBefore := len(kept)
		for _, run := range runs {
			ivs, err := s.Intervals(run.ID)
			if err != nil {
				t.Fatalf("iteration %d: run %s: %v", i, run.ID, err)
			}
			if n, old := kept[run.ID]; old {
				if len(ivs) != n {
					t.Errorf("iteration %d: earlier run %s had %d intervals, now %d", i, run.ID, n, len(ivs))
				}
				continue
			}
			kept[run.ID] = len(ivs)
			if run.Status != store.StatusInterrupted {
				t.Errorf("iteration %d: run %s is %q after kill -9, want interrupted", i, run.ID, run.Status)
			}
			for k, iv := range ivs {
				if iv.Seq != uint64(k+1) {
					t.Fatalf("iteration %d: run %s: interval %d has seq %d: not contiguous", i, run.ID, k, iv.Seq)
				}
			}
			// What is missing: from the last committed interval (or the start) to the kill.
			covered := run.StartedAt
			if len(ivs) > 0 {
				covered = ivs[len(ivs)-1].At
			}
			loss := killed.Sub(covered)
			worstLoss = max(worstLoss, loss)
			if loss > maxLostData {
				t.Errorf("iteration %d: run %s: the last %v before the kill are missing (%d intervals), want at most %v",
					i, run.ID, loss.Round(time.Millisecond), len(ivs), maxLostData)
			}
		}
		if len(runs) == storedBefore {
			beforeStart++ // killed before the run was stored: nothing to find, nothing broken
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d kills of the master: %d runs stored, %d kills before a run was stored; most data missing at a kill: %v",
		*chaosIterations, len(kept), beforeStart, worstLoss.Round(time.Millisecond))
}

// TestChaosWorkerKill runs a headless master with two worker processes and kill -9's
// one of them at a random moment, over and over. Each run completes on the other
// worker with its users, the lost worker is on record, the intervals are contiguous
// and add up to the stored total, and the store passes its checks.
func TestChaosWorkerKill(t *testing.T) {
	masterBin, workerBin := binaries(t)
	db := filepath.Join(t.TempDir(), "chaos.db")
	for i := range *chaosIterations {
		addr := freePort(t)
		m := exec.Command(masterBin, "--headless", "--demo", "--local-workers", "0", "--expect-workers", "2",
			"-u", "10", "-r", "100", "-t", "5s", "--listen", addr, "--db", db, "--exit-code-on-error", "0", "--log-level", "error")
		out := &syncWriter{}
		m.Stdout, m.Stderr = out, out
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		w1 := exec.Command(workerBin, "--master", addr, "--id", "survivor", "--log-level", "error")
		w2 := exec.Command(workerBin, "--master", addr, "--id", "victim", "--log-level", "error")
		for _, w := range []*exec.Cmd{w1, w2} {
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
		}
		// The first progress line (2 s in) says every user runs; the run has 3 s left.
		waitFor(t, 20*time.Second, "the run to start", func() bool { return strings.Contains(out.String(), "users 10/10") })
		time.Sleep(time.Duration(rand.Int64N(int64(2 * time.Second)))) // a random moment of the run
		if err := w2.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = w2.Wait()
		// The run completes, and its exit code says a worker died during it.
		if code := exitCodeOf(t, m.Wait()); code != exitIncomplete {
			t.Fatalf("iteration %d: master exit %d, want %d\n%s", i, code, exitIncomplete, out.String())
		}
		if err := w1.Wait(); err != nil {
			t.Errorf("iteration %d: surviving worker: %v", i, err)
		}

		s, err := store.Open(db, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Check(); err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		runs, err := s.Runs()
		if err != nil || len(runs) != i+1 {
			t.Fatalf("iteration %d: %d runs (%v)", i, len(runs), err)
		}
		run := runs[0] // newest first
		if run.Status != store.StatusCompleted || !strings.Contains(run.Reason, "worker victim died or left with an error") {
			t.Errorf("iteration %d: run %+v", i, run)
		}
		events, _ := s.Events(run.ID)
		if !slices.ContainsFunc(events, func(e store.Event) bool { return e.Kind == "worker_lost" && e.Worker == "victim" }) {
			t.Errorf("iteration %d: no worker_lost event for the killed worker: %+v", i, events)
		}
		ivs, _ := s.Intervals(run.ID)
		var sum uint64
		for k, iv := range ivs {
			if iv.Seq != uint64(k+1) {
				t.Fatalf("iteration %d: interval %d has seq %d", i, k, iv.Seq)
			}
			sum += iv.Snapshot.Total().Requests
		}
		if sum != run.Summary.Requests || sum == 0 {
			t.Errorf("iteration %d: intervals add up to %d requests, the run says %d", i, sum, run.Summary.Requests)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d kills of a worker: every run completed on the survivor", *chaosIterations)
}
