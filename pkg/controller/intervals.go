package controller

import (
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// intervals is a run's interval accounting: the open interval that reports merge
// into, the closed ones since the start (or the last reset), and the recent ones for
// current rates. An interval spans the master's own clock, from the last close to the
// next: a report merged into it counts there whatever span it measured, so the
// series' counts add up to the run's total and its spans tile the run.
type intervals struct {
	open    *aggregate.Snapshot // merging into the current interval
	start   time.Time           // when the current interval began (the last one's end)
	reports int                 // worker reports merged into the current interval
	peak    int                 // most users seen in reports during the open interval
	seq     uint64              // the number of the last closed interval (1, 2, ...)
	total   *aggregate.Snapshot // closed intervals since the start (or reset): what is stored
	running *aggregate.Snapshot // total plus the open interval: what the live view shows
	window  []windowEntry       // the last windowLen closed intervals, for current rates
}

type windowEntry struct {
	at   time.Time
	snap *aggregate.Snapshot
}

// windowLen is how many closed intervals recent can draw on.
const windowLen = 10

func newIntervals(now time.Time) intervals {
	return intervals{open: aggregate.NewSnapshot(now), start: now,
		total: aggregate.NewSnapshot(now), running: aggregate.NewSnapshot(now)}
}

// add merges a worker's report into the open interval; users is the run's user count
// after it, which counts toward the interval's peak unless the report is a final one.
func (a *intervals) add(snap *aggregate.Snapshot, users int, final bool) {
	if !final {
		a.peak = max(a.peak, users)
	}
	a.open.Merge(snap)
	a.reports++
	a.running.Merge(snap)
}

// closed is an interval as close returns it.
type closed struct {
	seq      uint64
	snap     *aggregate.Snapshot // Start and End set to the interval's span
	reports  int                 // worker reports merged into it
	peakSeen int                 // most users seen in its reports
}

// close ends the open interval at now, adds it to the total and the window, and opens
// the next.
func (a *intervals) close(now time.Time) closed {
	iv := a.open
	iv.Start, iv.End = a.start, now
	a.seq++
	c := closed{seq: a.seq, snap: iv, reports: a.reports, peakSeen: a.peak}
	a.total.Merge(iv)
	a.window = append(a.window, windowEntry{at: now, snap: iv})
	if len(a.window) > windowLen {
		a.window = a.window[1:]
	}
	a.open, a.start, a.reports, a.peak = aggregate.NewSnapshot(now), now, 0, 0
	return c
}

// reset restarts the totals and the window at now (the statistics reset); the open
// interval and the stored series go on.
func (a *intervals) reset(now time.Time) {
	a.total = aggregate.NewSnapshot(now)
	a.running = aggregate.NewSnapshot(now)
	a.window = nil
}

// recent merges the closed intervals of the last d before now.
func (a *intervals) recent(now time.Time, d time.Duration) *aggregate.Snapshot {
	win := aggregate.NewSnapshot(now.Add(-d))
	for _, e := range a.window {
		if now.Sub(e.at) < d {
			win.Merge(e.snap)
		}
	}
	return win
}
