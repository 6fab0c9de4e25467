package script

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.starlark.net/starlark"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// session is one user's script state: the user value its functions get and the
// response whose verdict may still change. It is used by one goroutine at a time, the
// one running the user. It is kept small, as every user of a worker has one: the
// Starlark thread a call runs on comes from the Program's pool for the call only, and
// u.vars is made on first use.
type session struct {
	p    *Program
	u    *userbehavior.User
	user userValue

	// ctx is the context of the script call in progress, nil between calls: built-ins
	// have no other way to reach it. It never outlives the call.
	ctx context.Context

	pending pendingCall        // last response, recorded when the next request starts or the call ends
	timers  []*timerValue      // started and not stopped in this call
	streams []*grpcStreamValue // gRPC streams opened in this call: ended with it

	args [1]starlark.Value // (user,): the arguments of every call
}

// setup is Class.Setup: it gives a starting user its session.
func (p *Program) setup(u *userbehavior.User) { u.State = p.newSession(u) }

func (p *Program) newSession(u *userbehavior.User) *session {
	s := &session{p: p, u: u}
	s.user.s = s
	s.args[0] = &s.user
	return s
}

func className(u *userbehavior.User) string {
	if u.Class == nil {
		return "user"
	}
	return u.Class.Name
}

// pollSteps is how many Starlark steps a call runs between two looks at its context:
// a user stopped (or a task timed out) while its code computes is cancelled within
// about that many steps (well under a millisecond), with nothing registered per call.
const pollSteps = 10_000

// userThread is a Starlark thread for users' calls, with what a call keeps beside
// it. The Program's pool holds them between calls; its thread local localSession
// points to it.
type userThread struct {
	th    *starlark.Thread
	p     *Program
	s     *session             // running a call on th; nil between calls
	limit uint64               // th's step count at which the call's budget is spent
	req   userbehavior.Request // the request u.http builds, reused call after call
}

// newThread makes a thread for users' calls; the pool keeps it between calls.
func (p *Program) newThread() any {
	t := &userThread{p: p}
	t.th = &starlark.Thread{Name: "user", Load: p.load, Print: func(*starlark.Thread, string) {}}
	t.th.OnMaxSteps = t.poll
	t.th.SetLocal(localSession, t)
	return t
}

// poll runs every pollSteps steps of a call: it cancels the call when its context
// ended or its step budget is spent, and otherwise lets it run on.
func (t *userThread) poll(th *starlark.Thread) {
	steps := th.ExecutionSteps()
	switch {
	case t.s != nil && t.s.ctx != nil && t.s.ctx.Err() != nil:
		th.Cancel(t.s.stopReason(t.s.ctx))
	case steps >= t.limit:
		th.Cancel(t.p.overBudget)
	default:
		th.SetMaxExecutionSteps(min(steps+pollSteps, t.limit))
	}
}

// load serves load() on a user's thread: modules all ran at Compile.
func (p *Program) load(_ *starlark.Thread, module string) (starlark.StringDict, error) {
	return nil, fmt.Errorf("load(%q): modules are loaded only at the top level", module)
}

// sessionOf returns u's session, making it if the runner did not call Setup.
func (p *Program) sessionOf(u *userbehavior.User) *session {
	if s, ok := u.State.(*session); ok && s.p == p {
		return s
	}
	s := p.newSession(u)
	u.State = s
	return s
}

// running is the user thread behind thread and the session whose call runs on it,
// or nil ones outside a user's call (at the top level of a module, in shape()).
func running(thread *starlark.Thread) (*userThread, *session) {
	if t, ok := thread.Local(localSession).(*userThread); ok && t.s != nil && t.s.ctx != nil {
		return t, t.s
	}
	return nil, nil
}

// sessionFrom is the session running on thread, or an error naming the built-in
// that needs one.
func sessionFrom(thread *starlark.Thread, fn string) (*session, error) {
	if _, s := running(thread); s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("%s() may only be called while a user runs a task", fn)
}

// taskFunc makes the Go task function that calls the Starlark function fn.
func (p *Program) taskFunc(fn *starlark.Function) func(context.Context, *userbehavior.User) error {
	return func(ctx context.Context, u *userbehavior.User) error {
		return p.sessionOf(u).call(ctx, fn)
	}
}

// call runs fn(user) on a thread of the pool within the step budget and the task
// timeout; ctx ending cancels the thread (see poll).
func (s *session) call(ctx context.Context, fn starlark.Callable) error {
	_, err := s.callWith(ctx, fn, s.args[:])
	return err
}

