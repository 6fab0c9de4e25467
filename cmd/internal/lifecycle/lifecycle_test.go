package lifecycle

import (
	"errors"
	"slices"
	"sync"
	"testing"
)

// TestStopOrderAndFirstError: the first Run to return stops every component, by
// stage and then in the order added, and its error (named) is the group's.
func TestStopOrderAndFirstError(t *testing.T) {
	var mu sync.Mutex
	var stopped []string
	var g Group
	fail := make(chan struct{})
	add := func(name string, stage int, run func() error) {
		r, s := UntilStopped()
		if run == nil {
			run = r
		}
		g.Add(Component{Name: name, Stage: stage, Run: run, Stop: func() {
			mu.Lock()
			stopped = append(stopped, name)
			mu.Unlock()
			s()
			if name == "failing" {
				close(fail)
			}
		}})
	}
	add("last", 2, nil)
	add("failing", 1, func() error { return errors.New("boom") })
	add("first", 0, nil)
	add("also last", 2, nil)
	err := g.Run()
	if err == nil || err.Error() != "failing: boom" {
		t.Errorf("Run = %v, want the first error, named: failing: boom", err)
	}
	if want := []string{"first", "failing", "last", "also last"}; !slices.Equal(stopped, want) {
		t.Errorf("stopped %v, want %v", stopped, want)
	}
}

// TestCloseStopsWithoutRunning: a setup that fails half way releases what it made.
func TestCloseStopsWithoutRunning(t *testing.T) {
	var g Group
	n := 0
	for range 3 {
		g.Add(Component{Run: func() error { t.Error("Run called"); return nil }, Stop: func() { n++ }})
	}
	g.Close()
	g.Close() // each Stop at most once
	if n != 3 {
		t.Errorf("%d stops, want 3", n)
	}
}
