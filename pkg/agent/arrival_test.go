package agent

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/scheduler"
)

// fakeClock jumps to every time it is asked to sleep until: a whole plan runs at once.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) SleepUntil(ctx context.Context, _ <-chan struct{}, t time.Time) bool {
	if t.After(c.now) {
		c.now = t
	}
	return ctx.Err() == nil
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// runLoop runs one worker's loop to the end of the plan and returns the iterations it
// fired, by index on the plan's clock (k from the due time at rate), their classes, and
// how many iterations late plans re-assigned.
func runLoop(t *testing.T, a *cluster.Arrival, onFire func(l *arrivalLoop, due time.Duration)) (dues []time.Duration, classes []string, late int) {
	t.Helper()
	clk := &fakeClock{now: t0}
	var l *arrivalLoop
	l = newArrivalLoop(clk, a, arrivalDue(a), func(class string, due time.Time) bool {
		d := due.Sub(t0) + a.Elapsed
		dues = append(dues, d)
		classes = append(classes, class)
		if onFire != nil {
			onFire(l, d)
		}
		return true
	}, func(n int) { late += n })
	l.run(context.Background())
	return dues, classes, late
}

func TestArrivalLoopSplitsTheRateExactly(t *testing.T) {
	// 200 iterations/s for 20 s over 3 workers: 4000 iterations, each run once.
	stages := scheduler.Stages{{Duration: 0, Target: 200}, {Duration: 20 * time.Second, Target: 200}}
	classes := []scheduler.Class{{Name: "A", Weight: 3}, {Name: "B", Weight: 1}}
	seen := map[time.Duration]int{}
	perClass := map[string]int{}
	for i := range 3 {
		a := &cluster.Arrival{Stages: stages, Index: i, Count: 3, MaxUsers: 10, Classes: classes}
		dues, cls, _ := runLoop(t, a, nil)
		if n := len(dues); n < 1333 || n > 1334 {
			t.Errorf("worker %d ran %d iterations, want 4000/3 ± 1", i, n)
		}
		if !slices.IsSorted(dues) {
			t.Errorf("worker %d: due times out of order", i)
		}
		for j, d := range dues {
			seen[d]++
			perClass[cls[j]]++
		}
	}
	if len(seen) != 4000 {
		t.Fatalf("%d distinct due times, want 4000", len(seen))
	}
	for d, n := range seen {
		if n != 1 {
			t.Fatalf("iteration due at %v ran %d times", d, n)
		}
	}
	// Due times are k+1 over 200 s: the first at 5 ms, the last at the end of the run.
	if _, ok := seen[5*time.Millisecond]; !ok {
		t.Error("no iteration due at 5ms")
	}
	if _, ok := seen[20*time.Second]; !ok {
		t.Error("no iteration due at 20s")
	}
	if perClass["A"] != 3000 || perClass["B"] != 1000 {
		t.Errorf("classes %v, want A 3000, B 1000", perClass)
	}
}

