package script

import (
	"errors"
	"fmt"
	"math"
	"time"

	"go.starlark.net/starlark"
)

// Run-level settings a script may declare at the top level of its main file, beside
// its user classes. The master reads them; workers ignore them.
const (
	// thresholdsGlobal: thresholds = ["p95<300ms", "error_rate<1%"], added to --threshold.
	thresholdsGlobal = "thresholds"
	// shapeGlobal: def shape(elapsed): ... returns (users, spawn_rate), users, or None
	// to end the run; asked each second on the master.
	shapeGlobal = "shape"
)

// Thresholds returns the threshold expressions of the script's `thresholds` global
// (unparsed: the caller parses them with the flags'), or nil.
func (p *Program) Thresholds() []string { return p.thresholds }

// HasShape reports whether the script defines shape(elapsed).
func (p *Program) HasShape() bool { return p.shape != nil }

// Shape asks the script's shape(elapsed) what the run should do elapsed into it: the
// users and the spawn rate (0: let the master choose), or ok false when it returns
// None (the run ends). A failing or malformed call is an error with the script's
// traceback.
func (p *Program) Shape(elapsed time.Duration) (users int, spawnRate float64, ok bool, err error) {
	if p.shape == nil {
		return 0, 0, false, errors.New("the script defines no shape()")
	}
	th := &starlark.Thread{Name: "shape", Load: p.load, Print: func(*starlark.Thread, string) {}}
	th.SetMaxExecutionSteps(p.budget)
	th.OnMaxSteps = func(t *starlark.Thread) { t.Cancel(p.overBudget) }
	v, err := starlark.Call(th, p.shape, starlark.Tuple{starlark.Float(elapsed.Seconds())}, nil)
	if err != nil {
		var ee *starlark.EvalError
		if errors.As(err, &ee) {
			return 0, 0, false, fmt.Errorf("%s", ee.Backtrace())
		}
		return 0, 0, false, err
	}
	switch v := v.(type) {
	case starlark.NoneType:
		return 0, 0, false, nil
	case starlark.Tuple:
		if len(v) != 2 {
			return 0, 0, false, fmt.Errorf("shape() returned a tuple of %d: want (users, spawn_rate) or None", len(v))
		}
		if users, err = shapeUsers(v[0]); err != nil {
			return 0, 0, false, err
		}
		f, ok := starlark.AsFloat(v[1])
		if !ok || math.IsNaN(f) || f < 0 {
			return 0, 0, false, fmt.Errorf("shape() returned spawn rate %s: want a number >= 0", v[1])
		}
		return users, f, true, nil
	default:
		users, err = shapeUsers(v)
		return users, 0, err == nil, err
	}
}

func shapeUsers(v starlark.Value) (int, error) {
	var n int
	if err := starlark.AsInt(v, &n); err != nil || n < 0 {
		return 0, fmt.Errorf("shape() returned users %s: want an int >= 0", v)
	}
	return n, nil
}

// runSettings reads the thresholds and shape globals of the main module.
func (c *compiler) runSettings(globals starlark.StringDict) {
	main := filePos(c.bundle.Main)
	if v, ok := globals[thresholdsGlobal]; ok {
		seq, isSeq := v.(starlark.Indexable)
		if !isSeq || v.Type() == "string" {
			c.problems.add(main, "thresholds must be a list of strings such as [\"p95<300ms\"], got %s", v.Type())
		} else {
			for i := range seq.Len() {
				s, ok := starlark.AsString(seq.Index(i))
				if !ok {
					c.problems.add(main, "thresholds[%d] must be a string, got %s", i, seq.Index(i).Type())
					continue
				}
				c.p.thresholds = append(c.p.thresholds, s)
			}
		}
	}
	if v, ok := globals[shapeGlobal]; ok {
		fn, isFn := v.(*starlark.Function)
		if !isFn || fn.NumParams() != 1 {
			c.problems.add(main, "shape must be a function of one argument, def shape(elapsed): return (users, spawn_rate) or None")
			return
		}
		c.p.shape = fn
	}
}
