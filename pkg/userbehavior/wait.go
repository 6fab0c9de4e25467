package userbehavior

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// WaitKind names a wait strategy, as Locust does.
type WaitKind string

// Wait strategies between two tasks of a user.
const (
	WaitNone               WaitKind = "none"                // next task at once
	WaitConstant           WaitKind = "constant"            // Min after each task
	WaitBetween            WaitKind = "between"             // uniform in [Min, Max]
	WaitConstantPacing     WaitKind = "constant_pacing"     // a task starts every Min, whatever it took
	WaitConstantThroughput WaitKind = "constant_throughput" // PerSecond tasks per second per user
)

// maxThroughputInterval bounds 1/PerSecond of constant_throughput: beyond it the
// interval would not fit a time.Duration (float-to-int conversion is undefined there
// and came out negative, so a user meant to idle spun without pause). It is also the
// longest duration the master sends to workers.
const maxThroughputInterval = 1_000_000 * time.Second

// Wait is how long a user pauses after a task. The zero value waits not at all.
type Wait struct {
	Kind      WaitKind
	Min, Max  time.Duration
	PerSecond float64
}

// Validate checks the strategy's parameters.
func (w Wait) Validate() error {
	switch w.Kind {
	case "", WaitNone:
		return nil
	case WaitConstant, WaitConstantPacing:
		if w.Min < 0 {
			return fmt.Errorf("wait %s: negative duration %v", w.Kind, w.Min)
		}
	case WaitBetween:
		if w.Min < 0 || w.Max < w.Min {
			return fmt.Errorf("wait between: want 0 <= min <= max, got %v..%v", w.Min, w.Max)
		}
	case WaitConstantThroughput:
		if !(w.PerSecond > 0) {
			return fmt.Errorf("wait constant_throughput: want tasks per second > 0, got %v", w.PerSecond)
		}
		if 1/w.PerSecond > maxThroughputInterval.Seconds() {
			return fmt.Errorf("wait constant_throughput: %v tasks per second is one task in longer than %v", w.PerSecond, maxThroughputInterval)
		}
	default:
		return fmt.Errorf("unknown wait strategy %q", w.Kind)
	}
	return nil
}

// Pace returns the interval between task starts a paced user means to keep
// (constant_pacing, constant_throughput), 0 for the other strategies: what
// coordinated omission is corrected against.
func (w Wait) Pace() time.Duration {
	switch w.Kind {
	case WaitConstantPacing:
		return w.Min
	case WaitConstantThroughput:
		if w.PerSecond > 0 {
			return time.Duration(float64(time.Second) / w.PerSecond)
		}
	}
	return 0
}

// Delay returns how long to wait after a task that started at taskStart and ended at now.
func (w Wait) Delay(taskStart, now time.Time, rnd *rand.Rand) time.Duration {
	switch w.Kind {
	case WaitConstant:
		return w.Min
	case WaitBetween:
		if w.Max == w.Min {
			return w.Min
		}
		// Uint64N: Max-Min+1 overflows int64 when the range spans every Duration.
		return w.Min + time.Duration(rnd.Uint64N(uint64(w.Max-w.Min)+1))
	case WaitConstantPacing:
		return max(0, w.Min-now.Sub(taskStart))
	case WaitConstantThroughput:
		return max(0, time.Duration(float64(time.Second)/w.PerSecond)-now.Sub(taskStart))
	}
	return 0
}

// String gives the form ParseWait reads.
func (w Wait) String() string {
	switch w.Kind {
	case WaitConstant:
		return w.Min.String()
	case WaitBetween:
		return w.Min.String() + ".." + w.Max.String()
	case WaitConstantPacing:
		return "pacing:" + w.Min.String()
	case WaitConstantThroughput:
		return "throughput:" + strconv.FormatFloat(w.PerSecond, 'g', -1, 64)
	}
	return "none"
}

// ParseWait reads a wait strategy from a flag value:
//
//	none | 0          no wait
//	1s                constant(1s)
//	1s..3s            between(1s, 3s)
//	pacing:2s         constant_pacing(2s)
//	throughput:5      constant_throughput(5 tasks/s)
func ParseWait(s string) (Wait, error) {
	s = strings.TrimSpace(s)
	var w Wait
	switch {
	case s == "" || s == "none" || s == "0":
		w = Wait{Kind: WaitNone}
	case strings.HasPrefix(s, "pacing:"):
		d, err := time.ParseDuration(strings.TrimPrefix(s, "pacing:"))
		if err != nil {
			return Wait{}, fmt.Errorf("wait %q: %w", s, err)
		}
		w = Wait{Kind: WaitConstantPacing, Min: d}
	case strings.HasPrefix(s, "throughput:"):
		n, err := strconv.ParseFloat(strings.TrimPrefix(s, "throughput:"), 64)
		if err != nil {
			return Wait{}, fmt.Errorf("wait %q: %w", s, err)
		}
		w = Wait{Kind: WaitConstantThroughput, PerSecond: n}
	case strings.Contains(s, ".."):
		lo, hi, _ := strings.Cut(s, "..")
		a, err1 := time.ParseDuration(lo)
		b, err2 := time.ParseDuration(hi)
		if err1 != nil || err2 != nil {
			return Wait{}, fmt.Errorf("wait %q: want MIN..MAX durations such as 1s..3s", s)
		}
		w = Wait{Kind: WaitBetween, Min: a, Max: b}
	default:
		d, err := time.ParseDuration(s)
		if err != nil {
			return Wait{}, fmt.Errorf("wait %q: want none, 1s, 1s..3s, pacing:2s or throughput:5", s)
		}
		w = Wait{Kind: WaitConstant, Min: d}
	}
	if err := w.Validate(); err != nil {
		return Wait{}, err
	}
	return w, nil
}
