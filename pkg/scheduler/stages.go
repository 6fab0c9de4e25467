package scheduler

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Stage is one piece of a load shape: over Duration the value moves linearly from the previous
// stage's Target (0 before the first stage) to Target. A stage of Duration 0 is a jump: the value
// is Target from that instant on.
type Stage struct {
	Duration time.Duration
	Target   float64 // users, or iterations per second; >= 0
}

// Stages is a load shape: a value (users, or an arrival rate in iterations per second) as a
// function of the time elapsed since the run started. It starts at 0 and follows each [Stage] in
// turn; it ends after the last one. The zero value is a shape that is over at once.
//
// Stages is used as a value: its methods never change it. Build one with [ParseStages],
// [Preset] or [Constant], or as a literal (then call [Stages.Validate]).
type Stages []Stage

// Limits of one shape.
const (
	MaxStages = 1000 // stages
	MaxTarget = 1e9  // users, or iterations per second
)

// stagesError is one problem in a shape; it matches [ErrInvalidRequest].
type stagesError struct{ msg string }

func (e *stagesError) Error() string { return e.msg }
func (e *stagesError) Unwrap() error { return ErrInvalidRequest }

func stagesErrorf(format string, args ...any) error {
	return &stagesError{msg: fmt.Sprintf(format, args...)}
}

// ParseStages reads a shape written as comma-separated "duration:target" stages, such as
// "30s:100,2m:100,30s:0" (ramp to 100 over 30 s, hold for 2 min, ramp down to 0 over 30 s).
// Durations are Go durations ("30s", "1m30s", "0s" for a jump); targets are non-negative
// decimal numbers. Spaces around the parts are ignored. All problems are reported at once, each
// naming the stage, and each matches [ErrInvalidRequest].
func ParseStages(s string) (Stages, error) {
	if strings.TrimSpace(s) == "" {
		return nil, stagesErrorf("stages: empty; write duration:target stages such as 30s:100,2m:100,30s:0")
	}
	parts := strings.Split(s, ",")
	if len(parts) > MaxStages {
		return nil, stagesErrorf("stages: %d stages, at most %d", len(parts), MaxStages)
	}
	var errs []error
	st := make(Stages, 0, len(parts))
	for i, part := range parts {
		stage, err := parseStage(strings.TrimSpace(part))
		if err != nil {
			errs = append(errs, stagesErrorf("stage %d %q: %v", i+1, strings.TrimSpace(part), err))
			continue
		}
		st = append(st, stage)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return st, nil
}

func parseStage(part string) (Stage, error) {
	ds, ts, ok := strings.Cut(part, ":")
	if !ok {
		return Stage{}, errors.New("want duration:target, such as 30s:100")
	}
	ds, ts = strings.TrimSpace(ds), strings.TrimSpace(ts)
	if ds == "" {
		return Stage{}, errors.New("missing duration before ':'")
	}
	d, err := time.ParseDuration(ds)
	if err != nil {
		if _, numErr := strconv.ParseFloat(ds, 64); numErr == nil {
			return Stage{}, fmt.Errorf("duration %q needs a unit, such as %ss", ds, ds)
		}
		return Stage{}, fmt.Errorf("duration %q: not a duration such as 30s or 2m", ds)
	}
	if d < 0 {
		return Stage{}, fmt.Errorf("duration %q is negative", ds)
	}
	if ts == "" {
		return Stage{}, errors.New("missing target after ':'")
	}
	v, err := parseTarget(ts)
	if err != nil {
		return Stage{}, err
	}
	return Stage{Duration: d, Target: v}, nil
}

// parseTarget accepts plain decimals ("100", "2.5"): no sign, exponent, hex or underscores.
func parseTarget(ts string) (float64, error) {
	digits, dot := 0, 0
	for _, r := range ts {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '.':
			dot++
		case r == '-':
			return 0, fmt.Errorf("target %q is negative", ts)
		default:
			return 0, fmt.Errorf("target %q: not a number", ts)
		}
	}
	if digits == 0 || dot > 1 {
		return 0, fmt.Errorf("target %q: not a number", ts)
	}
	v, err := strconv.ParseFloat(ts, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, fmt.Errorf("target %q: out of range", ts)
	}
	return v, nil
}