// callWith is call with other arguments, returning what fn returned.
func (s *session) callWith(ctx context.Context, fn starlark.Callable, args starlark.Tuple) (starlark.Value, error) {
	if s.ctx != nil {
		return nil, errors.New("script call while another runs on the same user")
	}
	if t := s.p.opts.TaskTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	t := s.p.threads.Get().(*userThread)
	th := t.th
	th.Uncancel()
	steps := th.ExecutionSteps()
	t.limit = steps + s.p.budget
	th.SetMaxExecutionSteps(min(steps+pollSteps, t.limit))
	t.s, s.ctx = s, ctx
	v, err := starlark.Call(th, fn, args, nil)
	t.s, s.ctx = nil, nil
	t.req = userbehavior.Request{} // holds nothing of the user between calls
	s.p.threads.Put(t)
	s.finish(err, userbehavior.StoppedAtStop(ctx))
	if err != nil {
		return nil, taskError(err)
	}
	return v, nil
}

// stopReason says why ctx, the context of a script call, ended.
func (s *session) stopReason(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && s.p.opts.TaskTimeout > 0 {
		return fmt.Sprintf("task ran longer than %v", s.p.opts.TaskTimeout)
	}
	return "user stopped"
}

// finish records what the call left open: the pending response, and timers not
// stopped (as failures; counted under aggregate.CancelledCounter when the run's stop
// cut the call).
func (s *session) finish(err error, cut bool) {
	s.commit()
	for _, st := range s.streams {
		st.st.Close()
	}
	clear(s.streams)
	s.streams = s.streams[:0]
	for _, st := range s.streams {
		st.st.Close()
	}
	clear(s.streams)
	s.streams = s.streams[:0]
	if len(s.timers) == 0 {
		return
	}
	msg := "timer not stopped before the task ended"
	if err != nil {
		msg = "task failed: " + err.Error()
	}
	now := time.Now()
	for _, t := range s.timers {
		if cut {
			t.stopped = true
			s.u.Count(aggregate.CancelledCounter, 1)
			continue
		}
		t.record(now, msg)
	}
	clear(s.timers)
	s.timers = s.timers[:0]
}

// commit records the pending response with its final verdict.
func (s *session) commit() {
	if r := s.pending; r != nil {
		s.pending = nil
		r.commit()
	}
}

// pendingCall is a request or call whose verdict check() and fail() may still
// change: recorded when the user's next request starts or the call ends.
type pendingCall interface {
	fail(msg string)
	commit()
}

// userValue is the u given to every task: u.id, u.vars, u.http, u.llm, u.class_name
// ("class" is a reserved word of Starlark), and where it runs: u.worker_index,
// u.worker_count, u.run_id and u.user_count (its worker's users now).
type userValue struct {
	s    *session
	vars *starlark.Dict // made on first use: most users never touch it
}

func (v *userValue) String() string        { return fmt.Sprintf("<user %s#%d>", className(v.s.u), v.s.u.ID) }
func (v *userValue) Type() string          { return "user" }
func (v *userValue) Freeze()               {} // per user; never shared
func (v *userValue) Truth() starlark.Bool  { return true }
func (v *userValue) Hash() (uint32, error) { return uint32(v.s.u.ID), nil }
func (v *userValue) AttrNames() []string {
	return []string{"class_name", "grpc", "http", "id", "llm", "run_id", "setup", "user_count", "vars", "worker_count", "worker_index", "ws"}
}

func (v *userValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "http":
		return userHTTP, nil
	case "grpc":
		return userGRPC, nil
	case "ws":
		return userWS, nil
	case "llm":
		return userLLM, nil
	case "id":
		return starlark.MakeInt(v.s.u.ID), nil
	case "vars":
		if v.vars == nil {
			v.vars = starlark.NewDict(0)
		}
		return v.vars, nil
	case "class_name":
		return starlark.String(className(v.s.u)), nil
	case "worker_index":
		return starlark.MakeInt(v.s.u.Run().WorkerIndex), nil
	case "worker_count":
		return starlark.MakeInt(v.s.u.Run().WorkerCount), nil
	case "run_id":
		return starlark.String(v.s.u.Run().ID), nil
	case "user_count":
		return starlark.MakeInt(v.s.u.WorkerUsers()), nil
	case "setup":
		return v.s.p.setupData, nil
	}
	return nil, nil
}

// check(cond, message): when cond is false, the user's last response of this task
// is marked failed with message (or, with none, a failed CHECK row is recorded).
// It returns cond as a bool.
func checkBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	s, err := sessionFrom(thread, "check")
	if err != nil {
		return nil, err
	}
	// Unpacked by hand: check runs once per request or more.
	if len(args) != 2 || len(kwargs) > 0 {
		return nil, fmt.Errorf("check: want check(condition, message), got %d arguments", len(args)+len(kwargs))
	}
	cond := args[0]
	msg, ok := starlark.AsString(args[1])
	if !ok {
		return nil, fmt.Errorf("check: for parameter message: got %s, want string", args[1].Type())
	}
	if cond.Truth() {
		return starlark.True, nil
	}
	if r := s.pending; r != nil {
		r.fail(msg)
	} else {
		s.u.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: "CHECK", Name: msg}, Err: msg})
	}
	return starlark.False, nil
}

