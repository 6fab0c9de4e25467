package script

import (
	"fmt"
	"math"
	"time"

	libtime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// This file holds what the top level of a script declares: user classes, tasks and
// wait strategies. The built-ins here record a problem and carry on where they can,
// so that Compile reports every problem of a bundle at once.

// classDecl is the value of user(...).
type classDecl struct {
	pos        syntax.Position
	bad        bool // a problem was recorded: build no class
	weight     int
	fixedCount int
	tasks      []*taskDecl
	sequential bool
	wait       userbehavior.Wait
	onStart    *starlark.Function
	onStop     *starlark.Function
}

func (d *classDecl) String() string        { return fmt.Sprintf("<user class declared at %s>", d.pos) }
func (d *classDecl) Type() string          { return "user" }
func (d *classDecl) Freeze()               {}
func (d *classDecl) Truth() starlark.Bool  { return true }
func (d *classDecl) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: user") }

// taskDecl is the value of task(fn, ...), or a plain function given as a task.
type taskDecl struct {
	id     uint32
	pos    syntax.Position
	fn     *starlark.Function
	name   string
	tags   []string
	weight int // set when the class is declared
}

func (t *taskDecl) String() string        { return fmt.Sprintf("<task %s>", t.name) }
func (t *taskDecl) Type() string          { return "task" }
func (t *taskDecl) Freeze()               {}
func (t *taskDecl) Truth() starlark.Bool  { return true }
func (t *taskDecl) Hash() (uint32, error) { return t.id, nil }

// waitValue is the value of between(...), constant(...) and the other wait built-ins.
type waitValue struct{ w userbehavior.Wait }

func (w waitValue) String() string        { return "<wait " + w.w.String() + ">" }
func (w waitValue) Type() string          { return "wait" }
func (w waitValue) Freeze()               {}
func (w waitValue) Truth() starlark.Bool  { return true }
func (w waitValue) Hash() (uint32, error) { return uint32(len(w.w.Kind)), nil }

// noWait is none, the wait built-in that is also its own value: wait=none and
// wait=none() both mean no wait, so every wait may be written as a call.
type noWait struct{ waitValue }

func (noWait) Name() string { return "none" }

func (n noWait) CallInternal(_ *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs("none", args, kwargs, 0); err != nil {
		return nil, err
	}
	return n, nil
}

// topLevel returns the compiler when fn is called from the top level, or an error.
func topLevel(thread *starlark.Thread, fn string) (*compiler, error) {
	c := compilerOf(thread)
	if c == nil {
		return nil, fmt.Errorf("%s() may only be called at the top level of a script", fn)
	}
	return c, nil
}

// user(weight=1, fixed_count=0, tasks, wait=None, on_start=None, on_stop=None)
func userBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	c, err := topLevel(thread, "user")
	if err != nil {
		return nil, err
	}
	d := &classDecl{pos: callerPos(thread), weight: 1}
	problem := func(format string, args ...any) {
		d.bad = true
		c.problems.add(d.pos, format, args...)
	}
	if len(args) > 0 {
		problem("user: takes keyword arguments only (user(tasks=..., weight=..., wait=...))")
	}
	var tasks, wait, onStart, onStop starlark.Value = nil, starlark.None, starlark.None, starlark.None
	weight, fixed := -1, 0
	if err := starlark.UnpackArgs("user", nil, kwargs,
		"tasks", &tasks, "weight?", &weight, "fixed_count?", &fixed,
		"wait?", &wait, "on_start?", &onStart, "on_stop?", &onStop); err != nil {
		problem("%v", err)
		return d, nil
	}
	switch {
	case weight == -1:
	case weight <= 0:
		problem("user: weight must be >= 1, got %d", weight)
	default:
		d.weight = weight
	}
	if fixed < 0 {
		problem("user: fixed_count must be >= 0, got %d", fixed)
	}
	d.fixedCount = fixed
	switch w := wait.(type) {
	case waitValue:
		d.wait = w.w
	case noWait:
		d.wait = w.w
	case starlark.NoneType:
		d.wait = userbehavior.Wait{Kind: userbehavior.WaitNone}
	default:
		problem("user: wait must be between(...), constant(...), constant_pacing(...), constant_throughput(...) or none, got %s", wait.Type())
	}
	d.tasks, d.sequential = c.declTasks(d, tasks)
	for _, hook := range []struct {
		name string
		v    starlark.Value
		dst  **starlark.Function
	}{{"on_start", onStart, &d.onStart}, {"on_stop", onStop, &d.onStop}} {
		if hook.v == starlark.None {
			continue
		}
		fn, ok := hook.v.(*starlark.Function)
		if !ok {
			problem("user: %s must be a function taking the user, got %s", hook.name, hook.v.Type())
			continue
		}
		if msg := checkParams(fn); msg != "" {
			c.problems.add(fn.Position(), "%s %s %s", hook.name, fn.Name(), msg)
			d.bad = true
		}
		*hook.dst = fn
	}
	return d, nil
}

