package userbehavior

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	Classes   []*Class
	Host      string // base URL for relative request URLs; may be empty
	Collector *aggregate.Collector
	Transport *http.Transport // shared pool; nil: NewTransport(1024)
	Timeout   time.Duration   // default request timeout; 0: 60 s
}

// Runner starts and stops the users of one worker. Its methods are safe for
// concurrent use.
type Runner struct {
	classes   map[string]*Class
	base      *url.URL
	collector *aggregate.Collector
	transport *http.Transport
	timeout   time.Duration

	mu      sync.Mutex
	running map[string][]*handle // not retired, per class, oldest first
	live    map[*handle]struct{} // every user goroutine not yet exited
	nextID  int
	wg      sync.WaitGroup
}

// handle is the Runner's grip on one user goroutine.
type handle struct {
	retire chan struct{}      // closed: stop after the current task
	cancel context.CancelFunc // hard stop: abort what is in flight
}

// NewRunner checks the classes and returns a Runner with no users.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	if len(cfg.Classes) == 0 {
		return nil, errors.New("no user classes")
	}
	if cfg.Collector == nil {
		return nil, errors.New("runner needs a collector")
	}
	r := &Runner{
		classes:   make(map[string]*Class, len(cfg.Classes)),
		collector: cfg.Collector,
		transport: cfg.Transport,
		timeout:   cfg.Timeout,
		running:   make(map[string][]*handle),
		live:      make(map[*handle]struct{}),
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
	}
	if cfg.Host != "" {
		u, err := url.Parse(cfg.Host)
		if err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("host %q is not an absolute URL", cfg.Host))
		}
		r.base = u
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if r.transport == nil {
		r.transport = NewTransport(1024)
	}
	if r.timeout == 0 {
		r.timeout = 60 * time.Second
	}
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
// is called, or ctx ends.
func (r *Runner) Spawn(ctx context.Context, class string) error {
	c, ok := r.classes[class]
	if !ok {
		return fmt.Errorf("unknown user class %q", class)
	}
	u, err := r.newUser(c)
	if err != nil {
		return err
	}
	uctx, cancel := context.WithCancel(ctx)
	h := &handle{retire: make(chan struct{}), cancel: cancel}
	r.mu.Lock()
	r.running[class] = append(r.running[class], h)
	r.live[h] = struct{}{}
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		defer func() {
			cancel()
			r.mu.Lock()
			delete(r.live, h)
			r.mu.Unlock()
		}()
		r.lifetime(uctx, u, h)
	}()
	return nil
}

// newUser makes a user of class c with its own HTTP session and recorder.
func (r *Runner) newUser(c *Class) (*User, error) {
	s, err := newNetHTTP(r.transport)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.nextID++
	id := r.nextID
	r.mu.Unlock()
	rec := r.collector.NewRecorder()
	u := &User{
		ID:    id,
		Class: c,
		HTTP:  &HTTPClient{base: r.base, rec: rec, s: s, timeout: r.timeout},
		Vars:  map[string]any{},
		Rand:  rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(id))),
		rec:   rec,
	}
	return u, nil
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

// lifetime is a user's life: on_start, tasks and waits until retired, on_stop.
func (r *Runner) lifetime(ctx context.Context, u *User, h *handle) {
	defer u.rec.Flush()
	c := u.Class
	if !r.setup(ctx, u) {
		return
	}
	if c.OnStart != nil {
		r.guard(ctx, u, "on_start", c.OnStart)
	}
	picker := newTaskPicker(c)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
loop:
	for {
		select {
		case <-h.retire:
			break loop
		case <-ctx.Done():
			return
		default:
		}
		t := picker.pick(u.Rand)
		start := time.Now()
		r.guard(ctx, u, t.Name, t.Fn)
		d := c.Wait.Delay(start, time.Now(), u.Rand)
		if d <= 0 {
			continue
		}
		u.rec.Flush()
		timer.Reset(d)
		select {
		case <-timer.C:
		case <-h.retire:
			break loop
		case <-ctx.Done():
			return
		}
	}
	if c.OnStop != nil && ctx.Err() == nil {
		r.guard(ctx, u, "on_stop", c.OnStop)
	}
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
	close(h.retire)
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

// StopAll retires every user and waits until all have stopped. When ctx ends first,
// the users still running are aborted (their in-flight requests recorded as failures)
// and StopAll waits for them to exit.
func (r *Runner) StopAll(ctx context.Context) {
	r.mu.Lock()
	for class, hs := range r.running {
		for _, h := range hs {
			close(h.retire)
		}
		delete(r.running, class)
	}
	r.mu.Unlock()
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	r.abort()
	<-done
}

// Kill aborts every user at once and waits for them to exit: the brake when the master
// is gone.
func (r *Runner) Kill() {
	r.mu.Lock()
	clear(r.running)
	r.mu.Unlock()
	r.abort()
	r.wg.Wait()
}

// abort cancels every user goroutine still alive, retired or not.
func (r *Runner) abort() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for h := range r.live {
		h.cancel()
	}
}
