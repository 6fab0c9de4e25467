package controller

import (
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/report"
)

// reportRates is what a worker's latest reports counted, each with the span it
// covers on the master's clock (from the report before it), for the progress
// lines' rates: a worker that reports every 3 s (a Locust worker) then shows its
// rate over its own reports, not 0 in a window that holds none of them.
type reportRates struct {
	last    time.Time // when its latest report arrived
	entries []rateEntry
}

type rateEntry struct {
	at                 time.Time
	span               time.Duration
	requests, failures uint64
}

// maxRateEntries bounds the reports kept per worker (the window needs a few).
const maxRateEntries = 16

// noteRates keeps what a report of worker id counted, arrived at at.
func (r *run) noteRates(id string, joined, at time.Time, snap *aggregate.Snapshot) {
	if r.rates == nil {
		r.rates = map[string]*reportRates{}
	}
	rr := r.rates[id]
	if rr == nil {
		rr = &reportRates{last: later(r.started, joined)}
		r.rates[id] = rr
	}
	e := rateEntry{at: at, span: at.Sub(rr.last)}
	for _, st := range snap.Endpoints {
		e.requests += st.Requests
		e.failures += st.Failures
	}
	rr.last = at
	if len(rr.entries) == maxRateEntries {
		rr.entries = append(rr.entries[:0], rr.entries[1:]...)
	}
	rr.entries = append(rr.entries, e)
}

// reportedRates is the requests and failures per second of the run's workers now:
// each worker's over its reports that arrived in the last window (1.5 times the
// longer of window and its longest report span), summed. A worker that stopped
// reporting drops out once its reports are older than that.
func (r *run) reportedRates(now time.Time, window time.Duration) (rps, failps float64, longest time.Duration) {
	for _, rr := range r.rates {
		span := window
		for _, e := range rr.entries {
			span = max(span, e.span)
		}
		longest = max(longest, span)
		var req, fail uint64
		var covered time.Duration
		for _, e := range rr.entries {
			if now.Sub(e.at) < span*3/2 {
				req, fail, covered = req+e.requests, fail+e.failures, covered+e.span
			}
		}
		if covered > 0 {
			rps += float64(req) / covered.Seconds()
			failps += float64(fail) / covered.Seconds()
		}
	}
	return rps, failps, longest
}

// printProgress writes one line: users, the rates the workers' latest reports
// give (reportedRates), and the percentiles of the requests completed over the last
// ProgressEvery, or over the longest report span when a worker reports less often.
func (r *run) printProgress(now time.Time) {
	if !r.began() {
		r.printf("waiting for workers: %d of %d connected\n", len(r.s.workers), r.cfg.ExpectWorkers)
		return
	}
	rps, failps, longest := r.reportedRates(now, r.cfg.ProgressEvery)
	t := r.ivs.recent(now, max(r.cfg.ProgressEvery, longest*3/2)).Total()
	r.printf("%6s  users %d/%d  workers %d  rps %.1f  fail/s %.1f  p50 %s  p95 %s  p99 %s\n",
		now.Sub(r.started).Truncate(time.Second), r.users(), r.cfg.Users, len(r.targets), rps, failps,
		report.Millis(t.Latency.Percentile(50)), report.Millis(t.Latency.Percentile(95)), report.Millis(t.Latency.Percentile(99)))
}