// declTasks reads user(tasks=...): a dict of task to weight (picked at random) or a
// list of tasks (run in order). A task is a function or task(fn, ...).
func (c *compiler) declTasks(d *classDecl, v starlark.Value) ([]*taskDecl, bool) {
	problem := func(format string, args ...any) {
		d.bad = true
		c.problems.add(d.pos, format, args...)
	}
	var out []*taskDecl
	add := func(x starlark.Value, weight int) {
		t, msg := c.asTask(x)
		if msg != "" {
			problem("user: %s", msg)
			return
		}
		if msg := checkParams(t.fn); msg != "" {
			c.problems.add(t.fn.Position(), "task %s %s", t.name, msg)
			d.bad = true
			return
		}
		tc := *t
		tc.weight = weight
		out = append(out, &tc)
	}
	switch v := v.(type) {
	case *starlark.Dict:
		for _, kv := range v.Items() {
			w, err := starlark.AsInt32(kv[1])
			switch {
			case err != nil:
				problem("user: the weight of task %s must be an int, got %s", kv[0], kv[1].Type())
			case w <= 0:
				problem("user: the weight of task %s must be >= 1, got %d", taskName(kv[0]), w)
			default:
				add(kv[0], w)
			}
		}
		if v.Len() == 0 {
			problem("user: no tasks")
		}
		return out, false
	case *starlark.List, starlark.Tuple:
		seq := v.(starlark.Indexable)
		for i := range seq.Len() {
			add(seq.Index(i), 1)
		}
		if seq.Len() == 0 {
			problem("user: no tasks")
		}
		return out, true
	}
	problem("user: tasks must be a dict {task: weight} (random picks) or a list [task, ...] or sequence(task, ...) (in order), got %s", v.Type())
	return nil, false
}

// asTask accepts a function or a task(...) value.
func (c *compiler) asTask(x starlark.Value) (*taskDecl, string) {
	switch x := x.(type) {
	case *taskDecl:
		return x, ""
	case *starlark.Function:
		c.nextID++
		return &taskDecl{id: c.nextID, pos: x.Position(), fn: x, name: x.Name()}, ""
	}
	return nil, fmt.Sprintf("a task must be a function or task(fn, ...), got %s", x.Type())
}

func taskName(x starlark.Value) string {
	switch x := x.(type) {
	case *taskDecl:
		return x.name
	case *starlark.Function:
		return x.Name()
	}
	return x.String()
}

// checkParams reports why fn cannot be called with the user as its only argument,
// or "" when it can.
func checkParams(fn *starlark.Function) string {
	n := fn.NumParams() - fn.NumKwonlyParams()
	if fn.HasVarargs() {
		n--
	}
	if fn.HasKwargs() {
		n--
	}
	required := 0
	for i := range fn.NumParams() {
		if i < n && fn.ParamDefault(i) == nil {
			required++
		}
		if i >= n && i < n+fn.NumKwonlyParams() && fn.ParamDefault(i) == nil {
			return "has a required keyword-only parameter; want one parameter, the user"
		}
	}
	if required > 1 || (n == 0 && !fn.HasVarargs()) {
		return fmt.Sprintf("takes %d parameters; want one, the user: def %s(u): ...", required, fn.Name())
	}
	return ""
}

// sequence(a, b, ...): tasks run in order, round and round; the same as the list
// [a, b, ...], named so that nobody reads it as Locust's tasks list (a random pick).
func sequenceBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(kwargs) > 0 {
		return nil, fmt.Errorf("sequence: takes tasks only, sequence(login, browse, logout)")
	}
	return append(starlark.Tuple(nil), args...), nil
}

