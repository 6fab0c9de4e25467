// Package lifecycle runs a binary's components in one group
// (github.com/oklog/run): each has a Run that serves until its Stop, and a Stop
// that makes Run return and releases what the component holds. When the first Run
// returns, every component is stopped in stage order, and the group returns once
// all have returned, with the first one's error: start order, shutdown order and
// the first error are in one place.
//
// Concurrency: a Group is built by one goroutine and then run once, by Run or
// Close; Stop functions are called one at a time, each at most once.
package lifecycle

import (
	"fmt"
	"slices"
	"sync"

	oklog "github.com/oklog/run"
)

// Component is one part of a binary: a listener and its server, a worker, a
// target. What it holds (a listener) was acquired when it was made. Run serves
// until Stop is called, or fails. Stop makes Run return and releases what the
// component holds, also when Run never ran (a setup that failed half way closes
// what it made without running it); Stop returns once its part of the shutdown is
// done, so the next stage finds it finished.
type Component struct {
	Name  string // what its Run's error is prefixed with; "" leaves the error as it is
	Stage int    // when it stops: lower stages first
	Run   func() error
	Stop  func()
}

// Group is a binary's components. The zero Group is ready to use.
type Group struct {
	parts []Component
}

// Add adds c: it stops after the components of lower stages and after those of
// its own stage added before it.
func (g *Group) Add(c Component) {
	c.Stop = sync.OnceFunc(c.Stop)
	i := len(g.parts)
	for i > 0 && g.parts[i-1].Stage > c.Stage {
		i--
	}
	g.parts = slices.Insert(g.parts, i, c)
}

// Run runs every component concurrently. When the first Run returns, each
// component is stopped in order; Run returns once every one has returned, with the
// first one's error (nil when it ended without one: a signal, or a run's end).
func (g *Group) Run() error {
	var og oklog.Group
	for _, c := range g.parts {
		og.Add(func() error {
			err := c.Run()
			if err != nil && c.Name != "" {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
			return err
		}, func(error) { c.Stop() })
	}
	return og.Run()
}

// Close stops every component without running it: what a setup that failed half way
// made is released.
func (g *Group) Close() {
	for _, c := range g.parts {
		c.Stop()
	}
}

// UntilStopped is the Run and Stop of a component that works in the background
// until it is stopped: Run returns nil once Stop has been called.
func UntilStopped() (run func() error, stop func()) {
	done := make(chan struct{})
	return func() error { <-done; return nil }, sync.OnceFunc(func() { close(done) })
}
