package script

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// Slice is this worker's share of the rows of "unique" feeders: rows i with
// i % Count == Index. The zero value is every row.
type Slice struct{ Index, Count int }

// Options configure a compiled Program.
type Options struct {
	Vars        map[string]string // what env("NAME", default) reads
	Tags        []string          // run only tasks with one of these tags (empty: all)
	ExcludeTags []string          // never run tasks with one of these tags
	Slice       Slice
	StepBudget  uint64        // Starlark execution steps per task call; 0: DefaultStepBudget
	TaskTimeout time.Duration // wall time per task call; 0: none beyond request timeouts
	// SetupData is what the script's setup(ctx) returned for this run, as JSON: every
	// user reads it, decoded and frozen, as u.setup (None when empty).
	SetupData []byte
}

// DefaultStepBudget is the Starlark execution steps a task call (and the top level of
// a bundle) may take when Options.StepBudget is 0: about a second of pure Starlark.
const DefaultStepBudget = 10_000_000

// fileOptions is the Starlark dialect of scripts: while loops, top-level if/for, and
// set() are allowed; recursion is not (a runaway recursion would exhaust the Go stack
// before the step budget stops it); a global is assigned once.
var fileOptions = &syntax.FileOptions{
	Set:             true,
	While:           true,
	TopLevelControl: true,
}

// Program is a compiled bundle: its user classes and the frozen module globals their
// functions share. It is safe for concurrent use by every user of a worker.
type Program struct {
	opts        Options
	budget      uint64
	overBudget  string // the reason a thread is cancelled when it runs out of steps
	classes     []*userbehavior.Class
	modules     map[string]starlark.StringDict
	predeclared starlark.StringDict
	threads     sync.Pool            // of *starlark.Thread for users' calls; see newThread
	thresholds  []string             // the main module's thresholds global
	shape       *starlark.Function   // the main module's shape(elapsed), or nil
	protos      *protoregistry.Files // the bundle's .proto files and protosets; nil: none
	files       map[string][]byte    // the bundle's files (a gRPC CA)
	setupFn     *starlark.Function   // the main module's setup(ctx), or nil
	teardownFn  *starlark.Function   // the main module's teardown(ctx, data), or nil
	setupData   starlark.Value       // u.setup: Options.SetupData decoded and frozen
}

// Classes returns the user classes in name order, ready for a userbehavior.Runner.
// The classes are shared: do not modify them.
func (p *Program) Classes() []*userbehavior.Class { return p.classes }

// Compile parses the bundle, runs its top level and builds and validates every user
// class. It reports every problem it finds as Errors with positions. Nothing but the
// top level of the modules runs before it returns.
func Compile(b Bundle, opts Options) (*Program, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	p := &Program{opts: opts, budget: opts.StepBudget, modules: map[string]starlark.StringDict{}}
	p.threads.New = p.newThread
	if p.budget == 0 {
		p.budget = DefaultStepBudget
	}
	p.overBudget = fmt.Sprintf("step budget of %d exceeded (runaway loop?)", p.budget)
	c := &compiler{p: p, bundle: b, state: map[string]loadState{}}
	if strings.HasSuffix(b.Main, ".py") {
		c.problems.add(filePos(b.Main), "%s", pyScriptHint)
	}
	if s := opts.Slice; s != (Slice{}) && (s.Count < 1 || s.Index < 0 || s.Index >= s.Count) {
		c.problems.add(filePos(""), "feeder slice %d of %d: want 0 <= index < count", s.Index, s.Count)
	}
	p.predeclared = p.builtins()
	p.files = b.Files
	p.protos = compileProtos(b, &c.problems)

	thread := &starlark.Thread{Name: "compile", Load: c.load, Print: func(*starlark.Thread, string) {}}
	thread.SetLocal(localCompiler, c)
	thread.SetMaxExecutionSteps(p.budget)
	thread.OnMaxSteps = func(t *starlark.Thread) { t.Cancel(p.overBudget) }
	globals, err := c.exec(thread, b.Main)
	if err != nil && !errors.Is(err, errLoadFailed) {
		c.problems.addErr(err)
	}
	if err == nil {
		c.buildClasses(globals)
		c.runSettings(globals)
		c.lifecycle(globals)
	}
	if err := c.problems.errors(); err != nil {
		return nil, err
	}
	for _, g := range p.modules {
		g.Freeze()
	}
	return p, nil
}

// Keys of Thread.Local.
const (
	localCompiler = "stampede.compiler"
	localSession  = "stampede.session"
)

type loadState int

const (
	loading loadState = iota + 1
	loaded
	failed
)

// errLoadFailed is returned by load for a module whose own errors were already
// recorded, so the load statement does not report them again.
var errLoadFailed = errors.New("module has errors")

// compiler holds what Compile needs while the top level runs.
type compiler struct {
	p        *Program
	bundle   Bundle
	problems problems
	state    map[string]loadState
	stack    []string // modules being loaded, outermost first
	nextID   uint32   // of task declarations (their hash)
}

