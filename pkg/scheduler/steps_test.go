package scheduler

import (
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// checkSteps fails t unless steps take current to target, stops before spawns, with every
// prefix of each group holding each class in proportion (floor or ceiling of its share).
func checkSteps(t *testing.T, current, target map[string]int, steps []Step) {
	t.Helper()
	now := make(map[string]int)
	for class, n := range current {
		now[class] = n
	}
	var stops, spawns []Step
	for i, s := range steps {
		switch {
		case s.Delta == -1 && len(spawns) == 0:
			stops = append(stops, s)
		case s.Delta == +1:
			spawns = append(spawns, s)
		default:
			t.Fatalf("step %d = %+v after %d spawns", i, s, len(spawns))
		}
		now[s.Class] += s.Delta
	}
	for _, class := range unionKeys(now, target) {
		if now[class] != target[class] {
			t.Errorf("class %q: steps reach %d users, want %d", class, now[class], target[class])
		}
	}
	checkProportional(t, "stops", stops)
	checkProportional(t, "spawns", spawns)
}

func checkProportional(t *testing.T, group string, steps []Step) {
	t.Helper()
	total := make(map[string]int)
	for _, s := range steps {
		total[s.Class]++
	}
	s := len(steps)
	done := make(map[string]int)
	for k, step := range steps {
		done[step.Class]++
		for class, n := range total {
			// floor(k*n/s) <= done <= ceil(k*n/s), with k counted from 1.
			lo, hi := (k+1)*n/s, ((k+1)*n+s-1)/s
			if done[class] < lo || done[class] > hi {
				t.Fatalf("%s: after %d of %d, class %q has %d of %d, want %d..%d: %v",
					group, k+1, s, class, done[class], n, lo, hi, steps)
			}
		}
	}
	// Tijdeman's bound: with m >= 2 classes some order keeps every gap within 1-1/(2m-2),
	// so the best order does too.
	if m := len(total); m >= 2 {
		if gap := largestGap(steps); gap*(2*m-2) > s*(2*m-3) {
			t.Errorf("%s: largest gap %d/%d is over 1-1/%d: %v", group, gap, s, 2*m-2, steps)
		}
	}
}

// largestGap is the largest |s*done_c(k) - k*n_c| over classes c and prefixes k, for s steps
// with n_c of class c: s times the largest gap to exact proportion.
func largestGap(steps []Step) int {
	total := make(map[string]int)
	for _, s := range steps {
		total[s.Class]++
	}
	s := len(steps)
	done := make(map[string]int)
	gap := 0
	for k, step := range steps {
		done[step.Class]++
		for class, n := range total {
			g := s*done[class] - (k+1)*n
			gap = max(gap, g, -g)
		}
	}
	return gap
}

// bestGap is the least largestGap over every order of counts[c] steps of class c, found by
// trying them all. Only for tiny inputs.
func bestGap(counts map[string]int) int {
	names := slices.Sorted(maps.Keys(counts))
	s := 0
	for _, n := range counts {
		s += n
	}
	left := maps.Clone(counts)
	order := make([]Step, 0, s)
	best := math.MaxInt
	var try func()
	try = func() {
		if len(order) == s {
			best = min(best, largestGap(order))
			return
		}
		for _, class := range names {
			if left[class] > 0 {
				left[class]--
				order = append(order, Step{Class: class, Delta: 1})
				try()
				order = order[:len(order)-1]
				left[class]++
			}
		}
	}
	try()
	return best
}

// compact writes steps as "+a +a -b".
func compact(steps []Step) string {
	var b strings.Builder
	for i, s := range steps {
		if i > 0 {
			b.WriteByte(' ')
		}
		if s.Delta > 0 {
			b.WriteByte('+')
		} else {
			b.WriteByte('-')
		}
		b.WriteString(s.Class)
	}
	return b.String()
}

func TestSteps(t *testing.T) {
	tests := []struct {
		name    string
		current map[string]int
		target  map[string]int
		want    string
	}{
		{name: "nothing to do", current: users("a", 2), target: users("a", 2), want: ""},
		{name: "both empty", want: ""},
		{
			name:   "3:1 interleaves, B centred in each group of four",
			target: users("a", 6, "b", 2),
			want:   "+a +a +b +a +a +a +b +a",
		},
		{
			name:   "1:2 puts the larger share first",
			target: users("a", 1, "b", 2),
			want:   "+b +a +b",
		},
		{
			name:   "equal shares alternate in name order",
			target: users("c", 2, "b", 2, "a", 2),
			want:   "+a +b +c +a +b +c",
		},
		{
			name:    "stops first, then spawns",
			current: users("a", 3, "b", 0, "c", 1),
			target:  users("a", 1, "b", 2, "c", 2),
			want:    "-a -a +b +c +b",
		},
		{
			name:    "stops interleave too",
			current: users("a", 3, "b", 1),
			want:    "-a -a -b -a",
		},
		{
			name:    "class missing from target is stopped",
			current: users("old", 2, "a", 1),
			target:  users("a", 2),
			want:    "-old -old +a",
		},
		{
			name:   "one class of many",
			target: users("a", 1, "b", 7),
			want:   "+b +b +b +a +b +b +b +b",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := Steps(tt.current, tt.target)
			if got := compact(steps); got != tt.want {
				t.Errorf("Steps = %q, want %q", got, tt.want)
			}
			checkSteps(t, tt.current, tt.target, steps)
			if again := Steps(tt.current, tt.target); !reflect.DeepEqual(again, steps) {
				t.Errorf("Steps again = %v, want %v", again, steps)
			}
		})
	}
}

func TestStepsLeavesInputsAlone(t *testing.T) {
	current, target := users("a", 1), users("a", 3, "b", 1)
	Steps(current, target)
	if !reflect.DeepEqual(current, users("a", 1)) || !reflect.DeepEqual(target, users("a", 3, "b", 1)) {
		t.Errorf("Steps changed its inputs: current %v, target %v", current, target)
	}
}
