package threshold

import (
	"math"
	"strconv"
	"strings"
)

// kind is what a metric's values are, which fixes its units.
type kind int

const (
	kindDuration kind = iota + 1 // canonical: nanoseconds
	kindFraction                 // canonical: a fraction, written in %
	kindBytes                    // canonical: bytes
	kindCount                    // a plain number
	kindRate                     // per second; written plain or with /s
)

// kindName names a kind in error messages.
var kindName = map[kind]string{
	kindDuration: "a latency", kindFraction: "a percentage", kindBytes: "a memory size", kindCount: "a count", kindRate: "a rate per second",
}

// unitExample is the hint an error gives for a kind.
var unitExample = map[kind]string{
	kindDuration: "ms", kindFraction: "%", kindBytes: "MiB",
}

// units maps each unit to its kind and its size in the canonical unit.
var units = map[string]struct {
	kind  kind
	scale float64
}{
	"ns": {kindDuration, 1}, "us": {kindDuration, 1e3}, "µs": {kindDuration, 1e3}, "μs": {kindDuration, 1e3},
	"ms": {kindDuration, 1e6}, "s": {kindDuration, 1e9}, "m": {kindDuration, 60e9}, "h": {kindDuration, 3600e9},
	"%": {kindFraction, 0.01},
	"B": {kindBytes, 1}, "KiB": {kindBytes, 1 << 10}, "MiB": {kindBytes, 1 << 20}, "GiB": {kindBytes, 1 << 30},
	"TiB": {kindBytes, 1 << 40}, "KB": {kindBytes, 1e3}, "MB": {kindBytes, 1e6}, "GB": {kindBytes, 1e9}, "TB": {kindBytes, 1e12},
}

// perUnits are the time units a slope is written per, in seconds.
var perUnits = map[string]float64{"/s": 1, "/min": 60}

// unitList is the units of k, for messages.
func unitList(k kind) string {
	switch k {
	case kindDuration:
		return "ns, us, µs, ms, s, m, h"
	case kindFraction:
		return "%"
	case kindBytes:
		return "B, KiB, MiB, GiB, TiB, KB, MB, GB, TB"
	case kindRate:
		return "/s or none"
	}
	return "none"
}

// seriesKinds are the telemetry series thresholds know (report.TelemetryNames), with the kind
// of their values and the factor from the values a Telemetry source returns to the canonical
// unit: CPU and GPU utilisation arrive in percent, sched_lag_ms in milliseconds, memory in bytes.
var seriesKinds = map[string]struct {
	kind  kind
	scale float64
}{
	"cpu":          {kindFraction, 0.01}, // host CPU, 0..100 of the machine
	"process_cpu":  {kindFraction, 0.01}, // the Stampede process, % of one core
	"gpu.util":     {kindFraction, 0.01}, // mean GPU utilisation
	"mem":          {kindBytes, 1},       // bytes in use
	"mem_total":    {kindBytes, 1},
	"sched_lag_ms": {kindDuration, 1e6}, // goroutine scheduling delay, p99, in ms
}

// slopeSuffix marks a slope series: "mem_slope" is the slope of "mem".
const slopeSuffix = "_slope"

// formatValue writes v (canonical unit of k) for people: four significant digits and a unit
// chosen for the size ("523.1ms", "0.42%", "1.5GiB", "212.3/s").
func formatValue(k kind, v float64) string {
	switch k {
	case kindDuration:
		a := math.Abs(v)
		switch {
		case a < 1e3:
			return sig(v) + "ns"
		case a < 1e6:
			return sig(v/1e3) + "µs"
		case a < 1e9:
			return sig(v/1e6) + "ms"
		case a < 600e9:
			return sig(v/1e9) + "s"
		default:
			return sig(v/60e9) + "m"
		}
	case kindFraction:
		return sig(v*100) + "%"
	case kindBytes:
		a := math.Abs(v)
		for _, u := range []struct {
			name string
			size float64
		}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
			if a >= u.size {
				return sig(v/u.size) + u.name
			}
		}
		return sig(v) + "B"
	case kindRate:
		return sig(v) + "/s"
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return sig(v)
}

// formatSlope writes a slope (canonical unit of k per second) per the written time unit.
func formatSlope(k kind, v float64, per string) string {
	return formatValue(k, v*perUnits[per]) + per
}

// sig rounds v to four significant digits and writes it without an exponent.
func sig(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 4, 64), 64)
	s := strconv.FormatFloat(r, 'f', -1, 64)
	if strings.Contains(s, ".") && len(s) > 12 { // tiny values: keep them readable
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	return s
}
