package userbehavior

import (
	"strconv"
	"strings"
	"time"
)

// serverTime reads the time the target says it spent on a request: the configured
// header (opts.serverName) when the response has it, else Server-Timing. ok is false
// when neither is there or neither parses.
//
// The configured header holds a number in the configured unit ("0.0123" seconds by
// default, as FastAPI's and Starlette's X-Process-Time examples write it), or a Go
// duration with its own unit ("12.3ms"). Server-Timing is read as parseServerTiming
// says.
func (o *clientOptions) serverTime(custom, serverTiming string) (time.Duration, bool) {
	if o.serverName != "" && custom != "" {
		if d, ok := parseServerTimeValue(custom, o.serverScale); ok {
			return d, true
		}
	}
	if serverTiming != "" {
		return parseServerTiming(serverTiming)
	}
	return 0, false
}

// parseServerTimeValue reads a bare number of unit, or a Go duration ("12ms").
func parseServerTimeValue(v string, unit time.Duration) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 || f != f || f > float64(time.Hour/unit) {
			return 0, false
		}
		return time.Duration(f * float64(unit)), true
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, false
	}
	return d, true
}

// parseServerTiming reads a Server-Timing header (W3C Server Timing: metrics
// separated by commas, each "name;dur=MILLISECONDS;desc=..."): the dur of the metric
// named "total" when there is one, else the largest dur. Largest, not the sum: the
// metrics a server reports often nest (app contains db), and the largest is a lower
// bound of the server's time whether they nest or follow each other. Metrics
// without dur are skipped; ok is false when none has one.
func parseServerTiming(h string) (time.Duration, bool) {
	var best time.Duration
	found := false
	for metric := range strings.SplitSeq(h, ",") {
		name, params, _ := strings.Cut(metric, ";")
		dur, ok := durParam(params)
		if !ok {
			continue
		}
		if strings.EqualFold(strings.TrimSpace(name), "total") {
			return dur, true
		}
		if !found || dur > best {
			best, found = dur, true
		}
	}
	return best, found
}

// durParam finds dur=N (milliseconds) among a metric's ";"-separated parameters.
func durParam(params string) (time.Duration, bool) {
	for p := range strings.SplitSeq(params, ";") {
		k, v, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "dur") {
			continue
		}
		return parseServerTimeValue(strings.Trim(strings.TrimSpace(v), `"`), time.Millisecond)
	}
	return 0, false
}
