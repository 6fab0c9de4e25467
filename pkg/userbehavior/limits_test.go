package userbehavior

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

func newLimitedRunner(t *testing.T, cfg RunnerConfig, classes ...*Class) (*Runner, *aggregate.Collector) {
	t.Helper()
	col := aggregate.NewCollector(time.Now())
	cfg.Classes, cfg.Collector = classes, col
	r, err := NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Kill)
	return r, col
}

// limitExceptions counts the refusals a snapshot holds, by message.
func limitExceptions(s *aggregate.Snapshot) map[string]uint64 {
	out := map[string]uint64{}
	for k, n := range s.Exceptions {
		if k.Traceback == LimitTraceback {
			out[k.Message] += n
		}
	}
	return out
}

func TestRunnerCapsUsersAtFileLimit(t *testing.T) {
	open := openFiles()
	if open < 0 {
		t.Skip("cannot count open files on this system")
	}
	c := &Class{Name: "A", Weight: 1, Wait: idle, Tasks: []Task{{Name: "t", Weight: 1, Fn: noop}}}
	// Room for 5 users: the limit leaves FDReserve to the worker.
	r, col := newLimitedRunner(t, RunnerConfig{FileLimit: open + FDReserve + 5}, c)
	for i := range 5 {
		if err := r.Spawn(context.Background(), "A"); err != nil {
			t.Fatalf("user %d: %v", i+1, err)
		}
	}
	for range 3 {
		err := r.Spawn(context.Background(), "A")
		var capErr *CapError
		if !errors.As(err, &capErr) || capErr.Users != 5 || !strings.Contains(err.Error(), "users capped at 5: too many open files") {
			t.Fatalf("6th user: %v, want users capped at 5: too many open files", err)
		}
	}
	if got := r.Counts()["A"]; got != 5 {
		t.Errorf("%d users run, want the 5 that fit", got)
	}
	got := limitExceptions(col.Swap(time.Now()))
	if len(got) != 1 {
		t.Fatalf("refusals recorded as %v, want one row", got)
	}
	for msg, n := range got {
		if n != 3 || !strings.Contains(msg, "RLIMIT_NOFILE") {
			t.Errorf("%q counted %d times, want 3 and a message naming RLIMIT_NOFILE", msg, n)
		}
	}
	// Users that end make room again.
	r.StopAll(context.Background())
	if err := r.Spawn(context.Background(), "A"); err != nil {
		t.Errorf("after every user stopped: %v", err)
	}
}

func TestArrivalsCapDropsAndCounts(t *testing.T) {
	open := openFiles()
	if open < 0 {
		t.Skip("cannot count open files on this system")
	}
	release := make(chan struct{})
	started := make(chan struct{}, 5)
	c := &Class{Name: "A", Weight: 1, Tasks: []Task{{Name: "t", Weight: 1, Fn: func(ctx context.Context, u *User) error {
		started <- struct{}{}
		<-release
		return nil
	}}}}
	r, col := newLimitedRunner(t, RunnerConfig{FileLimit: open + FDReserve + 2}, c)
	a := r.NewArrivals(context.Background(), 10) // the pool's own cap is not what stops it
	for range 5 {
		a.Iterate("A", time.Now())
	}
	<-started
	<-started // the two users that fit are busy: the other three iterations have no user
	close(release)
	a.Stop(context.Background())
	snap := col.Swap(time.Now())
	if got := snap.Counters[DroppedCounter]; got != 3 {
		t.Errorf("%d iterations counted as dropped, want 3", got)
	}
	if n := len(started); n != 0 {
		t.Errorf("%d more iterations ran than the 2 users that fit", n)
	}
	refusals := limitExceptions(snap)
	if len(refusals) == 0 {
		t.Error("no refusal recorded")
	}
	for msg := range refusals {
		if !strings.HasPrefix(msg, "users capped at ") || !strings.Contains(msg, "too many open files") {
			t.Errorf("refusal %q", msg)
		}
	}
	// Stop ended the pool's users: the runner has room again.
	if err := r.Spawn(context.Background(), "A"); err != nil {
		t.Errorf("after the pool stopped: %v", err)
	}
}

func TestRunnerCapsUsersAtMemoryBudget(t *testing.T) {
	// Each user keeps 1 MiB; the budget leaves room for a few dozen. Spawning waits
	// for each user's setup, as a paced worker does, so the budget sees what it took.
	made := make(chan struct{}, 1)
	c := &Class{Name: "A", Weight: 1, Wait: idle, Setup: func(u *User) {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = 1
		}
		u.Vars["ballast"] = b
		made <- struct{}{}
	}, Tasks: []Task{{Name: "t", Weight: 1, Fn: noop}}}
	r, col := newLimitedRunner(t, RunnerConfig{FileLimit: -1, MaxMemory: runtimeMemory() + 32<<20}, c)
	const asked = 200
	var err error
	users := 0
	for ; users < asked; users++ {
		if err = r.Spawn(context.Background(), "A"); err != nil {
			break
		}
		<-made
	}
	var capErr *CapError
	if !errors.As(err, &capErr) || !strings.Contains(err.Error(), "memory headroom") {
		t.Fatalf("%d users of 1 MiB each under a 32 MiB headroom: %v, want capped for memory headroom", users, err)
	}
	if users == 0 || capErr.Users != users {
		t.Errorf("capped at %d with %d users made", capErr.Users, users)
	}
	if got := limitExceptions(col.Swap(time.Now())); got[err.Error()] != 1 {
		t.Errorf("refusals recorded %v, want %q once", got, err)
	}
	t.Logf("capped at %d users of 1 MiB under a 32 MiB headroom", users)
}
