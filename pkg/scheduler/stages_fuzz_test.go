package scheduler

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// FuzzParseStages: ParseStages never panics; what it accepts is valid, prints back to itself,
// ends each ramp on its target and keeps the arrival contract for its first iterations.
func FuzzParseStages(f *testing.F) {
	for _, seed := range []string{"30s:100,2m:100,30s:0", "0s:10,1m:10", "1s:.5", "5s:", "-1s:3", "1h:1e9", " 10s : 1 , 20s:0 "} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseStages(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("ParseStages(%q): error %v does not match ErrInvalidRequest", in, err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("ParseStages(%q) accepted an invalid shape: %v", in, err)
		}
		again, err := ParseStages(s.String())
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("ParseStages(%q) = %v; String() %q parses to %v, %v", in, s, s.String(), again, err)
		}
		var at time.Duration
		for i, st := range s {
			at += st.Duration
			if st.Duration == 0 || (i+1 < len(s) && s[i+1].Duration == 0) {
				continue
			}
			if v, _ := s.At(at); v != st.Target {
				t.Fatalf("%v: At(%v) = %v, want stage %d's target %v", s, at, v, i+1, st.Target)
			}
		}
		if _, done := s.At(s.Duration()); !done {
			t.Fatalf("%v: not done at its end", s)
		}
		var prev time.Duration
		for k := range int64(50) {
			due, ok := s.Due(k)
			if !ok {
				if c := s.Count(s.Duration()); c != k {
					t.Fatalf("%v: Due stops at %d, Count(end) = %d", s, k, c)
				}
				break
			}
			need := float64(k) + 1
			if due < prev || due > s.Duration() || s.Iterations(due) < need || s.Iterations(due-1) >= need {
				t.Fatalf("%v: Due(%d) = %v (previous %v): Iterations there %v, 1ns before %v",
					s, k, due, prev, s.Iterations(due), s.Iterations(due-1))
			}
			prev = due
		}
	})
}
