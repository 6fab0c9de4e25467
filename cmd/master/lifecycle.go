package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/store"
	"github.com/stampede-load/stampede/pkg/userbehavior"
	"github.com/stampede-load/stampede/pkg/userbehavior/script"
)

// teardownLimit bounds teardown(ctx, data): it runs after the run, also after Ctrl-C,
// and must not keep the master up for ever.
const teardownLimit = time.Minute

// hooks are a script's setup(ctx) and teardown(ctx, data), run once per run by the
// master's own process against the run's host, before any user starts and after the
// last one stopped. Their requests are recorded apart from the run's (the run's
// totals never include them) and printed as their own tables.
type hooks struct {
	prog *script.Program
	sc   userbehavior.Scenario
	data []byte // what setup returned, as JSON
}

// newHooks compiles the scenario's script for its hooks; nil when it has none.
func newHooks(sc userbehavior.Scenario) (*hooks, error) {
	if sc.Script == nil {
		return nil, nil
	}
	s := sc.Script
	prog, err := script.Compile(script.Bundle{Main: s.Main, Files: s.Files}, script.Options{Vars: s.Vars, Tags: s.Tags,
		ExcludeTags: s.ExcludeTags})
	if err != nil {
		return nil, err
	}
	if !prog.HasSetup() && !prog.HasTeardown() {
		return nil, nil
	}
	return &hooks{prog: prog, sc: sc}, nil
}

// hookError is a failed setup or teardown, with the script's traceback.
type hookError struct {
	hook      string
	err       error
	traceback string
}

func (e *hookError) Error() string { return e.hook + " failed: " + e.err.Error() }
func (e *hookError) Unwrap() error { return e.err }

func newHookError(hook string, err error) *hookError {
	he := &hookError{hook: hook, err: err}
	var tb userbehavior.TracebackError
	if errors.As(err, &tb) {
		he.traceback = tb.Traceback()
	}
	return he
}

// setup runs setup(ctx) once and returns the scenario the users get: the same, with
// what setup returned as their u.setup. Without setup it returns sc unchanged.
func (h *hooks) setup(ctx context.Context, w io.Writer) (userbehavior.Scenario, error) {
	class, result := h.prog.SetupClass()
	if class == nil {
		return h.sc, nil
	}
	fmt.Fprintf(w, "setup: running setup(ctx) against %s\n", h.sc.Host)
	snap, err := h.runHook(ctx, class)
	if err == nil {
		h.data, err = result()
	}
	writeHookTable(w, script.SetupClassName, snap)
	if err != nil {
		return h.sc, newHookError(script.SetupClassName, err)
	}
	fmt.Fprintf(w, "setup: returned %d bytes of JSON, read by every user as u.setup\n", len(h.data))
	sc := h.sc
	spec := *sc.Script
	spec.SetupData = h.data
	sc.Script = &spec
	return sc, nil
}

// teardown runs teardown(ctx, data) once, within teardownLimit, even when ctx (the
// run's) has ended: the run was stopped, and its data must still be cleaned up.
func (h *hooks) teardown(ctx context.Context, w io.Writer) error {
	class, result := h.prog.TeardownClass(h.data)
	if class == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownLimit)
	defer cancel()
	fmt.Fprintf(w, "\nteardown: running teardown(ctx, data) against %s\n", h.sc.Host)
	snap, err := h.runHook(ctx, class)
	if err == nil {
		err = result()
	}
	writeHookTable(w, script.TeardownClassName, snap)
	if err != nil {
		return newHookError(script.TeardownClassName, err)
	}
	return nil
}

// runHook runs a hook's class once, as one user, and returns what its requests recorded.
func (h *hooks) runHook(ctx context.Context, class *userbehavior.Class) (*aggregate.Snapshot, error) {
	col := aggregate.NewCollector(time.Now())
	runner, err := userbehavior.NewRunner(userbehavior.RunnerConfig{Classes: []*userbehavior.Class{class}, Host: h.sc.Host,
		Collector: col, HTTP: h.sc.HTTP.Apply(userbehavior.HTTPConfig{})})
	if err != nil {
		return nil, err
	}
	err = runner.RunOnce(ctx, class.Name)
	return col.Swap(time.Now()), err
}

func writeHookTable(w io.Writer, hook string, snap *aggregate.Snapshot) {
	if snap == nil || len(snap.Endpoints) == 0 {
		return
	}
	fmt.Fprintf(w, "%s requests (not in the run's totals):\n", hook)
	report.WriteTable(w, snap, snap.End.Sub(snap.Start))
	fmt.Fprintln(w)
}

// storeSetupFailure stores a run that failed in setup, before any load: its reason
// and the traceback, as an event, so `master runs show` and the dashboard's history
// tell why.
func storeSetupFailure(db *store.DB, label string, err *hookError) (string, error) {
	now := time.Now()
	id := store.NewRunID(now)
	if e := db.CreateRun(store.Run{ID: id, Status: store.StatusRunning, Label: label, StartedAt: now}); e != nil {
		return "", e
	}
	detail := err.Error()
	if err.traceback != "" {
		detail += "\n" + err.traceback
	}
	if e := db.AppendEvent(id, store.Event{At: now, Kind: store.EventSetupFailed, Detail: detail}); e != nil {
		return id, e
	}
	return id, db.FinishRun(id, store.StatusFailed, err.Error(), time.Now(), store.Summary{}, aggregate.NewSnapshot(now))
}

// printHookError writes a failed hook's message and traceback.
func printHookError(w io.Writer, err error) {
	var he *hookError
	if !errors.As(err, &he) {
		return
	}
	fmt.Fprintf(w, "%s\n", he.Error())
	if he.traceback != "" {
		fmt.Fprintf(w, "%s\n", he.traceback)
	}
}
