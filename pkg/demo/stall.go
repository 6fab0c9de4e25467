package demo

import (
	"net/http"
	"slices"
	"sync"
	"time"
)

// StallingTarget answers every request at once, except that every Period it stalls
// for Stall: a request arriving then is held until the stall is over. It is the
// target that exposes coordinated omission: a closed-model generator waits out the
// stall instead of sending what was due, and under-reports latency.
//
// It keeps its own log of each request's arrival and completion, the ground truth a
// generator's figures are checked against.
type StallingTarget struct {
	Period, Stall time.Duration
	start         time.Time

	mu  sync.Mutex
	log []Served
}

// Served is one request as the target saw it.
type Served struct {
	Arrived, Completed time.Time
}

// MaxStallLog bounds the target's log; requests beyond it are served, not logged.
const MaxStallLog = 1_000_000

// NewStallingTarget returns a target that stalls for the last stall of every period,
// counted from now.
func NewStallingTarget(period, stall time.Duration) *StallingTarget {
	return &StallingTarget{Period: period, Stall: stall, start: time.Now()}
}

// ServeHTTP implements http.Handler.
func (t *StallingTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	if wait := t.stallLeft(arrived); wait > 0 {
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ok\n"))
	if f, ok := w.(http.Flusher); ok {
		f.Flush() // completed: the response is on its way, not in a buffer
	}
	completed := time.Now()
	t.mu.Lock()
	if len(t.log) < MaxStallLog {
		t.log = append(t.log, Served{Arrived: arrived, Completed: completed})
	}
	t.mu.Unlock()
}

// stallLeft returns how long a request arriving at now is held.
func (t *StallingTarget) stallLeft(now time.Time) time.Duration {
	if t.Period <= 0 || t.Stall <= 0 {
		return 0
	}
	phase := now.Sub(t.start) % t.Period
	if since := phase - (t.Period - t.Stall); since >= 0 {
		return t.Stall - since
	}
	return 0
}

// Log returns the requests served so far.
func (t *StallingTarget) Log() []Served {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.log)
}

// Percentiles returns the exact latency percentiles (0 to 100) of the served
// requests, as the target measured them: from arrival to completion.
func Percentiles(log []Served, ps ...float64) []time.Duration {
	lat := make([]time.Duration, len(log))
	for i, s := range log {
		lat[i] = s.Completed.Sub(s.Arrived)
	}
	slices.Sort(lat)
	out := make([]time.Duration, len(ps))
	if len(lat) == 0 {
		return out
	}
	for i, p := range ps {
		// The nearest-rank percentile, as HdrHistogram's: the smallest value with at
		// least p% of the values at or below it.
		rank := int(p/100*float64(len(lat)) + 0.5)
		rank = min(max(rank, 1), len(lat))
		out[i] = lat[rank-1]
	}
	return out
}
