package userbehavior

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	Classes   []*Class
	Host      string // base URL for relative request URLs; may be empty
	Collector *aggregate.Collector
	Transport *http.Transport // shared net/http pool (HTTP.Client "nethttp"); nil: NewTransport(1024)
	Timeout   time.Duration   // default request timeout; 0: 60 s
	HTTP      HTTPConfig      // client, body cap, TLS, timing rows
	// FileLimit is the open-file limit users are planned against: each may hold a
	// connection, and FDReserve descriptors stay for the rest of the worker. 0: the
	// process's RLIMIT_NOFILE; < 0: none.
	FileLimit int
	// MaxMemory, when > 0, is a budget for the memory the Go runtime holds (as
	// GOMEMLIMIT counts it): no new user is made while the worker is over it.
	MaxMemory int64
	// Run is where the users run: the run's id and this worker's place among the
	// run's workers (User.Run).
	Run RunInfo
	// StopRun, when set, is told when a user asks to stop the whole run
	// (User.StopRun); it must not block.
	StopRun func(reason string)
}

// RunInfo is where a worker's users run: the run and this worker's 0-based index
// among the run's WorkerCount workers.
type RunInfo struct {
	ID                       string
	WorkerIndex, WorkerCount int
}

// Runner starts and stops the users of one worker. Its methods are safe for
// concurrent use.
type Runner struct {
	classes   map[string]*Class
	pickers   map[string]*taskPicker // per class, shared by its users
	base      *url.URL
	collector *aggregate.Collector
	http      *httpStack
	shared    *userShared // what users share for gRPC and WebSocket
	timeout   time.Duration
	info      RunInfo
	stopRun   func(reason string)

	mu      sync.Mutex
	running map[string][]*handle // not retired, per class, oldest first
	live    map[*handle]struct{} // every user not yet exited
	groups  map[any]*ctxGroup    // by parent context
	shards  int                  // contexts per group at most
	nextID  int
	users   int    // users made and not yet ended (closed-model and pool users)
	limits  limits // what another user needs room for
	wg      sync.WaitGroup
}

// handle is the Runner's grip on one user. A user runs its tasks on a goroutine of
// its own; while it waits between tasks it has none: its timer starts one when the
// wait is over, or wake does when the user is retired or stopped. An idle user thus
// costs a few small structs, not a goroutine and its stack.
//
// One goroutine at most runs a user at any time: a goroutine that begins a wait sets
// waiting, and only the one that swaps it back to running (the timer's or wake's)
// goes on. The swap also orders what the previous goroutine did to the user before
// what the next one does.
type handle struct {
	r      *Runner
	u      *User
	picker *taskPicker
	next   int // the picker's position, for sequential tasks
	// ctx is what the user's tasks run under, a shard of grp: kept here because a user
	// between two tasks has no call stack to carry it.
	ctx     context.Context
	grp     *ctxGroup
	timer   *time.Timer // the wait between tasks; calls fire
	retired atomic.Bool // stop after the current task
	waiting atomic.Bool // no goroutine runs the user
}

// ctxGroup holds the contexts of the users spawned with one parent context. They
// share a few cancellable children of the parent (shards) instead of one each: a
// context of its own, with its done channel and children map, cost an idle user
// ~700 bytes, a third of it. A few shards rather than one keep the child contexts
// every request makes (its timeout) from contending on a single lock.
type ctxGroup struct {
	key      any // in Runner.groups: the parent context
	shards   []shard
	users    int         // live users holding a shard
	stopWake func() bool // unregisters the group's wake from parent; nil when parent never ends
}

type shard struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// ErrStopped is the cause of a user's context when the run's stop cut it (its stop
// timeout was over, or 0): a request it had in flight is counted under
// aggregate.CancelledCounter, not as a failure.
var ErrStopped = errors.New("cancelled at stop")

// StoppedAtStop reports whether ctx ended because the run's stop cut it.
func StoppedAtStop(ctx context.Context) bool {
	return ctx.Err() != nil && errors.Is(context.Cause(ctx), ErrStopped)
}

