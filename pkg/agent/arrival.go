package agent

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/scheduler"
)

// clock is what the arrival loop needs of time, so tests can run a whole plan at once.
type clock interface {
	Now() time.Time
	// SleepUntil waits until t, ctx ends (false) or wake is signalled (false).
	SleepUntil(ctx context.Context, wake <-chan struct{}, t time.Time) bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) SleepUntil(ctx context.Context, wake <-chan struct{}, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
	case <-wake:
	}
	return false
}

// segment: from iteration from on, this worker runs the k with k % count == index.
type segment struct {
	from         int64
	index, count int
}

// arrivalLoop issues the open-model iterations this worker is assigned, each at the
// moment it is due on the plan's clock: the rate is the master's, split by index, so
// the cluster runs each iteration exactly once.
type arrivalLoop struct {
	clk    clock
	origin time.Time // when the plan's clock read 0, on this worker's clock
	due    func(k int64) (time.Duration, bool)
	fire   func(class string, due time.Time) bool // false: dropped (the pool counts it)
	late   func(n int)                            // counts iterations a late plan re-assigned; may be nil

	mu      sync.Mutex
	segs    []segment // ascending from
	classes []string  // iteration k runs classes[k % len]
	wake    chan struct{}
	plan    uint64 // how many plans update has applied
	fired   int64  // the last iteration issued, -1 before the first

	cancel context.CancelFunc
	done   chan struct{}
}

// newArrivalLoop prepares the loop for plan a, received at now. late, when not
// nil, is told how many iterations each late plan re-assigned (see update).
func newArrivalLoop(clk clock, a *cluster.Arrival, due func(int64) (time.Duration, bool),
	fire func(string, time.Time) bool, late func(n int)) *arrivalLoop {
	l := &arrivalLoop{clk: clk, origin: clk.Now().Add(-a.Elapsed), due: due, fire: fire, late: late,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	l.fired = -1
	l.update(a)
	return l
}

// update applies a newer plan: from a.From on, the new assignment. The master
// sends a plan ahead of the iteration it starts from; one that arrives after this
// worker has issued that iteration is late: of the iterations already issued from
// a.From on, those whose assignment to this worker changed may run twice in the
// cluster, or not at all. They are counted (late), not hidden.
func (l *arrivalLoop) update(a *cluster.Arrival) {
	l.mu.Lock()
	changed := 0
	if l.late != nil && len(l.segs) > 0 && l.fired >= a.From {
		for k := a.From; k <= l.fired; k++ {
			if l.mine(k) != (k%int64(a.Count) == int64(a.Index)) {
				changed++
			}
		}
	}
	for len(l.segs) > 0 && l.segs[len(l.segs)-1].from >= a.From {
		l.segs = l.segs[:len(l.segs)-1]
	}
	l.segs = append(l.segs, segment{from: a.From, index: a.Index, count: a.Count})
	l.classes = weightedCycle(a.Classes)
	l.plan++
	l.mu.Unlock()
	if changed > 0 {
		l.late(changed)
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// mine reports whether iteration k is this worker's under the plans so far. l.mu
// is held.
func (l *arrivalLoop) mine(k int64) bool {
	for i := len(l.segs) - 1; i >= 0; i-- {
		if s := l.segs[i]; s.from <= k {
			return k%int64(s.count) == int64(s.index)
		}
	}
	return false
}

// next returns the first iteration at or after k assigned to this worker, and the
// class it runs, under the plans applied so far (the count it returns last).
func (l *arrivalLoop) next(k int64) (int64, string, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, s := range l.segs {
		end := int64(math.MaxInt64)
		if i+1 < len(l.segs) {
			end = l.segs[i+1].from
		}
		start := max(k, s.from)
		if start >= end {
			continue
		}
		c := int64(s.count)
		k2 := start + ((int64(s.index)-start%c)%c+c)%c
		if k2 < end {
			return k2, l.classes[k2%int64(len(l.classes))], l.plan
		}
	}
	return -1, "", l.plan
}

// start runs the loop in its own goroutine until ctx ends, stop is called, or the
// plan's shape has no more iterations.
func (l *arrivalLoop) start(ctx context.Context) {
	ctx, l.cancel = context.WithCancel(ctx)
	go func() {
		defer close(l.done)
		l.run(ctx)
	}()
}

func (l *arrivalLoop) run(ctx context.Context) {
	var k int64
	for ctx.Err() == nil {
		kk, class, plan := l.next(k)
		if kk < 0 {
			return
		}
		d, ok := l.due(kk)
		if !ok {
			return // the shape is over: the master ends the run
		}
		at := l.origin.Add(d)
		if !l.clk.SleepUntil(ctx, l.wake, at) {
			continue // a new plan (re-read the assignment) or the end
		}
		// A loop behind schedule does not sleep, so a plan may have come since next:
		// issue kk only under the plan it was chosen by, and note it under the lock,
		// so that a later plan counts it if it re-assigns it.
		l.mu.Lock()
		if l.plan != plan {
			l.mu.Unlock()
			continue
		}
		l.fired = kk
		l.mu.Unlock()
		l.fire(class, at)
		k = kk + 1
	}
}

func (l *arrivalLoop) stop() {
	if l.cancel != nil {
		l.cancel()
		<-l.done
	}
}

// weightedCycle spreads classes over a cycle of sum(weights) slots, each class as
// evenly as its weight allows (smooth weighted round robin): with weights 3 and 1,
// A A B A rather than A A A B.
func weightedCycle(classes []scheduler.Class) []string {
	total := 0
	for _, c := range classes {
		total += c.Weight
	}
	if total == 0 {
		return []string{""}
	}
	cur := make([]int, len(classes))
	out := make([]string, 0, total)
	for range total {
		best := 0
		for i, c := range classes {
			cur[i] += c.Weight
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		out = append(out, classes[best].Name)
	}
	return out
}
