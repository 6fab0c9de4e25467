package scheduler

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// presets are the names [Preset] knows, in the order its documentation gives them.
var presets = []string{"spike", "stairs", "soak"}

// Presets returns the names [Preset] accepts.
func Presets() []string { return slices.Clone(presets) }

// Preset builds a named load shape that reaches peak and lasts exactly total. The same shapes
// serve users and arrival rates (peak is then iterations per second). With T = total and
// P = peak:
//
//   - spike: a sudden burst over a steady base of 10% of P. Ramp from 0 to 0.1·P over 10% of T,
//     hold 30%, jump to P and hold 20%, jump back to 0.1·P and hold 30%, ramp down to 0 over
//     the last 10%.
//   - stairs: five equal steps up. Jump to 0.2·P and hold T/5, jump to 0.4·P and hold T/5, ...,
//     up to P for the last fifth.
//   - soak: a long steady load. Ramp from 0 to P over 10% of T, hold 85%, ramp down to 0 over
//     the last 5%.
//
// Stage durations are whole nanoseconds; the last stage takes what rounding leaves, so
// Duration() == total. peak must be between 1 and MaxTarget, and total at least one second.
func Preset(name string, peak int, total time.Duration) (Stages, error) {
	var errs []string
	if peak <= 0 || peak > MaxTarget {
		errs = append(errs, fmt.Sprintf("peak %d must be between 1 and %v", peak, MaxTarget))
	}
	if total < time.Second {
		errs = append(errs, fmt.Sprintf("duration %v must be at least 1s", total))
	}
	var parts []part
	switch name {
	case "spike":
		parts = []part{{10, 0.1}, {30, 0.1}, {0, 1}, {20, 1}, {0, 0.1}, {30, 0.1}, {10, 0}}
	case "stairs":
		for step := 1; step <= 5; step++ {
			parts = append(parts, part{0, float64(step) / 5}, part{20, float64(step) / 5})
		}
	case "soak":
		parts = []part{{10, 1}, {85, 1}, {5, 0}}
	default:
		errs = append(errs, fmt.Sprintf("unknown shape %q (known: %s)", name, strings.Join(presets, ", ")))
	}
	if len(errs) > 0 {
		return nil, stagesErrorf("preset %s: %s", name, strings.Join(errs, "; "))
	}
	return build(parts, float64(peak), total), nil
}

// part is a preset stage: a share of the total duration, in percent, and a fraction of the peak.
type part struct {
	percent int
	level   float64
}

// build turns parts into stages lasting exactly total: each part ends at the whole nanosecond
// its cumulative percentage of total falls on.
func build(parts []part, peak float64, total time.Duration) Stages {
	st := make(Stages, 0, len(parts))
	cum, prevEnd := 0, time.Duration(0)
	for _, p := range parts {
		cum += p.percent
		end := percentOf(total, cum)
		st = append(st, Stage{Duration: end - prevEnd, Target: roundLevel(p.level * peak)})
		prevEnd = end
	}
	return st
}

// percentOf returns total·pct/100 rounded down, without overflow.
func percentOf(total time.Duration, pct int) time.Duration {
	if pct >= 100 {
		return total
	}
	return total/100*time.Duration(pct) + total%100*time.Duration(pct)/100
}

// roundLevel removes the floating-point noise of level·peak (0.1·30 = 3.0000000000000004), so a
// preset's targets print and compare as the numbers the documentation promises.
func roundLevel(v float64) float64 {
	return math.Round(v*1e9) / 1e9
}
