package store

import (
	"errors"
	"iter"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// RunData is everything the store keeps of one run, read back for showing it: the
// query that package report's views are computed from.
type RunData struct {
	Run Run
	// Final is the run's final cumulative snapshot; nil for a run stored without
	// one (running, or interrupted), whose figures are the merge of its intervals.
	Final     *aggregate.Snapshot
	Events    []Event
	Telemetry []TelemetryRecord
	// Intervals yields the run's intervals in Seq order, decoding one at a time so a
	// long run's series is never held whole; it reads the file when ranged over, and
	// yields one error and stops if that read fails.
	Intervals iter.Seq2[Interval, error]
}

// LoadRun reads a stored run for showing: its record, final snapshot, events and
// telemetry now, its intervals when RunData.Intervals is ranged over. An unknown id
// gives an error wrapping ErrRunNotFound.
func (db *DB) LoadRun(id string) (*RunData, error) {
	r, err := db.Run(id)
	if err != nil {
		return nil, err
	}
	d := &RunData{Run: r}
	d.Final, err = db.Final(id)
	if errors.Is(err, ErrNoFinal) {
		d.Final, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	if d.Events, err = db.Events(id); err != nil {
		return nil, err
	}
	if d.Telemetry, err = db.Telemetry(id); err != nil {
		return nil, err
	}
	d.Intervals = func(yield func(Interval, error) bool) {
		stopped := errors.New("stopped")
		err := db.ForEachInterval(id, func(iv Interval) error {
			if !yield(iv, nil) {
				return stopped
			}
			return nil
		})
		if err != nil && !errors.Is(err, stopped) {
			yield(Interval{}, err)
		}
	}
	return d, nil
}
