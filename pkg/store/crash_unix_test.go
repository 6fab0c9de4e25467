//go:build unix

package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment of the crash test's child process.
const (
	crashPathEnv = "STAMPEDE_STORE_CRASH_PATH"
	crashRunEnv  = "STAMPEDE_STORE_CRASH_RUN"
)

// crashChildLimit bounds the child's loop should nobody kill it.
const crashChildLimit = 20000

// TestCrashRecovery kills a process writing to the store with SIGKILL at points
// the parent picks, and checks that the file reopens sound each time.
func TestCrashRecovery(t *testing.T) {
	if path := os.Getenv(crashPathEnv); path != "" {
		crashChild(t, path, os.Getenv(crashRunEnv))
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	killPoints := []int{1, 2, 17, 60, 1 + rand.IntN(150)}
	intervals := map[string]int{} // what earlier rounds left, which must survive later ones
	for round, killAfter := range killPoints {
		runID := fmt.Sprintf("crash-%d", round)
		t.Run(fmt.Sprintf("kill after %d intervals", killAfter), func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrashRecovery$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashPathEnv+"="+path, crashRunEnv+"="+runID)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			seen := 0
			var said []string // anything else the child printed (test failures go to stdout)
			lines := bufio.NewScanner(stdout)
			for seen < killAfter && lines.Scan() {
				n, ok := strings.CutPrefix(lines.Text(), "appended ")
				if !ok {
					said = append(said, lines.Text())
					continue
				}
				if seen, err = strconv.Atoi(n); err != nil {
					t.Fatalf("child said %q", lines.Text())
				}
			}
			if seen < killAfter {
				_ = cmd.Wait()
				t.Fatalf("child stopped after %d intervals:\n%s\n%s", seen, strings.Join(said, "\n"), stderr.Bytes())
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, stdout)
			err = cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child ended with %v, want SIGKILL:\n%s", err, stderr.Bytes())
			}

			db := openTest(t, path, Options{})
			if got := db.Interrupted(); !slices.Equal(got, []string{runID}) {
				t.Errorf("Interrupted: %v, want [%s]", got, runID)
			}
			if err := db.Check(); err != nil {
				t.Fatalf("Check: %v", err)
			}
			ivs, err := db.Intervals(runID)
			if err != nil {
				t.Fatalf("Intervals: %v", err)
			}
			if len(ivs) < killAfter {
				t.Errorf("%d intervals survived, want at least the %d reported", len(ivs), killAfter)
			}
			for i, iv := range ivs {
				if iv.Seq != uint64(i+1) {
					t.Fatalf("interval %d has Seq %d", i, iv.Seq)
				}
			}
			run, err := db.Run(runID)
			if err != nil {
				t.Fatal(err)
			}
			if run.Status != StatusInterrupted || run.Reason != ReasonMasterStopped || !run.EndedAt.Equal(ivs[len(ivs)-1].At) {
				t.Errorf("run %s %q ended %s, want interrupted at its last interval %s", run.Status, run.Reason, run.EndedAt, ivs[len(ivs)-1].At)
			}
			if evs, err := db.Events(runID); err != nil || len(evs) < killAfter/3 {
				t.Errorf("Events: %d, %v; want at least %d", len(evs), err, killAfter/3)
			}
			for id, n := range intervals {
				if ivs, err := db.Intervals(id); err != nil || len(ivs) != n {
					t.Errorf("earlier run %s: %d intervals, %v; want %d", id, len(ivs), err, n)
				}
			}
			intervals[runID] = len(ivs)
			t.Logf("killed after %d reported, %d intervals stored", killAfter, len(ivs))
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// crashChild appends intervals (and some events) to a new run until killed,
// reporting each committed interval on stdout.
func crashChild(t *testing.T, path, runID string) {
	db, err := Open(path, Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := db.CreateRun(testRun(runID, start)); err != nil {
		t.Fatal(err)
	}
	snap := testSnapshot(10, start, 7)
	for seq := uint64(1); seq <= crashChildLimit; seq++ {
		iv := Interval{Seq: seq, At: start.Add(time.Duration(seq) * time.Second), Users: int(seq), Workers: 2, Snapshot: snap}
		if err := db.AppendInterval(runID, iv); err != nil {
			t.Fatal(err)
		}
		if seq%3 == 0 {
			if err := db.AppendEvent(runID, Event{At: iv.At, Kind: "worker_joined", Worker: fmt.Sprint(seq)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := fmt.Fprintf(os.Stdout, "appended %d\n", seq); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("not killed")
}

func tryLock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