// NewRunner checks the classes and returns a Runner with no users.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	if len(cfg.Classes) == 0 {
		return nil, errors.New("no user classes")
	}
	if cfg.Collector == nil {
		return nil, errors.New("runner needs a collector")
	}
	if cfg.Run.WorkerCount < 1 {
		cfg.Run.WorkerCount, cfg.Run.WorkerIndex = 1, 0
	}
	r := &Runner{
		classes:   make(map[string]*Class, len(cfg.Classes)),
		pickers:   make(map[string]*taskPicker, len(cfg.Classes)),
		collector: cfg.Collector,
		timeout:   cfg.Timeout,
		info:      cfg.Run,
		stopRun:   cfg.StopRun,
		running:   make(map[string][]*handle),
		live:      make(map[*handle]struct{}),
		groups:    make(map[any]*ctxGroup),
		shards:    4 * runtime.GOMAXPROCS(0),
	}
	var errs []error
	for i, c := range cfg.Classes {
		if c == nil {
			errs = append(errs, fmt.Errorf("user class %d is nil", i))
			continue
		}
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := r.classes[c.Name]; dup {
			errs = append(errs, fmt.Errorf("user class %q defined twice", c.Name))
		}
		r.classes[c.Name] = c
		p := newTaskPicker(c)
		r.pickers[c.Name] = &p
	}
	if cfg.Host != "" {
		u, err := url.Parse(cfg.Host)
		if err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("host %q is not an absolute URL", cfg.Host))
		}
		r.base = u
	}
	st, err := newHTTPStack(cfg.HTTP, cfg.Transport)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	r.http = st
	r.limits = newLimits(cfg.FileLimit, cfg.MaxMemory)
	if r.timeout == 0 {
		r.timeout = 60 * time.Second
	}
	r.shared = &userShared{grpc: newGRPCShared(r.base, cfg.HTTP, r.timeout), ws: newWSShared(r.base, cfg.HTTP, r.timeout)}
	return r, nil
}

