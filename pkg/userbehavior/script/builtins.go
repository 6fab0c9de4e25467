package script

import (
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"strings"

	starjson "go.starlark.net/lib/json"
	starmath "go.starlark.net/lib/math"
	startime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// builtins are the names every module of the program sees besides Starlark's own.
func (p *Program) builtins() starlark.StringDict {
	d := starlark.StringDict{
		"user":     starlark.NewBuiltin("user", userBuiltin),
		"task":     starlark.NewBuiltin("task", taskBuiltin),
		"sequence": starlark.NewBuiltin("sequence", sequenceBuiltin),
		"check":    starlark.NewBuiltin("check", checkBuiltin),
		"record":   starlark.NewBuiltin("record", recordBuiltin),
		"timer":    starlark.NewBuiltin("timer", timerBuiltin),
		"count":    starlark.NewBuiltin("count", countBuiltin),
		"sleep":    starlark.NewBuiltin("sleep", sleepBuiltin),
		"stop_run": starlark.NewBuiltin("stop_run", stopRunBuiltin),
		"uuid":     starlark.NewBuiltin("uuid", uuidBuiltin),
		"fail":     starlark.NewBuiltin("fail", failBuiltin),
		"env":      starlark.NewBuiltin("env", p.envBuiltin),
		"data":     p.dataModule(),
		"random":   randomModule,
		"json":     starjson.Module,
		"time":     startime.Module,
		"math":     starmath.Module,
	}
	for k, v := range waitBuiltins() {
		d[k] = v
	}
	return d
}

// env(name, default): a --var NAME=VALUE given to the run, else default; without a
// default a missing variable is an error.
func (p *Program) envBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var dflt starlark.Value
	if err := starlark.UnpackArgs("env", args, kwargs, "name", &name, "default?", &dflt); err != nil {
		return nil, err
	}
	if v, ok := p.opts.Vars[name]; ok {
		return starlark.String(v), nil
	}
	if dflt == nil {
		return nil, fmt.Errorf("env: variable %s is not set (give --var %s=VALUE, or a default: env(%q, \"...\"))", name, name, name)
	}
	return dflt, nil
}

// fail(*args): raises an error that fails the task (Starlark has no raise).
func failBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(kwargs) > 0 {
		return nil, fmt.Errorf("fail: unexpected keyword arguments")
	}
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = str(a)
	}
	msg := strings.Join(parts, " ")
	if msg == "" {
		msg = "fail() called"
	}
	return nil, fmt.Errorf("%s", msg)
}

// uuid(): a random (version 4) UUID string.
func uuidBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs("uuid", args, kwargs, 0); err != nil {
		return nil, err
	}
	var u [16]byte
	_, _ = crand.Read(u[:]) // never fails (crypto/rand)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return starlark.String(fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])), nil
}

// randomModule draws from the user's own generator (User.Rand) in a task, from a
// process-wide one at the top level.
var randomModule = &starlarkstruct.Module{Name: "random", Members: starlark.StringDict{
	"random":  starlark.NewBuiltin("random.random", randomRandom),
	"randint": starlark.NewBuiltin("random.randint", randomRandint),
	"uniform": starlark.NewBuiltin("random.uniform", randomUniform),
	"choice":  starlark.NewBuiltin("random.choice", randomChoice),
	"shuffle": starlark.NewBuiltin("random.shuffle", randomShuffle),
}}

type randSource interface {
	Float64() float64
	Int64N(int64) int64
	IntN(int) int
	Shuffle(int, func(i, j int))
}

type globalRand struct{}

func (globalRand) Float64() float64                { return rand.Float64() }
func (globalRand) Int64N(n int64) int64            { return rand.Int64N(n) }
func (globalRand) IntN(n int) int                  { return rand.IntN(n) }
func (globalRand) Shuffle(n int, f func(i, j int)) { rand.Shuffle(n, f) }

func rng(thread *starlark.Thread) randSource {
	if _, s := running(thread); s != nil && s.u.Rand != nil {
		return s.u.Rand
	}
	return globalRand{}
}

func randomRandom(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
		return nil, err
	}
	return starlark.Float(rng(thread).Float64()), nil
}

// randint(a, b): an int in [a, b].
func randomRandint(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var lo, hi int64
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &lo, &hi); err != nil {
		return nil, err
	}
	if hi < lo {
		return nil, fmt.Errorf("%s: empty range [%d, %d]", b.Name(), lo, hi)
	}
	span := uint64(hi - lo)
	if span >= 1<<62 {
		return nil, fmt.Errorf("%s: range [%d, %d] too wide", b.Name(), lo, hi)
	}
	return starlark.MakeInt64(lo + rng(thread).Int64N(int64(span)+1)), nil
}

func randomUniform(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var lo, hi starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &lo, &hi); err != nil {
		return nil, err
	}
	a, ok1 := starlark.AsFloat(lo)
	z, ok2 := starlark.AsFloat(hi)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%s: want numbers, got %s and %s", b.Name(), lo.Type(), hi.Type())
	}
	return starlark.Float(a + (z-a)*rng(thread).Float64()), nil
}

func randomChoice(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var seq starlark.Indexable
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &seq); err != nil {
		return nil, err
	}
	if seq.Len() == 0 {
		return nil, fmt.Errorf("%s: empty sequence", b.Name())
	}
	return seq.Index(rng(thread).IntN(seq.Len())), nil
}

func randomShuffle(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var list *starlark.List
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &list); err != nil {
		return nil, err
	}
	var err error
	rng(thread).Shuffle(list.Len(), func(i, j int) {
		x, y := list.Index(i), list.Index(j)
		if e := list.SetIndex(i, y); e != nil {
			err = e
		}
		_ = list.SetIndex(j, x)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	return starlark.None, nil
}
