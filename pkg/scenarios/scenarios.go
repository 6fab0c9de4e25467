// Package scenarios turns a run's Scenario into user classes on a worker: the plain
// HTTP user, the classes compiled into the binaries (the demo), or a Starlark script
// bundle. Both binaries resolve through it, so master-side validation and workers
// agree on what a scenario means.
//
// Concurrency: Resolve and Load are safe for concurrent use.
package scenarios

import (
	"github.com/stampede-load/stampede/pkg/demo"
	"github.com/stampede-load/stampede/pkg/userbehavior"
	"github.com/stampede-load/stampede/pkg/userbehavior/script"
)

// Builtins are the user classes compiled into the binaries.
var Builtins = userbehavior.Builtins{demo.Name: demo.Classes}

// Placement is a worker's place among the run's workers (0-based Index of Count);
// a script's unique data rows are shared out by it.
type Placement struct {
	Index, Count int
}

// Resolve returns the scenario's user classes for a worker at placement p.
func Resolve(sc userbehavior.Scenario, p Placement) ([]*userbehavior.Class, error) {
	r, err := Load(sc, p)
	return r.Classes, err
}

// Resolved is a scenario compiled for a worker at a placement.
type Resolved struct {
	Classes []*userbehavior.Class
	// Program is the compiled script (its thresholds and shape() too), or nil when
	// the scenario is not a script.
	Program *script.Program
}

// Load compiles the scenario once for a worker at placement p: its classes and, for
// a script, the program the master also reads thresholds and shape() from.
func Load(sc userbehavior.Scenario, p Placement) (Resolved, error) {
	if s := sc.Script; s != nil {
		prog, err := script.Compile(script.Bundle{Main: s.Main, Files: s.Files}, script.Options{
			Vars: s.Vars, Tags: s.Tags, ExcludeTags: s.ExcludeTags, SetupData: s.SetupData,
			Slice: script.Slice{Index: p.Index, Count: p.Count},
		})
		if err != nil {
			return Resolved{}, err
		}
		return Resolved{Classes: prog.Classes(), Program: prog}, nil
	}
	classes, err := sc.Classes(Builtins)
	return Resolved{Classes: classes}, err
}
