package script

import (
	"context"
	"errors"
	"fmt"

	starjson "go.starlark.net/lib/json"
	"go.starlark.net/starlark"

	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// The globals of a script's once-per-run hooks.
const (
	// setupGlobal: def setup(ctx): runs once per run before any user starts; what it
	// returns (JSON-able, at most MaxSetupData) every user reads as u.setup.
	setupGlobal = "setup"
	// teardownGlobal: def teardown(ctx, data): runs once after the last user stopped,
	// with what setup returned (None without setup).
	teardownGlobal = "teardown"
)

// Names of the hook classes and of their tasks: their requests are recorded under
// these classes, apart from the users'.
const (
	SetupClassName    = "setup"
	TeardownClassName = "teardown"
)

// MaxSetupData caps setup's result, as JSON.
const MaxSetupData = 1 << 20

// lifecycle finds setup and teardown and decodes Options.SetupData for u.setup.
func (c *compiler) lifecycle(globals starlark.StringDict) {
	main := filePos(c.bundle.Main)
	if v, ok := globals[setupGlobal]; ok {
		if fn, isFn := v.(*starlark.Function); isFn && fn.NumParams() == 1 {
			c.p.setupFn = fn
		} else {
			c.problems.add(main, "setup must be a function of one argument: def setup(ctx): ... return data")
		}
	}
	if v, ok := globals[teardownGlobal]; ok {
		if fn, isFn := v.(*starlark.Function); isFn && fn.NumParams() == 2 {
			c.p.teardownFn = fn
		} else {
			c.problems.add(main, "teardown must be a function of two arguments: def teardown(ctx, data): ...")
		}
	}
	c.p.setupData = starlark.None
	if len(c.p.opts.SetupData) > 0 {
		v, err := decodeJSON(c.p.opts.SetupData)
		if err != nil {
			c.problems.add(main, "setup data: %v", err)
			return
		}
		v.Freeze() // shared by every user: read-only
		c.p.setupData = v
	}
}

func decodeJSON(data []byte) (starlark.Value, error) {
	thread := &starlark.Thread{Name: "setup data"}
	return starlark.Call(thread, starjson.Module.Members["decode"], starlark.Tuple{starlark.String(data)}, nil)
}

// HasSetup and HasTeardown tell whether the script defines the hooks.
func (p *Program) HasSetup() bool    { return p.setupFn != nil }
func (p *Program) HasTeardown() bool { return p.teardownFn != nil }

// SetupClass is a user class of one task that calls setup(ctx), ctx being a user
// (ctx.http, ctx.vars, env() as anywhere): run it once with a userbehavior.Runner
// (RunOnce), then result gives what setup returned, as JSON, or its error (a
// *TaskError with its traceback when the script raised). Without setup, both are nil.
func (p *Program) SetupClass() (c *userbehavior.Class, result func() ([]byte, error)) {
	if p.setupFn == nil {
		return nil, nil
	}
	var (
		data []byte
		err  = errors.New("setup did not run")
	)
	c = p.hookClass(SetupClassName, func(ctx context.Context, s *session) error {
		var v starlark.Value
		v, err = s.callWith(ctx, p.setupFn, s.args[:])
		if err != nil {
			return err
		}
		data, err = encodeJSON(v)
		if err == nil && len(data) > MaxSetupData {
			err = fmt.Errorf("setup returned %d bytes of JSON, more than the %d allowed", len(data), MaxSetupData)
		}
		return err
	})
	return c, func() ([]byte, error) { return data, err }
}

// TeardownClass is SetupClass for teardown(ctx, data), data being setup's JSON (None
// when empty).
func (p *Program) TeardownClass(data []byte) (c *userbehavior.Class, result func() error) {
	if p.teardownFn == nil {
		return nil, nil
	}
	err := errors.New("teardown did not run")
	c = p.hookClass(TeardownClassName, func(ctx context.Context, s *session) error {
		var arg starlark.Value = starlark.None
		if len(data) > 0 {
			if arg, err = decodeJSON(data); err != nil {
				return fmt.Errorf("setup data: %w", err)
			}
		}
		_, err = s.callWith(ctx, p.teardownFn, starlark.Tuple{s.args[0], arg})
		return err
	})
	return c, func() error { return err }
}

func (p *Program) hookClass(name string, fn func(ctx context.Context, s *session) error) *userbehavior.Class {
	return &userbehavior.Class{
		Name: name, Weight: 1, Sequential: true, Setup: p.setup,
		Wait: userbehavior.Wait{Kind: userbehavior.WaitNone},
		Tasks: []userbehavior.Task{{Name: name, Weight: 1, Fn: func(ctx context.Context, u *userbehavior.User) error {
			return fn(ctx, p.sessionOf(u))
		}}},
	}
}

func encodeJSON(v starlark.Value) ([]byte, error) {
	thread := &starlark.Thread{Name: "setup result"}
	s, err := starlark.Call(thread, starjson.Module.Members["encode"], starlark.Tuple{v}, nil)
	if err != nil {
		return nil, fmt.Errorf("setup must return a JSON-able value (None, bool, number, string, list, dict): %v", err)
	}
	return []byte(s.(starlark.String)), nil
}