func TestArrivalLoopRampAndReplan(t *testing.T) {
	// A ramp from 0 to 100/s over 10 s asks for 500 iterations; the 250th is due at
	// sqrt(2·250/10) ≈ 7.07 s. Two workers; at 5 s a third joins and the plan is split
	// three ways from iteration 200 on (the master would send that): still each once.
	stages := scheduler.Stages{{Duration: 10 * time.Second, Target: 100}}
	classes := []scheduler.Class{{Name: "A", Weight: 1}}
	from := int64(200)
	seen := map[time.Duration]int{}
	for i := range 2 {
		a := &cluster.Arrival{Stages: stages, Index: i, Count: 2, MaxUsers: 1, Classes: classes}
		replanned := false
		dues, _, late := runLoop(t, a, func(l *arrivalLoop, d time.Duration) {
			if !replanned && d >= 5*time.Second {
				replanned = true
				l.update(&cluster.Arrival{Stages: stages, From: from, Index: i, Count: 3, MaxUsers: 1, Classes: classes})
			}
		})
		if late != 0 {
			t.Errorf("worker %d counted %d late iterations for a plan that came in time", i, late)
		}
		for _, d := range dues {
			seen[d]++
		}
	}
	// The newcomer runs index 2 of 3 from iteration 200.
	a := &cluster.Arrival{Stages: stages, Elapsed: 5 * time.Second, From: from, Index: 2, Count: 3, MaxUsers: 1, Classes: classes}
	dues, _, _ := runLoop(t, a, nil)
	for _, d := range dues {
		seen[d]++
	}
	if len(seen) != 500 {
		t.Errorf("%d iterations ran, want 500", len(seen))
	}
	for d, n := range seen {
		if n != 1 {
			t.Errorf("iteration due at %v ran %d times", d, n)
		}
	}
	due := arrivalDue(&cluster.Arrival{Stages: stages})
	if d, _ := due(249); d < 7070*time.Millisecond || d > 7072*time.Millisecond {
		t.Errorf("the 250th iteration is due at %v, want ≈ 7.071s", d)
	}
	if _, ok := due(500); ok {
		t.Error("iteration 501 of a 500-iteration shape is due")
	}
}

// A re-plan that reaches the workers after the iteration it starts from: the
// iterations it re-assigned after they were issued are counted, and they bound
// what went wrong (run twice, or not at all).
func TestArrivalLoopCountsALateReplan(t *testing.T) {
	// 100/s for 10 s: 1000 iterations over two workers. A third joins; the plan that
	// splits them three ways from iteration 200 on reaches the two when they have
	// issued iteration 300.
	stages := scheduler.Stages{{Duration: 0, Target: 100}, {Duration: 10 * time.Second, Target: 100}}
	classes := []scheduler.Class{{Name: "A", Weight: 1}}
	const from = 200
	seen := map[time.Duration]int{}
	late := 0
	for i := range 2 {
		a := &cluster.Arrival{Stages: stages, Index: i, Count: 2, MaxUsers: 1, Classes: classes}
		replanned := false
		dues, _, n := runLoop(t, a, func(l *arrivalLoop, d time.Duration) {
			if !replanned && d >= 3*time.Second { // iteration 299 (due at its k+1 over 100/s)
				replanned = true
				l.update(&cluster.Arrival{Stages: stages, From: from, Index: i, Count: 3, MaxUsers: 1, Classes: classes})
			}
		})
		for _, d := range dues {
			seen[d]++
		}
		late += n
	}
	// The newcomer starts at iteration 200: the ones already past run at once.
	a := &cluster.Arrival{Stages: stages, Elapsed: 3 * time.Second, From: from, Index: 2, Count: 3, MaxUsers: 1, Classes: classes}
	dues, _, _ := runLoop(t, a, nil)
	for _, d := range dues {
		seen[d]++
	}
	wrong := 1000 - len(seen) // never ran
	for _, n := range seen {
		wrong += n - 1 // ran more than once
	}
	// Worker 0 (even iterations, now k%3 == 0) had issued up to 300 when the plan
	// came, worker 1 (odd, now k%3 == 1) up to 299: of 200..300, and of 200..299,
	// 51 changed hands for each.
	if late != 2*51 {
		t.Errorf("late iterations counted: %d; want 102", late)
	}
	t.Logf("%d counted late; %d ran twice or not at all", late, wrong)
	if wrong == 0 || wrong > late {
		t.Errorf("%d iterations ran twice or not at all, %d counted late; want some, and no more than counted", wrong, late)
	}
}

func TestWeightedCycle(t *testing.T) {
	got := weightedCycle([]scheduler.Class{{Name: "A", Weight: 3}, {Name: "B", Weight: 1}})
	if !slices.Equal(got, []string{"A", "A", "B", "A"}) && !slices.Equal(got, []string{"A", "B", "A", "A"}) {
		t.Errorf("cycle %v: B should sit between the As", got)
	}
}