// exec parses, checks and runs one module of the bundle.
func (c *compiler) exec(thread *starlark.Thread, name string) (starlark.StringDict, error) {
	c.state[name] = loading
	c.stack = append(c.stack, name)
	defer func() { c.stack = c.stack[:len(c.stack)-1] }()
	hinted := c.problems.addLocustHints(name, c.bundle.Files[name])
	f, err := fileOptions.Parse(name, c.bundle.Files[name], 0)
	if err != nil {
		c.state[name] = failed
		if isHinted(err, hinted) {
			return nil, errLoadFailed // the hint says it better
		}
		return nil, hintSyntax(err, c.bundle.Files[name])
	}
	lint(f, &c.problems)
	lintGRPC(f, c.p.protos, &c.problems)
	prog, err := starlark.FileProgram(f, c.p.predeclared.Has)
	if err != nil {
		c.state[name] = failed
		return nil, err
	}
	g, err := prog.Init(thread, c.p.predeclared)
	if err != nil {
		c.state[name] = failed
		return nil, err
	}
	c.state[name] = loaded
	c.p.modules[name] = g
	return g, nil
}

// load implements load(): modules come from the bundle only, by a path relative to
// the loading file.
func (c *compiler) load(thread *starlark.Thread, module string) (starlark.StringDict, error) {
	from := thread.CallFrame(0).Pos.Filename()
	name, err := bundlePath(from, module)
	if err != nil {
		return nil, err
	}
	if _, ok := c.bundle.Files[name]; !ok {
		return nil, fmt.Errorf("no file %s in the script bundle", name)
	}
	switch c.state[name] {
	case loaded:
		return c.p.modules[name], nil
	case failed:
		return nil, errLoadFailed
	case loading:
		i := slices.Index(c.stack, name)
		return nil, fmt.Errorf("load cycle: %s -> %s", strings.Join(c.stack[i:], " -> "), name)
	}
	g, err := c.exec(thread, name)
	if err != nil {
		if !errors.Is(err, errLoadFailed) {
			c.problems.addErr(err)
		}
		return nil, errLoadFailed
	}
	return g, nil
}

// bundlePath resolves module, as written in a load statement of file from, to a
// name in the bundle.
func bundlePath(from, module string) (string, error) {
	if module == "" || strings.HasPrefix(module, "/") || strings.Contains(module, `\`) {
		return "", fmt.Errorf("load path %q: want a path relative to %s", module, from)
	}
	name := path.Join(path.Dir(from), module)
	if name == ".." || strings.HasPrefix(name, "../") {
		return "", fmt.Errorf("load path %q leaves the script bundle", module)
	}
	return name, nil
}

// compilerOf is the compiler running the top level on thread, or nil in a task.
func compilerOf(thread *starlark.Thread) *compiler {
	c, _ := thread.Local(localCompiler).(*compiler)
	return c
}

// callerPos is the position of the Starlark call of the running built-in.
func callerPos(thread *starlark.Thread) syntax.Position {
	if thread.CallStackDepth() < 2 {
		return syntax.Position{}
	}
	return thread.CallFrame(1).Pos
}

// buildClasses turns every global that holds a user(...) into a userbehavior.Class
// named after the global, keeping only the tasks the tags select.
func (c *compiler) buildClasses(globals starlark.StringDict) {
	p := c.p
	main := filePos(c.bundle.Main)
	declared := 0
	for _, name := range globals.Keys() { // sorted
		d, ok := globals[name].(*classDecl)
		if !ok {
			continue
		}
		declared++
		if d.bad {
			continue
		}
		cls := &userbehavior.Class{
			Name:       name,
			Weight:     d.weight,
			FixedCount: d.fixedCount,
			Sequential: d.sequential,
			Wait:       d.wait,
			Setup:      p.setup,
		}
		for _, t := range d.tasks {
			if !p.selected(t.tags) {
				continue
			}
			cls.Tasks = append(cls.Tasks, userbehavior.Task{Name: t.name, Weight: t.weight, Fn: p.taskFunc(t.fn)})
		}
		if d.onStart != nil {
			cls.OnStart = p.taskFunc(d.onStart)
		}
		if d.onStop != nil {
			cls.OnStop = p.taskFunc(d.onStop)
		}
		if len(cls.Tasks) == 0 {
			continue // every task deselected by tags
		}
		if err := cls.Validate(); err != nil {
			c.problems.add(d.pos, "user class %s: %v", name, err)
			continue
		}
		p.classes = append(p.classes, cls)
	}
	switch {
	case declared == 0:
		c.problems.add(main, "no user classes: assign user(...) to a global, e.g. Shop = user(tasks=[browse])")
	case len(p.classes) == 0 && len(c.problems.list) == 0:
		c.problems.add(main, "no user class has a task left after tags %q and exclude-tags %q", p.opts.Tags, p.opts.ExcludeTags)
	}
}

// selected reports whether a task with tags runs under the options' tag filters.
func (p *Program) selected(tags []string) bool {
	for _, t := range tags {
		if slices.Contains(p.opts.ExcludeTags, t) {
			return false
		}
	}
	if len(p.opts.Tags) == 0 {
		return true
	}
	for _, t := range tags {
		if slices.Contains(p.opts.Tags, t) {
			return true
		}
	}
	return false
}