// task(fn, tags=[], name=fn's name)
func taskBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	c, err := topLevel(thread, "task")
	if err != nil {
		return nil, err
	}
	var fn *starlark.Function
	var tags *starlark.List
	name := ""
	for _, kv := range kwargs {
		if kv[0] == starlark.String("weight") {
			return nil, fmt.Errorf("task: no weight here; give it as the value in the tasks dict: tasks={task(fn, tags=[...]): 2}")
		}
	}
	if err := starlark.UnpackArgs("task", args, kwargs, "fn", &fn, "tags?", &tags, "name?", &name); err != nil {
		return nil, err
	}
	c.nextID++
	t := &taskDecl{id: c.nextID, pos: callerPos(thread), fn: fn, name: fn.Name()}
	if name != "" {
		t.name = name
	}
	if tags != nil {
		for i := range tags.Len() {
			s, ok := starlark.AsString(tags.Index(i))
			if !ok || s == "" {
				return nil, fmt.Errorf("task: tags must be non-empty strings, got %s", tags.Index(i))
			}
			t.tags = append(t.tags, s)
		}
	}
	return t, nil
}

// The wait built-ins: between(min, max), constant(s), constant_pacing(s),
// constant_throughput(n), and the value none. Durations are seconds (int or float)
// or a time.duration.

func waitBuiltins() starlark.StringDict {
	mk := func(name string, kind userbehavior.WaitKind, nargs int) *starlark.Builtin {
		return starlark.NewBuiltin(name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			c, err := topLevel(thread, name)
			if err != nil {
				return nil, err
			}
			none := waitValue{userbehavior.Wait{Kind: userbehavior.WaitNone}}
			problem := func(format string, args ...any) (starlark.Value, error) {
				c.problems.add(callerPos(thread), name+": "+format, args...)
				return none, nil
			}
			vals := make([]starlark.Value, nargs)
			ptrs := make([]any, nargs)
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := starlark.UnpackPositionalArgs(name, args, kwargs, nargs, ptrs...); err != nil {
				c.problems.add(callerPos(thread), "%v", err)
				return none, nil
			}
			w := userbehavior.Wait{Kind: kind}
			if kind == userbehavior.WaitConstantThroughput {
				f, ok := starlark.AsFloat(vals[0])
				if !ok {
					return problem("want tasks per second as a number, got %s", vals[0].Type())
				}
				w.PerSecond = f
			} else {
				for i, v := range vals {
					d, err := toDuration(v)
					if err != nil {
						return problem("%v", err)
					}
					if d < 0 {
						return problem("negative duration %v", vals[i])
					}
					if i == 0 {
						w.Min = d
					} else {
						w.Max = d
					}
				}
			}
			if kind == userbehavior.WaitBetween && w.Max < w.Min {
				return problem("min %s is greater than max %s", vals[0], vals[1])
			}
			if err := w.Validate(); err != nil {
				return problem("%v", err)
			}
			return waitValue{w}, nil
		})
	}
	return starlark.StringDict{
		"between":             mk("between", userbehavior.WaitBetween, 2),
		"constant":            mk("constant", userbehavior.WaitConstant, 1),
		"constant_pacing":     mk("constant_pacing", userbehavior.WaitConstantPacing, 1),
		"constant_throughput": mk("constant_throughput", userbehavior.WaitConstantThroughput, 1),
		"none":                noWait{waitValue{userbehavior.Wait{Kind: userbehavior.WaitNone}}},
	}
}

// maxSeconds bounds durations given in seconds, so they fit a time.Duration.
const maxSeconds = float64(math.MaxInt64 / int64(time.Second))

// toDuration reads seconds (int or float) or a time.duration.
func toDuration(v starlark.Value) (time.Duration, error) {
	switch d := v.(type) {
	case libtime.Duration:
		return time.Duration(d), nil
	case starlark.Int, starlark.Float:
		f, _ := starlark.AsFloat(v)
		if math.IsNaN(f) || math.Abs(f) > maxSeconds {
			return 0, fmt.Errorf("duration %s out of range", v)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	return 0, fmt.Errorf("want seconds (int or float) or a time.duration, got %s", v.Type())
}