// Classes lists the runner's classes in name order.
func (r *Runner) Classes() []*Class {
	out := make([]*Class, 0, len(r.classes))
	for _, c := range r.classes {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Spawn starts one user of class. The user runs until it is retired, StopAll or Kill
// is called, or ctx ends. When the worker has no room for another user (the
// open-file limit, the memory budget: RunnerConfig) it returns a *CapError.
func (r *Runner) Spawn(ctx context.Context, class string) error {
	c, ok := r.classes[class]
	if !ok {
		return fmt.Errorf("unknown user class %q", class)
	}
	u, err := r.newUser(c)
	if err != nil {
		return err
	}
	h := &handle{r: r, u: u, picker: r.pickers[class]}
	h.timer = time.AfterFunc(time.Hour, h.fire)
	h.timer.Stop()
	r.mu.Lock()
	h.grp = r.group(ctx)
	g := h.grp
	if len(g.shards) < r.shards {
		sctx, cancel := context.WithCancelCause(ctx)
		g.shards = append(g.shards, shard{sctx, cancel})
	}
	h.ctx = g.shards[g.users%len(g.shards)].ctx
	g.users++
	r.running[class] = append(r.running[class], h)
	r.live[h] = struct{}{}
	r.wg.Add(1)
	r.mu.Unlock()
	go r.start(h.ctx, h)
	return nil
}

// group returns the context group of parent, making it if need be. The caller holds
// r.mu.
func (r *Runner) group(parent context.Context) *ctxGroup {
	// A context whose type cannot be a map key (none of the standard library's) gets
	// a group of its own.
	var key any = parent
	if !reflect.TypeOf(parent).Comparable() {
		key = new(ctxKey)
	}
	if g := r.groups[key]; g != nil {
		return g
	}
	g := &ctxGroup{key: key}
	if parent.Done() != nil {
		g.stopWake = context.AfterFunc(parent, func() { r.parentDone(g) })
	}
	r.groups[key] = g
	return g
}

// ctxKey stands for a context that cannot be a map key.
type ctxKey struct{ _ int }

// parentDone wakes the waiting users of g, whose parent context ended, so that they
// stop now rather than at the end of their wait. Their shards ended with the parent.
func (r *Runner) parentDone(g *ctxGroup) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropGroup(g, nil)
	for h := range r.live {
		if h.grp == g {
			h.wake()
		}
	}
}

// dropGroup forgets g, so that later users of its parent get a new group, and ends its
// shards with cause (nil: context.Canceled): every user of g sees its context end.
// The caller holds r.mu.
func (r *Runner) dropGroup(g *ctxGroup, cause error) {
	if r.groups[g.key] == g {
		delete(r.groups, g.key)
	}
	if g.stopWake != nil {
		g.stopWake()
	}
	for _, s := range g.shards {
		s.cancel(cause)
	}
}

// retire asks the user to stop after its current task, or at once when it waits.
func (h *handle) retire() {
	h.retired.Store(true)
	h.wake()
}

// fire ends a wait: the timer calls it on a goroutine of its own.
func (h *handle) fire() {
	if h.waiting.CompareAndSwap(true, false) {
		h.r.run(h.ctx, h)
	}
}

// wake ends a wait at once, for the user to stop: it was retired or its context
// ended. A user that is not waiting sees that itself before its next task or wait.
func (h *handle) wake() {
	if h.waiting.CompareAndSwap(true, false) {
		h.timer.Stop()
		go h.r.run(h.ctx, h)
	}
}

// newUser makes a user of class c with its own HTTP session and recorder, or
// returns a *CapError when the worker has no room for another user: then the
// refusal is also recorded as an exception (LimitTraceback), which reaches the
// master. A user made must end with release.
func (r *Runner) newUser(c *Class) (*User, error) {
	r.mu.Lock()
	if err := r.limits.check(r.users); err != nil {
		r.mu.Unlock()
		r.collector.NewRecorder().Exception(err.Error(), LimitTraceback)
		return nil, err
	}
	r.users++
	r.nextID++
	id := r.nextID
	r.mu.Unlock()
	rec := r.collector.NewRecorder()
	u := &User{
		ID:    id,
		Class: c,
		HTTP:  &HTTPClient{base: r.base, rec: rec, s: r.http.newSender(), timeout: r.timeout, opts: r.http.opts},
		Vars:  map[string]any{},
		Rand:  rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(id))),
		rec:   rec,
		r:     r,
	}
	return u, nil
}

// Users is how many users this worker runs now.
func (r *Runner) Users() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.users
}

// release forgets n users that ended outside exit (pool users).
func (r *Runner) release(n int) {
	r.mu.Lock()
	r.users -= n
	r.mu.Unlock()
}

// setup runs the class's Setup hook; a panic in it is recorded, not fatal.
func (r *Runner) setup(ctx context.Context, u *User) bool {
	if u.Class.Setup == nil {
		return true
	}
	ok := false
	r.guard(ctx, u, "setup", func(context.Context, *User) error {
		u.Class.Setup(u)
		ok = true
		return nil
	})
	return ok
}

// start begins a user's life: setup and on_start, then its tasks.
func (r *Runner) start(ctx context.Context, h *handle) {
	u := h.u
	u.rec.SetPace(u.Class.Wait.Pace())
	if !r.setup(ctx, u) {
		r.exit(h)
		return
	}
	if u.Class.OnStart != nil {
		r.guard(ctx, u, "on_start", u.Class.OnStart)
	}
	r.run(ctx, h)
}