// Validate reports every problem of a shape built by hand: too many stages, a negative
// duration, a target that is not a number between 0 and MaxTarget, or a total duration beyond what
// time.Duration holds. A nil or empty Stages is valid (over at once).
func (s Stages) Validate() error {
	var errs []error
	if len(s) > MaxStages {
		errs = append(errs, stagesErrorf("stages: %d stages, at most %d", len(s), MaxStages))
	}
	var total time.Duration
	for i, st := range s {
		if st.Duration < 0 {
			errs = append(errs, stagesErrorf("stage %d: duration %v is negative", i+1, st.Duration))
		} else if total > math.MaxInt64-st.Duration {
			errs = append(errs, stagesErrorf("stage %d: total duration overflows (beyond %v)", i+1, time.Duration(math.MaxInt64)))
		} else {
			total += st.Duration
		}
		if !(st.Target >= 0 && st.Target <= MaxTarget) {
			errs = append(errs, stagesErrorf("stage %d: target %v must be between 0 and %v", i+1, st.Target, MaxTarget))
		}
	}
	return errors.Join(errs...)
}

// String writes s back as [ParseStages] reads it: "30s:100,2m0s:100,30s:0".
func (s Stages) String() string {
	var b strings.Builder
	for i, st := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(st.Duration.String())
		b.WriteByte(':')
		b.WriteString(strconv.FormatFloat(st.Target, 'f', -1, 64))
	}
	return b.String()
}

// Duration returns the length of the shape, the sum of its stages' durations.
func (s Stages) Duration() time.Duration {
	var total time.Duration
	for _, st := range s {
		total += st.Duration
	}
	return total
}

// segment is where elapsed falls: stage index i, which starts at start with value from.
type segment struct {
	i     int
	start time.Duration
	from  float64
}

// find returns the stage of positive duration that holds elapsed (start <= elapsed <
// start+Duration), with the value it starts from after any jumps at its start; ok is false at or
// after the end (or before 0).
func (s Stages) find(elapsed time.Duration) (segment, bool) {
	if elapsed < 0 {
		return segment{}, false
	}
	var start time.Duration
	from := 0.0
	for i, st := range s {
		if st.Duration > 0 && elapsed < start+st.Duration {
			return segment{i: i, start: start, from: from}, true
		}
		start += st.Duration
		from = st.Target
	}
	return segment{}, false
}

// last is the value the shape ends on: the last stage's target, or 0 for no stages.
func (s Stages) last() float64 {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1].Target
}

// At returns the value at elapsed since the start, and whether the shape is over (elapsed >=
// Duration). The value is linear within a stage and right-continuous at a jump; at the end of a
// stage it is exactly that stage's Target. Before 0 it is 0; after the end, the last target.
func (s Stages) At(elapsed time.Duration) (value float64, done bool) {
	if elapsed < 0 {
		return 0, len(s) == 0
	}
	seg, ok := s.find(elapsed)
	if !ok {
		return s.last(), true
	}
	st := s[seg.i]
	return lerp(seg.from, st.Target, elapsed-seg.start, st.Duration), false
}

// lerp is the value a fraction tau/d of the way from a to b.
func lerp(a, b float64, tau, d time.Duration) float64 {
	if tau == 0 {
		return a
	}
	return a + (b-a)*(float64(tau)/float64(d))
}

// UsersAt is what the run controller asks for at each tick of a users shape: the target number
// of users at elapsed (the value of the shape rounded to the nearest integer) and the
// cluster-wide spawn rate, in users per second, to reach it with. The spawn rate is the slope of
// the current stage, and, when the stage began with a jump, the size of that jump per second (so
// a jump is taken within about a second); never less than 1. done reports the end of the shape,
// when the controller stops the run.
func (s Stages) UsersAt(elapsed time.Duration) (users int, spawnRate float64, done bool) {
	v, done := s.At(elapsed)
	users = int(math.Round(v))
	spawnRate = 1
	seg, ok := s.find(max(elapsed, 0))
	if !ok {
		return users, spawnRate, done
	}
	st := s[seg.i]
	slope := math.Abs(st.Target-seg.from) / st.Duration.Seconds()
	spawnRate = max(spawnRate, slope, s.jumpInto(seg))
	return users, spawnRate, done
}

// jumpInto is the size of the jump at the start of the stage seg: the change made by the stages
// of Duration 0 just before it.
func (s Stages) jumpInto(seg segment) float64 {
	before := 0.0
	j := seg.i - 1
	for j >= 0 && s[j].Duration == 0 {
		j--
	}
	if j >= 0 {
		before = s[j].Target
	}
	return math.Abs(seg.from - before)
}

// Constant is the shape of a constant value for d: a jump to value at 0, held until d. For an
// arrival rate, Constant(rate, d) is the constant-arrival-rate executor.
func Constant(value float64, d time.Duration) Stages {
	return Stages{{Duration: 0, Target: value}, {Duration: d, Target: value}}
}
