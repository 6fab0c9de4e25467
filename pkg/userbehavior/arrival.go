package userbehavior

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// DroppedCounter is the counter under which an open-model worker counts the
// iterations that were due while every user of its pool was busy and the pool
// could not grow: they were not run, and they are not silently skipped.
const DroppedCounter = aggregate.DroppedCounter

// Arrivals runs open-model iterations: work arrives on a schedule (the caller's),
// not when a user is ready for it. Each iteration borrows an idle user of its class
// from a pool, runs one of the class's tasks (picked as for a closed-model user; no
// waits) and gives the user back. Every sample it records is measured from the
// moment the iteration was due (Stats.Latency) and from when it was sent
// (Stats.Service), so a stalled target cannot hide behind a late start.
//
// The pool starts with the users Prepare makes (their on_start has run) and grows up
// to the cap when every user is busy; at the cap an iteration is dropped and counted
// under DroppedCounter. Methods are safe for concurrent use.
type Arrivals struct {
	r      *Runner
	ctx    context.Context
	cancel context.CancelCauseFunc
	rec    *aggregate.Recorder // drops; guarded by mu

	mu      sync.Mutex
	idle    map[string][]*poolUser // per class
	users   map[string]int         // per class: idle and busy
	total   int
	limit   int
	stopped bool
	wg      sync.WaitGroup // iterations and user creation in flight
}

// NewArrivals returns a pool of at most limit users for open-model iterations run
// under ctx.
func (r *Runner) NewArrivals(ctx context.Context, limit int) *Arrivals {
	ctx, cancel := context.WithCancelCause(ctx)
	return &Arrivals{r: r, ctx: ctx, cancel: cancel, rec: r.collector.NewRecorder(), limit: max(limit, 1),
		idle: map[string][]*poolUser{}, users: map[string]int{}}
}

// poolUser is a user of the pool and its place among sequential tasks.
type poolUser struct {
	u    *User
	next int
}

// SetLimit changes the pool's cap (a re-plan); users beyond it are not removed, only
// no new ones are made.
func (a *Arrivals) SetLimit(limit int) {
	a.mu.Lock()
	a.limit = max(limit, 1)
	a.mu.Unlock()
}

// Prepare grows the pool to n users of class (within the cap), running their setup
// and on_start before it returns.
func (a *Arrivals) Prepare(class string, n int) error {
	c, ok := a.r.classes[class]
	if !ok {
		return fmt.Errorf("unknown user class %q", class)
	}
	for {
		a.mu.Lock()
		if a.stopped || a.users[class] >= n || a.total >= a.limit {
			a.mu.Unlock()
			return nil
		}
		a.users[class]++
		a.total++
		a.wg.Add(1)
		a.mu.Unlock()
		u, err := a.newUser(c)
		a.mu.Lock()
		if err != nil {
			a.users[class]--
			a.total--
		} else {
			a.idle[class] = append(a.idle[class], &poolUser{u: u})
		}
		a.mu.Unlock()
		a.wg.Done()
		if err != nil {
			return err
		}
	}
}

// newUser makes a pool user: setup and on_start run now. A user whose setup fails
// still joins the pool (its fault is in the exceptions view), as a closed-model
// user whose setup fails still counts against its class.
func (a *Arrivals) newUser(c *Class) (*User, error) {
	u, err := a.r.newUser(c)
	if err != nil {
		return nil, err
	}
	// Every sample of a pool user carries its service time, on_start's too (measured
	// from when it began: it was due then).
	u.rec.SetLateness(0)
	if a.r.setup(a.ctx, u) && c.OnStart != nil {
		a.r.guard(a.ctx, u, "on_start", c.OnStart)
	}
	u.rec.Flush()
	return u, nil
}

// CountLate counts n iterations that a re-plan reached this worker too late to
// re-assign cleanly (aggregate.LateReplanCounter).
func (a *Arrivals) CountLate(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rec.Count(aggregate.LateReplanCounter, int64(n))
	a.rec.Flush()
}

// Iterate runs one iteration of class, due at due, on a goroutine of its own. It
// reports false when the iteration was dropped: no idle user, and the pool at its
// cap (or stopped).
func (a *Arrivals) Iterate(class string, due time.Time) bool {
	c, ok := a.r.classes[class]
	if !ok {
		a.mu.Lock()
		a.rec.Count(DroppedCounter, 1) // a class this worker lacks: counted, not lost
		a.rec.Flush()
		a.mu.Unlock()
		return false
	}
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return false
	}
	var u *poolUser
	if idle := a.idle[class]; len(idle) > 0 {
		u = idle[len(idle)-1]
		a.idle[class] = idle[:len(idle)-1]
	} else if a.total < a.limit {
		a.users[class]++
		a.total++
	} else {
		a.rec.Count(DroppedCounter, 1)
		a.rec.Flush()
		a.mu.Unlock()
		return false
	}
	a.wg.Add(1)
	a.mu.Unlock()
	go a.iterate(c, u, due)
	return true
}

// iterate runs one task of u (made first when nil) and hands u back to the pool.
func (a *Arrivals) iterate(c *Class, pu *poolUser, due time.Time) {
	defer a.wg.Done()
	if pu == nil {
		u, err := a.newUser(c)
		if err != nil {
			// No room for another user (a *CapError, already an exception): the
			// iteration is dropped, counted, and the pool stops growing.
			a.mu.Lock()
			a.users[c.Name]--
			a.total--
			a.limit = max(a.total, 1)
			a.rec.Count(DroppedCounter, 1)
			a.rec.Flush()
			a.mu.Unlock()
			return
		}
		pu = &poolUser{u: u}
	}
	if u := pu.u; a.ctx.Err() == nil {
		u.rec.SetLateness(time.Since(due))
		t := a.r.pickers[c.Name].pickNext(u.Rand, &pu.next)
		a.r.guard(a.ctx, u, t.Name, t.Fn)
		u.rec.Flush()
	}
	a.mu.Lock()
	a.idle[c.Name] = append(a.idle[c.Name], pu)
	a.mu.Unlock()
}

// Counts returns the pool's users per class, busy or idle.
func (a *Arrivals) Counts() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]int, len(a.r.classes))
	for name := range a.r.classes {
		out[name] = a.users[name]
	}
	return out
}

// Stop takes no new iterations and waits for those in flight; when ctx ends first
// it aborts them (their requests recorded as failures) and waits for them to end.
// Then each user's on_stop runs (unless aborted) and what it recorded is flushed.
func (a *Arrivals) Stop(ctx context.Context) {
	a.mu.Lock()
	a.stopped = true
	a.mu.Unlock()
	done := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		a.cancel(ErrStopped) // their requests in flight: cancelled at stop
		<-done
	}
	defer a.cancel(nil)
	// on_stop runs for every idle user at once, outside the lock (Counts and the
	// reports go on meanwhile), and is aborted when ctx ends, as StopAll does.
	a.mu.Lock()
	idle := a.idle
	a.idle = map[string][]*poolUser{}
	a.mu.Unlock()
	stopCtx, cancel := context.WithCancel(a.ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	var wg sync.WaitGroup
	for class, us := range idle {
		c := a.r.classes[class]
		for _, pu := range us {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pu.u.rec.SetLateness(0)
				if c.OnStop != nil && stopCtx.Err() == nil {
					a.r.guard(stopCtx, pu.u, "on_stop", c.OnStop)
				}
				pu.u.rec.Flush()
				pu.u.close()
			}()
		}
	}
	wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rec.Flush()
	a.r.release(a.total)
	clear(a.users)
	a.total = 0
}
