package userbehavior

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// Task is one thing a user does. Fn returns an error only for a fault in the task
// itself (a script exception); a failed request is recorded by the HTTP client and is
// not an error of the task.
type Task struct {
	Name   string
	Weight int // relative frequency when the class picks tasks at random; >= 1
	Fn     func(ctx context.Context, u *User) error
}

// Class is a kind of user: what it does, how often, and how long it waits.
type Class struct {
	Name       string
	Weight     int // share of the users among classes; see scheduler.Class
	FixedCount int // exact number of users of this class, if > 0
	Tasks      []Task
	Sequential bool // run Tasks in order, round and round, instead of weighted random picks
	Wait       Wait
	OnStart    func(ctx context.Context, u *User) error
	OnStop     func(ctx context.Context, u *User) error
	// Setup, when set, runs once as a user starts, before OnStart: where a script
	// engine puts its per-user state in User.State.
	Setup func(u *User)
}

// TracebackError is a task error that knows where in a script it happened; the
// exceptions view shows the traceback.
type TracebackError interface {
	error
	Traceback() string
}

// Validate reports every problem of the class at once.
func (c *Class) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("user class has no name"))
	}
	if c.Weight < 0 || c.FixedCount < 0 {
		errs = append(errs, fmt.Errorf("user class %q: weight and fixed count must be >= 0", c.Name))
	}
	if len(c.Tasks) == 0 {
		errs = append(errs, fmt.Errorf("user class %q has no tasks", c.Name))
	}
	for i, t := range c.Tasks {
		if t.Fn == nil {
			errs = append(errs, fmt.Errorf("user class %q: task %d (%q) has no function", c.Name, i, t.Name))
		}
		if !c.Sequential && t.Weight < 1 {
			errs = append(errs, fmt.Errorf("user class %q: task %q has weight %d, want >= 1", c.Name, t.Name, t.Weight))
		}
	}
	if err := c.Wait.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("user class %q: %w", c.Name, err))
	}
	return errors.Join(errs...)
}

// taskPicker chooses the next task of a class for one user.
type taskPicker struct {
	tasks      []Task
	cumulative []int // running sum of weights, for weighted picks
	sequential bool
	next       int
}

func newTaskPicker(c *Class) taskPicker {
	p := taskPicker{tasks: c.Tasks, sequential: c.Sequential}
	if !c.Sequential {
		p.cumulative = make([]int, len(c.Tasks))
		sum := 0
		for i, t := range c.Tasks {
			sum += t.Weight
			p.cumulative[i] = sum
		}
	}
	return p
}

func (p *taskPicker) pick(rnd *rand.Rand) *Task { return p.pickNext(rnd, &p.next) }

// pickNext is pick with the position in sequential tasks kept by the caller, so that
// the users of a class can share one picker.
func (p *taskPicker) pickNext(rnd *rand.Rand, next *int) *Task {
	if p.sequential || len(p.tasks) == 1 {
		t := &p.tasks[*next]
		*next = (*next + 1) % len(p.tasks)
		return t
	}
	n := rnd.IntN(p.cumulative[len(p.cumulative)-1])
	for i, c := range p.cumulative {
		if n < c {
			return &p.tasks[i]
		}
	}
	return &p.tasks[len(p.tasks)-1]
}

// User is one simulated user, handed to every task it runs. Its tasks run one at a
// time (each stretch between two waits on a goroutine the Runner starts, after the
// previous one has handed the user over): tasks may keep state in Vars without
// locking.
type User struct {
	ID    int // unique on this worker, from 1
	Class *Class
	HTTP  *HTTPClient
	Vars  map[string]any
	Rand  *rand.Rand
	// State belongs to the engine that runs the class's tasks (see Class.Setup).
	State any
	rec   *aggregate.Recorder
	r     *Runner // nil for a user made outside a Runner
	// held are what the user opened beyond HTTP (gRPC connections, WebSockets):
	// closed when it stops.
	held []io.Closer
}

// Run is where the user runs: the run's id and its worker's place among the run's
// workers (one worker, index 0, outside a run).
func (u *User) Run() RunInfo {
	if u.r == nil {
		return RunInfo{WorkerCount: 1}
	}
	return u.r.info
}

// StopRun asks to stop the whole run, saying why (Locust's runner.quit()); the
// worker tells the master, which stops every worker. It reports false where nobody
// is listening (a user outside a run, a dry run).
func (u *User) StopRun(reason string) bool {
	if u.r == nil || u.r.stopRun == nil {
		return false
	}
	u.r.stopRun(reason)
	return true
}

// WorkerUsers is how many users the user's worker runs now, the user included (as
// Locust's runner.user_count on a worker).
func (u *User) WorkerUsers() int {
	if u.r == nil {
		return 1
	}
	return u.r.Users()
}

// userShared is what a Runner's users share for gRPC and WebSocket.
type userShared struct {
	grpc *grpcShared
	ws   *wsShared
}

// hold keeps c open until the user stops.
func (u *User) hold(c io.Closer) { u.held = append(u.held, c) }

// close ends what the user holds: its HTTP session, connections and sockets.
func (u *User) close() {
	u.HTTP.close()
	for _, c := range u.held {
		_ = c.Close()
	}
	clear(u.held)
	u.held = nil
}

// Count adds n to a counter merged cluster-wide (a cache hit, an order placed).
func (u *User) Count(name string, n int64) { u.rec.Count(name, n) }

// Exception records an error raised by a task, with where it happened, for the
// exceptions view.
func (u *User) Exception(message, traceback string) { u.rec.Exception(message, traceback) }

// Flush hands what the user recorded to the worker's collector now; call it before
// a long pause inside a task.
func (u *User) Flush() { u.rec.Flush() }

// Record adds a custom measurement (not an HTTP request) to the statistics.
func (u *User) Record(s aggregate.Sample) {
	u.rec.Record(s, time.Now())
}
