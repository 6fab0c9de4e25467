package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// Event is something that happened during a run, such as EventWorkerJoined or
// EventWorkerLost.
type Event struct {
	At     time.Time
	Kind   EventKind
	Worker string
	Detail string
}

// Interval is one report interval of a run: what the master merged between the
// end of the previous interval (Snapshot.Start) and At (Snapshot.End).
type Interval struct {
	Seq     uint64    // 1, 2, 3, ... per run, contiguous
	At      time.Time // end of the interval
	Users   int
	Workers int
	// Reports is how many worker reports were merged into it: 0 means no worker
	// reported, so the interval is a gap in the series, not a second of nothing.
	// -1: not recorded (runs stored before the count was).
	Reports  int
	Snapshot *aggregate.Snapshot
}

// AppendInterval adds the next interval of a running run, in one transaction. Its Seq
// must be one more than the last one stored (1 for the first).
func (db *DB) AppendInterval(id string, iv Interval) error {
	var errs []error
	if iv.At.IsZero() {
		errs = append(errs, errors.New("no time"))
	}
	if iv.Users < 0 || iv.Users > math.MaxInt32 || iv.Workers < 0 || iv.Workers > math.MaxInt32 ||
		iv.Reports < -1 || iv.Reports > math.MaxInt32 {
		errs = append(errs, fmt.Errorf("users %d / workers %d / reports %d out of range", iv.Users, iv.Workers, iv.Reports))
	}
	var val []byte
	if iv.Snapshot == nil {
		errs = append(errs, errors.New("no snapshot"))
	} else if snap, err := iv.Snapshot.MarshalBinary(); err != nil {
		errs = append(errs, fmt.Errorf("encode snapshot: %w", err))
	} else {
		val = encodeInterval(make([]byte, 0, len(snap)+32), intervalHeader{At: iv.At, Users: iv.Users, Workers: iv.Workers, Reports: iv.Reports}, snap)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("append interval %d to run %q: %w", iv.Seq, id, err)
	}
	err := db.update(func(tx *bolt.Tx) error {
		rec, err := getRun(tx, id)
		if err != nil {
			return err
		}
		if rec.Status != StatusRunning {
			return fmt.Errorf("run is %s, not running", rec.Status)
		}
		data, err := runData(tx, id)
		if err != nil {
			return err
		}
		intervals := data.Bucket(bucketIntervals)
		var last uint64
		if k, _ := intervals.Cursor().Last(); k != nil {
			if len(k) != 8 {
				return fmt.Errorf("%w: interval key %x is not 8 bytes", ErrCorrupt, k)
			}
			last = binary.BigEndian.Uint64(k)
		}
		if iv.Seq != last+1 {
			return fmt.Errorf("sequence gap: last stored is %d, want %d", last, last+1)
		}
		return intervals.Put(seqKey(iv.Seq), val)
	})
	if err != nil {
		return fmt.Errorf("append interval %d to run %q: %w", iv.Seq, id, err)
	}
	return nil
}

// AppendEvent adds an event to a run, whatever its status.
func (db *DB) AppendEvent(id string, e Event) error {
	var errs []error
	if e.At.IsZero() {
		errs = append(errs, errors.New("no time"))
	}
	if e.Kind == "" {
		errs = append(errs, errors.New("no kind"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("append event to run %q: %w", id, err)
	}
	val, err := encodeEvent(e)
	if err != nil {
		return fmt.Errorf("append event to run %q: %w", id, err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		if _, err := getRun(tx, id); err != nil {
			return err
		}
		data, err := runData(tx, id)
		if err != nil {
			return err
		}
		events := data.Bucket(bucketEvents)
		seq, err := events.NextSequence()
		if err != nil {
			return err
		}
		return events.Put(seqKey(seq), val)
	})
	if err != nil {
		return fmt.Errorf("append event to run %q: %w", id, err)
	}
	return nil
}

// Intervals returns every interval of a run, in Seq order. For long runs prefer
// ForEachInterval, which holds one decoded interval at a time.
func (db *DB) Intervals(id string) ([]Interval, error) {
	var ivs []Interval
	err := db.ForEachInterval(id, func(iv Interval) error {
		ivs = append(ivs, iv)
		return nil
	})
	return ivs, err
}

// ForEachInterval calls fn with each interval of a run in Seq order, stopping at the
// first error, which it returns. It reads in one transaction: fn must not call the
// DB's write methods (that can deadlock when the file has to grow).
func (db *DB) ForEachInterval(id string, fn func(Interval) error) error {
	err := db.view(func(tx *bolt.Tx) error {
		if _, err := getRun(tx, id); err != nil {
			return err
		}
		data, err := runData(tx, id)
		if err != nil {
			return err
		}
		want := uint64(1)
		return data.Bucket(bucketIntervals).ForEach(func(k, v []byte) error {
			h, snapBytes, err := decodeInterval(k, v)
			if err != nil {
				return err
			}
			if h.Seq != want {
				return fmt.Errorf("%w: interval %d where %d was expected", ErrCorrupt, h.Seq, want)
			}
			want++
			snap, err := decodeSnapshot(snapBytes)
			if err != nil {
				return fmt.Errorf("interval %d: %w", h.Seq, err)
			}
			return fn(Interval{Seq: h.Seq, At: h.At, Users: h.Users, Workers: h.Workers, Reports: h.Reports, Snapshot: snap})
		})
	})
	if err != nil {
		return fmt.Errorf("intervals of run %q: %w", id, err)
	}
	return nil
}

// Final returns a run's final cumulative snapshot. When the run exists but has none
// (it is running or was interrupted: merge its intervals instead) the error wraps
// ErrNoFinal, which wraps ErrRunNotFound.
func (db *DB) Final(id string) (*aggregate.Snapshot, error) {
	var snap *aggregate.Snapshot
	err := db.view(func(tx *bolt.Tx) error {
		if _, err := getRun(tx, id); err != nil {
			return err
		}
		data, err := runData(tx, id)
		if err != nil {
			return err
		}
		v := data.Get(keyFinal)
		if v == nil {
			return ErrNoFinal
		}
		b, err := decodeFinal(v)
		if err != nil {
			return err
		}
		snap, err = decodeSnapshot(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("final snapshot of run %q: %w", id, err)
	}
	return snap, nil
}

// Events returns a run's events in the order they were appended.
func (db *DB) Events(id string) ([]Event, error) {
	var events []Event
	err := db.view(func(tx *bolt.Tx) error {
		if _, err := getRun(tx, id); err != nil {
			return err
		}
		data, err := runData(tx, id)
		if err != nil {
			return err
		}
		return data.Bucket(bucketEvents).ForEach(func(k, v []byte) error {
			e, err := decodeEvent(k, v)
			if err != nil {
				return err
			}
			events = append(events, e)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("events of run %q: %w", id, err)
	}
	return events, nil
}

// decodeSnapshot decodes snapshot bytes read from the file; b is copied first, since
// bbolt's memory is only valid inside the transaction.
func decodeSnapshot(b []byte) (*aggregate.Snapshot, error) {
	snap := new(aggregate.Snapshot)
	if err := snap.UnmarshalBinary(append([]byte(nil), b...)); err != nil {
		return nil, fmt.Errorf("%w: snapshot: %w", ErrCorrupt, err)
	}
	return snap, nil
}
