package aggregate

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestCountersAndExceptionsThroughTheCollector(t *testing.T) {
	c := NewCollector(t0)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.NewRecorder()
			for i := range 1000 {
				r.Count("cache_hit", 1)
				if i%10 == 0 {
					r.Count("cache_miss", 2)
				}
				if i%100 == 0 {
					r.Exception(fmt.Sprintf("boom %d", g%2), "main.star:1:1")
				}
			}
			r.Flush()
		}()
	}
	wg.Wait()
	s := c.Swap(t0.Add(time.Second))
	if s.Counters["cache_hit"] != 4000 || s.Counters["cache_miss"] != 800 {
		t.Errorf("counters %v", s.Counters)
	}
	if s.Exceptions[ExceptionKey{"boom 0", "main.star:1:1"}] != 20 || s.Exceptions[ExceptionKey{"boom 1", "main.star:1:1"}] != 20 {
		t.Errorf("exceptions %v", s.Exceptions)
	}
	if next := c.Swap(t0.Add(2 * time.Second)); len(next.Counters) != 0 || len(next.Exceptions) != 0 {
		t.Errorf("next interval not empty: %v %v", next.Counters, next.Exceptions)
	}
}

func TestExtrasMergeCapsAndRoundTrip(t *testing.T) {
	a, b := NewSnapshot(t0), NewSnapshot(t0)
	for i := range MaxCounters {
		a.AddCount(fmt.Sprintf("c%04d", i), 1)
	}
	b.AddCount("c0000", 5)
	b.AddCount("new", 3)
	b.AddException(ExceptionKey{"x", "tb"}, 2)
	a.Merge(b)
	if a.Counters["c0000"] != 6 || a.Counters[OtherCounters] != 3 || len(a.Counters) != MaxCounters+1 {
		t.Errorf("cap: c0000=%d other=%d len=%d", a.Counters["c0000"], a.Counters[OtherCounters], len(a.Counters))
	}
	enc, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := back.UnmarshalBinary(enc); err != nil || !back.Equal(a) {
		t.Fatalf("round trip: %v", err)
	}
	if c := a.Clone(); !c.Equal(a) {
		t.Error("clone differs")
	}
}