// record(name, seconds, ok=True, error="", kind="CUSTOM")
func recordBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	s, err := sessionFrom(thread, "record")
	if err != nil {
		return nil, err
	}
	var name, errMsg string
	kind := "CUSTOM"
	var secs starlark.Value
	ok := true
	if err := starlark.UnpackArgs("record", args, kwargs, "name", &name, "seconds", &secs,
		"ok?", &ok, "error?", &errMsg, "kind?", &kind); err != nil {
		return nil, err
	}
	d, err := toDuration(secs)
	if err != nil {
		return nil, fmt.Errorf("record: %v", err)
	}
	if !ok && errMsg == "" {
		errMsg = "failed"
	}
	s.u.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: kind, Name: name}, Latency: d, Err: errMsg})
	return starlark.None, nil
}

// count(name, n=1)
func countBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	s, err := sessionFrom(thread, "count")
	if err != nil {
		return nil, err
	}
	var name string
	n := 1
	if err := starlark.UnpackArgs("count", args, kwargs, "name", &name, "n?", &n); err != nil {
		return nil, err
	}
	s.u.Count(name, int64(n))
	return starlark.None, nil
}

// stop_run(reason): stops the whole run, as Locust's runner.quit(): the worker tells
// the master, which stops every worker and stores the reason. The user carries on
// until it is stopped; outside a run (a dry run) the call is counted instead, as
// the counter "stop_run: REASON".
func stopRunBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	s, err := sessionFrom(thread, "stop_run")
	if err != nil {
		return nil, err
	}
	var reason string
	if err := starlark.UnpackPositionalArgs("stop_run", args, kwargs, 1, &reason); err != nil {
		return nil, err
	}
	if reason == "" {
		return nil, errors.New("stop_run: say why, stop_run(\"error rate over 20%\")")
	}
	if !s.u.StopRun(reason) {
		s.u.Count("stop_run: "+reason, 1)
	}
	return starlark.None, nil
}

// sleep(seconds): pauses the task; ends early, failing the task, when the user stops.
func sleepBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	s, err := sessionFrom(thread, "sleep")
	if err != nil {
		return nil, err
	}
	var secs starlark.Value
	if err := starlark.UnpackPositionalArgs("sleep", args, kwargs, 1, &secs); err != nil {
		return nil, err
	}
	d, err := toDuration(secs)
	if err != nil {
		return nil, fmt.Errorf("sleep: %v", err)
	}
	if d <= 0 {
		return starlark.None, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return starlark.None, nil
	case <-s.ctx.Done():
		return nil, fmt.Errorf("sleep interrupted: %s", s.stopReason(s.ctx))
	}
}

// timer(name, kind="CUSTOM") starts a measurement; t.stop(ok=True, error="") records
// it and returns the seconds it took.
func timerBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	s, err := sessionFrom(thread, "timer")
	if err != nil {
		return nil, err
	}
	var name string
	kind := "CUSTOM"
	if err := starlark.UnpackArgs("timer", args, kwargs, "name", &name, "kind?", &kind); err != nil {
		return nil, err
	}
	t := &timerValue{s: s, ep: aggregate.Endpoint{Method: kind, Name: name}, start: time.Now()}
	s.timers = append(s.timers, t)
	return t, nil
}

type timerValue struct {
	s       *session
	ep      aggregate.Endpoint
	start   time.Time
	stopped bool
}

func (t *timerValue) String() string        { return fmt.Sprintf("<timer %s>", t.ep.Name) }
func (t *timerValue) Type() string          { return "timer" }
func (t *timerValue) Freeze()               {}
func (t *timerValue) Truth() starlark.Bool  { return true }
func (t *timerValue) Hash() (uint32, error) { return 0, errors.New("unhashable type: timer") }
func (t *timerValue) AttrNames() []string   { return []string{"stop"} }

func (t *timerValue) Attr(name string) (starlark.Value, error) {
	if name == "stop" {
		return timerStop.BindReceiver(t), nil
	}
	return nil, nil
}

var timerStop = starlark.NewBuiltin("stop", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	t := b.Receiver().(*timerValue)
	ok := true
	errMsg := ""
	if err := starlark.UnpackArgs("stop", args, kwargs, "ok?", &ok, "error?", &errMsg); err != nil {
		return nil, err
	}
	if t.stopped {
		return nil, fmt.Errorf("timer %q stopped twice", t.ep.Name)
	}
	if !ok && errMsg == "" {
		errMsg = "failed"
	}
	now := time.Now()
	t.record(now, errMsg)
	t.s.timers = slices.DeleteFunc(t.s.timers, func(o *timerValue) bool { return o == t })
	return starlark.Float(now.Sub(t.start).Seconds()), nil
})

func (t *timerValue) record(now time.Time, errMsg string) {
	t.stopped = true
	t.s.u.Record(aggregate.Sample{Endpoint: t.ep, Latency: now.Sub(t.start), Err: errMsg})
}
