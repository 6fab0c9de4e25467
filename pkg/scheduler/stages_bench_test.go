package scheduler

import (
	"testing"
	"time"
)

// BenchmarkDue is one worker asking when its next iteration is due, as an arrival-rate
// executor does once per iteration: a ramping shape of three stages, 1000/s at the peak.
func BenchmarkDue(b *testing.B) {
	s := Stages{{time.Minute, 1000}, {5 * time.Minute, 1000}, {time.Minute, 0}}
	n := s.Count(s.Duration())
	b.ReportAllocs()
	k := int64(0)
	for b.Loop() {
		if _, ok := s.Due(k); !ok {
			b.Fatal("past the end")
		}
		k = (k + 7919) % n
	}
}

// BenchmarkUsersAt is the controller's per-tick question for a users shape.
func BenchmarkUsersAt(b *testing.B) {
	s, err := Preset("spike", 1000, 10*time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	t := time.Duration(0)
	for b.Loop() {
		s.UsersAt(t)
		t = (t + 997*time.Millisecond) % s.Duration()
	}
}
