package scheduler

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

func TestParseStages(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Stages
	}{
		{"ramp hold down", "30s:100,2m:100,30s:0", Stages{{30 * time.Second, 100}, {2 * time.Minute, 100}, {30 * time.Second, 0}}},
		{"one stage", "1m:5", Stages{{time.Minute, 5}}},
		{"jump then hold", "0s:20,10s:20", Stages{{0, 20}, {10 * time.Second, 20}}},
		{"fractional rate", "1m30s:2.5", Stages{{90 * time.Second, 2.5}}},
		{"spaces", " 10s : 1 , 20s:0 ", Stages{{10 * time.Second, 1}, {20 * time.Second, 0}}},
		{"milliseconds", "500ms:3", Stages{{500 * time.Millisecond, 3}}},
		{"leading dot", "1s:.5", Stages{{time.Second, 0.5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStages(tt.in)
			if err != nil {
				t.Fatalf("ParseStages(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseStages(%q) = %v, want %v", tt.in, got, tt.want)
			}
			again, err := ParseStages(got.String())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("ParseStages(String() = %q) = %v, %v; want %v", got.String(), again, err, got)
			}
		})
	}
}

func TestParseStagesErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", `stages: empty; write duration:target stages such as 30s:100,2m:100,30s:0`},
		{"30s", `stage 1 "30s": want duration:target, such as 30s:100`},
		{"30:100", `stage 1 "30:100": duration "30" needs a unit, such as 30s`},
		{"3x:100", `stage 1 "3x:100": duration "3x": not a duration such as 30s or 2m`},
		{"-5s:10", `stage 1 "-5s:10": duration "-5s" is negative`},
		{":10", `stage 1 ":10": missing duration before ':'`},
		{"5s:", `stage 1 "5s:": missing target after ':'`},
		{"5s:-1", `stage 1 "5s:-1": target "-1" is negative`},
		{"5s:ten", `stage 1 "5s:ten": target "ten": not a number`},
		{"5s:1e3", `stage 1 "5s:1e3": target "1e3": not a number`},
		{"5s:1.2.3", `stage 1 "5s:1.2.3": target "1.2.3": not a number`},
		{"5s:1,,", "stage 2 \"\": want duration:target, such as 30s:100\nstage 3 \"\": want duration:target, such as 30s:100"},
		{"1s:1000000001", `stage 1: target 1.000000001e+09 must be between 0 and 1e+09`},
		{"2562047h:1,1h:1", `stage 2: total duration overflows (beyond 2562047h47m16.854775807s)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseStages(tt.in)
			if err == nil {
				t.Fatalf("ParseStages(%q) = %v, want an error", tt.in, got)
			}
			if err.Error() != tt.want {
				t.Errorf("ParseStages(%q) error\n got: %s\nwant: %s", tt.in, err, tt.want)
			}
			if !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("error %v does not match ErrInvalidRequest", err)
			}
		})
	}
}

func TestStagesValidate(t *testing.T) {
	bad := Stages{{-time.Second, 1}, {time.Second, math.NaN()}, {time.Second, -2}, {time.Second, math.Inf(1)}}
	err := bad.Validate()
	want := "stage 1: duration -1s is negative\nstage 2: target NaN must be between 0 and 1e+09\n" +
		"stage 3: target -2 must be between 0 and 1e+09\nstage 4: target +Inf must be between 0 and 1e+09"
	if err == nil || err.Error() != want {
		t.Fatalf("Validate() = %v, want\n%s", err, want)
	}
	if err := (Stages(nil)).Validate(); err != nil {
		t.Errorf("nil Stages: %v", err)
	}
	if err := Constant(3, time.Second).Validate(); err != nil {
		t.Errorf("Constant: %v", err)
	}
}

func TestStagesAt(t *testing.T) {
	ramp := Stages{{30 * time.Second, 100}, {2 * time.Minute, 100}, {30 * time.Second, 0}}
	jumps := Stages{{10 * time.Second, 10}, {0, 50}, {10 * time.Second, 50}, {0, 5}, {0, 0}}
	tests := []struct {
		name  string
		s     Stages
		at    time.Duration
		want  float64
		done  bool
		total time.Duration
	}{
		{"ramp start", ramp, 0, 0, false, 3 * time.Minute},
		{"ramp middle", ramp, 15 * time.Second, 50, false, 3 * time.Minute},
		{"ramp end is the target", ramp, 30 * time.Second, 100, false, 3 * time.Minute},
		{"hold", ramp, time.Minute, 100, false, 3 * time.Minute},
		{"hold end", ramp, 150 * time.Second, 100, false, 3 * time.Minute},
		{"down middle", ramp, 165 * time.Second, 50, false, 3 * time.Minute},
		{"end", ramp, 3 * time.Minute, 0, true, 3 * time.Minute},
		{"after the end", ramp, time.Hour, 0, true, 3 * time.Minute},
		{"before the start", ramp, -time.Second, 0, false, 3 * time.Minute},
		{"before a jump", jumps, 10*time.Second - 1, 10 - 1e-9, false, 20 * time.Second},
		{"at a jump: right-continuous", jumps, 10 * time.Second, 50, false, 20 * time.Second},
		{"jumps at the end", jumps, 20 * time.Second, 0, true, 20 * time.Second},
		{"constant at 0", Constant(7, time.Second), 0, 7, false, time.Second},
		{"constant at the end", Constant(7, time.Second), time.Second, 7, true, time.Second},
		{"empty", nil, 0, 0, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, done := tt.s.At(tt.at)
			if math.Abs(got-tt.want) > 1e-9 || done != tt.done {
				t.Errorf("At(%v) = %v, %v; want %v, %v", tt.at, got, done, tt.want, tt.done)
			}
			if d := tt.s.Duration(); d != tt.total {
				t.Errorf("Duration() = %v, want %v", d, tt.total)
			}
		})
	}
}

func TestUsersAt(t *testing.T) {
	ramp := Stages{{30 * time.Second, 100}, {2 * time.Minute, 100}, {30 * time.Second, 0}}
	slow := Stages{{100 * time.Second, 10}}
	spike := Stages{{10 * time.Second, 10}, {0, 200}, {10 * time.Second, 200}, {0, 10}, {10 * time.Second, 10}}
	tests := []struct {
		name  string
		s     Stages
		at    time.Duration
		users int
		rate  float64
		done  bool
	}{
		{"ramp up: slope", ramp, 0, 0, 100.0 / 30, false},
		{"ramp up rounds to nearest", ramp, 10*time.Second + 200*time.Millisecond, 34, 100.0 / 30, false},
		{"ramp target at the boundary", ramp, 30 * time.Second, 100, 1, false},
		{"hold: at least 1", ramp, time.Minute, 100, 1, false},
		{"ramp down: slope", ramp, 160 * time.Second, 67, 100.0 / 30, false},
		{"slow ramp: at least 1", slow, 50 * time.Second, 5, 1, false},
		{"end", ramp, 3 * time.Minute, 0, 1, true},
		{"jump up: the jump per second", spike, 10 * time.Second, 200, 190, false},
		{"after a jump, still the jump rate", spike, 19 * time.Second, 200, 190, false},
		{"jump down", spike, 20 * time.Second, 10, 190, false},
		{"jump at 0", Constant(40, time.Minute), 0, 40, 40, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users, rate, done := tt.s.UsersAt(tt.at)
			if users != tt.users || math.Abs(rate-tt.rate) > 1e-9 || done != tt.done {
				t.Errorf("UsersAt(%v) = %d, %v, %v; want %d, %v, %v", tt.at, users, rate, done, tt.users, tt.rate, tt.done)
			}
		})
	}
}

func TestIterations(t *testing.T) {
	tests := []struct {
		name string
		s    Stages
		at   time.Duration
		want float64
	}{
		{"constant", Constant(10, 10*time.Second), 10 * time.Second, 100},
		{"constant, part", Constant(10, 10*time.Second), 2500 * time.Millisecond, 25},
		{"constant, after the end", Constant(10, 10*time.Second), time.Hour, 100},
		{"ramp up: t²/2", Stages{{10 * time.Second, 10}}, 4 * time.Second, 8},
		{"ramp up whole", Stages{{10 * time.Second, 10}}, 10 * time.Second, 50},
		{"ramp down from 10 to 0: 10t - t²/2", Stages{{0, 10}, {10 * time.Second, 0}}, 4 * time.Second, 32},
		{"ramp down whole", Stages{{0, 10}, {10 * time.Second, 0}}, 10 * time.Second, 50},
		{"three stages", Stages{{10 * time.Second, 20}, {20 * time.Second, 20}, {10 * time.Second, 0}}, 35 * time.Second, 100 + 400 + 75},
		{"zero rate", Stages{{10 * time.Second, 0}}, 10 * time.Second, 0},
		{"before the start", Constant(10, time.Second), -time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Iterations(tt.at); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("Iterations(%v) = %v, want %v", tt.at, got, tt.want)
			}
		})
	}
}

func TestDue(t *testing.T) {
	ramp := Stages{{10 * time.Second, 10}}
	tests := []struct {
		name string
		s    Stages
		k    int64
		want time.Duration
		ok   bool
	}{
		{"constant: first after one interval", Constant(10, 10*time.Second), 0, 100 * time.Millisecond, true},
		{"constant: 43rd", Constant(10, 10*time.Second), 42, 4300 * time.Millisecond, true},
		{"constant: the last is due at the end", Constant(10, 10*time.Second), 99, 10 * time.Second, true},
		{"constant: none after the end", Constant(10, 10*time.Second), 100, 0, false},
		{"ramp up: sqrt(2(k+1)) s", ramp, 0, 1414213563, true},
		{"ramp up: k=7", ramp, 7, 4 * time.Second, true},
		{"ramp up: last", ramp, 49, 10 * time.Second, true},
		{"ramp up: beyond", ramp, 50, 0, false},
		{"negative k", ramp, -1, 0, false},
		{"empty shape", nil, 0, 0, false},
		{"after a zero-rate stage", Stages{{time.Minute, 0}, {0, 1}, {time.Minute, 1}}, 0, time.Minute + time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.s.Due(tt.k)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Due(%d) = %v, %v; want %v, %v", tt.k, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// randomShape is a shape of 1-5 stages with durations up to 20 s (some jumps) and rates up to
// 300/s (some zero), from r.
func randomShape(r *rand.Rand) Stages {
	s := make(Stages, 1+r.IntN(5))
	for i := range s {
		if r.IntN(5) > 0 {
			s[i].Duration = time.Duration(r.Int64N(int64(20 * time.Second)))
		}
		if r.IntN(6) > 0 {
			s[i].Target = float64(r.IntN(300)) + float64(r.IntN(4))/4
		}
	}
	return s
}

// checkArrivals checks the arrival-rate contract of s: Due is exactly the first nanosecond the
// integral reaches k+1, non-decreasing, counted by Count; n workers splitting by k%n run each
// iteration once and within 1 of each other.
func checkArrivals(t *testing.T, s Stages, workers int) {
	t.Helper()
	end := s.Duration()
	total := s.Count(end)
	if total > 20000 {
		t.Fatalf("%v: %d iterations, too many for a test", s, total)
	}
	per := make([]int64, workers)
	var prev time.Duration
	for k := int64(0); ; k++ {
		due, ok := s.Due(k)
		if !ok {
			if k != total {
				t.Fatalf("%v: Due stops at k=%d, Count(end)=%d (Iterations %v)", s, k, total, s.Iterations(end))
			}
			break
		}
		need := float64(k) + 1
		if due <= 0 || due > end {
			t.Fatalf("%v: Due(%d) = %v outside (0, %v]", s, k, due, end)
		}
		if s.Iterations(due) < need || s.Iterations(due-1) >= need {
			t.Fatalf("%v: Due(%d) = %v is not the first nanosecond with Iterations >= %v (%v, %v)",
				s, k, due, need, s.Iterations(due-1), s.Iterations(due))
		}
		if due < prev {
			t.Fatalf("%v: Due(%d) = %v before Due(%d) = %v", s, k, due, k-1, prev)
		}
		if c := s.Count(due); c < k+1 {
			t.Fatalf("%v: Count(Due(%d)) = %d", s, k, c)
		}
		prev = due
		per[k%int64(workers)]++
	}
	var sum, lo, hi int64 = 0, math.MaxInt64, 0
	for _, n := range per {
		sum += n
		lo, hi = min(lo, n), max(hi, n)
	}
	if sum != total || hi-lo > 1 {
		t.Fatalf("%v: per-worker counts %v: sum %d (want %d), spread %d", s, per, sum, total, hi-lo)
	}
}

func TestArrivalsProperties(t *testing.T) {
	fixed := []Stages{
		Constant(200, 20*time.Second),
		{{10 * time.Second, 300}, {5 * time.Second, 300}, {10 * time.Second, 0}},
		{{time.Second, 0}, {0, 0.25}, {time.Minute, 0.25}},
		{{7 * time.Second, 3}, {0, 250}, {3 * time.Second, 250}, {0, 3}, {7 * time.Second, 3}},
	}
	for i, s := range fixed {
		checkArrivals(t, s, 3+i)
	}
	r := rand.New(rand.NewPCG(6, 6))
	for range 40 {
		checkArrivals(t, randomShape(r), 1+r.IntN(7))
	}
}

// TestStageBoundaries: every stage of positive duration ends exactly on its target, and At
// agrees with Iterations' derivative (the integral of At over a small step).
func TestStageBoundaries(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for range 100 {
		s := randomShape(r)
		var at time.Duration
		for i, st := range s {
			at += st.Duration
			if st.Duration == 0 || (i+1 < len(s) && s[i+1].Duration == 0) {
				continue // a jump follows: the value at that instant is the jump's
			}
			if v, _ := s.At(at); v != st.Target {
				t.Fatalf("%v: At(%v) = %v, want stage %d's target %v", s, at, v, i+1, st.Target)
			}
		}
		for _, frac := range []float64{0.1, 0.37, 0.5, 0.81} {
			t0 := time.Duration(frac * float64(s.Duration()))
			if seg, ok := s.find(t0); !ok || t0+time.Millisecond > seg.start+s[seg.i].Duration {
				continue
			}
			v0, _ := s.At(t0)
			v1, _ := s.At(t0 + time.Millisecond)
			got := s.Iterations(t0+time.Millisecond) - s.Iterations(t0)
			if want := (v0 + v1) / 2 * 0.001; math.Abs(got-want) > 1e-6 {
				t.Fatalf("%v: iterations over 1ms at %v = %v, want %v", s, t0, got, want)
			}
		}
	}
}