// run is the rest of a user's life from the top of its task loop: tasks and waits
// until it is retired (then on_stop) or its context ends. When a wait begins it
// returns, leaving the user to its timer: the goroutine that fire or wake starts
// calls run again.
func (r *Runner) run(ctx context.Context, h *handle) {
	u, c := h.u, h.u.Class
	for !h.retired.Load() {
		if ctx.Err() != nil {
			r.exit(h)
			return
		}
		t := h.picker.pickNext(u.Rand, &h.next)
		start := time.Now()
		r.guard(ctx, u, t.Name, t.Fn)
		d := c.Wait.Delay(start, time.Now(), u.Rand)
		if d <= 0 {
			continue
		}
		u.rec.Flush()
		// From here this goroutine leaves the user alone unless it swaps waiting back.
		h.waiting.Store(true)
		h.timer.Reset(d)
		if !h.retired.Load() && ctx.Err() == nil {
			return // nothing of this user runs until fire or wake
		}
		// Retired or stopped while the wait began: a wake may have come before the
		// timer was armed and found nothing to stop.
		if !h.waiting.CompareAndSwap(true, false) {
			return // fire or wake won: its goroutine goes on
		}
		h.timer.Stop()
	}
	if c.OnStop != nil && ctx.Err() == nil {
		r.guard(ctx, u, "on_stop", c.OnStop)
	}
	r.exit(h)
}

// exit ends a user: what it recorded is flushed and the Runner forgets it. The last
// user of a context group ends the group.
func (r *Runner) exit(h *handle) {
	h.u.rec.Flush()
	h.u.close()
	h.timer.Stop()
	r.mu.Lock()
	r.users--
	delete(r.live, h)
	if h.grp.users--; h.grp.users == 0 {
		r.dropGroup(h.grp, nil)
	}
	r.mu.Unlock()
	r.wg.Done()
}

// guard runs fn and records a fault (an error or a panic of the task) in the
// exceptions view, with the script's traceback when the error has one, so a broken
// task is visible and never takes the worker down.
func (r *Runner) guard(ctx context.Context, u *User, name string, fn func(context.Context, *User) error) {
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return fn(ctx, u)
	}()
	if err == nil || ctx.Err() != nil {
		return
	}
	trace := u.Class.Name + "." + name
	var tb TracebackError
	if errors.As(err, &tb) {
		trace = tb.Traceback()
	}
	u.rec.Exception(err.Error(), trace)
}

// Retire asks the newest user of class to stop after its current task, without
// waiting for it. It reports false when no user of class runs.
func (r *Runner) Retire(class string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	hs := r.running[class]
	if len(hs) == 0 {
		return false
	}
	h := hs[len(hs)-1]
	r.running[class] = hs[:len(hs)-1]
	h.retire()
	return true
}

// Counts returns the users running per class (retired ones not counted), with every
// class present.
func (r *Runner) Counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.classes))
	for name := range r.classes {
		out[name] = len(r.running[name])
	}
	return out
}

// StopAll retires every user and waits until all have stopped. When ctx ends first
// (the stop timeout; at once when it is 0), the users still running are cut: their
// sleeps and waits end, their requests in flight are counted under
// aggregate.CancelledCounter (ErrStopped), not as failures, and StopAll waits for
// them to exit.
func (r *Runner) StopAll(ctx context.Context) {
	r.mu.Lock()
	for class, hs := range r.running {
		for _, h := range hs {
			h.retire()
		}
		delete(r.running, class)
	}
	r.mu.Unlock()
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	defer r.http.closeIdle() // no user left to reuse them
	defer r.shared.grpc.closePool()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	r.abort(ErrStopped)
	<-done
}

// Kill aborts every user at once and waits for them to exit: the brake when the master
// is gone.
func (r *Runner) Kill() {
	r.mu.Lock()
	clear(r.running)
	r.mu.Unlock()
	r.abort(nil)
	r.wg.Wait()
	r.http.closeIdle()
	r.shared.grpc.closePool()
}

// abort cancels every user still alive, retired or not, with cause; users spawned
// later get new contexts.
func (r *Runner) abort(cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.groups {
		r.dropGroup(g, cause)
	}
	for h := range r.live {
		h.wake()
	}
}
