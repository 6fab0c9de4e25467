package store

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// Status is where a run stands.
type Status string

// Run statuses. A run is created running and ends in one of the others.
const (
	StatusRunning     Status = "running"
	StatusCompleted   Status = "completed"
	StatusInterrupted Status = "interrupted"
	StatusFailed      Status = "failed"
	// StatusAborted: stopped before its end on purpose (a failing ";abort"
	// threshold, a script's stop_run), its load cut at once.
	StatusAborted Status = "aborted"
)

func (s Status) valid() bool {
	switch s {
	case StatusRunning, StatusCompleted, StatusInterrupted, StatusFailed, StatusAborted:
		return true
	}
	return false
}

// Summary is what the runs list shows without decoding the final snapshot.
type Summary struct {
	Requests, Failures uint64
	PeakUsers          int
	// Since is when the statistics window the totals cover began: the run's start,
	// or its last statistics reset (zero in runs stored before it was recorded:
	// the run's start). RPS is Requests over the window, Since to the run's end.
	Since time.Time
	RPS   float64
	// Cancelled counts the requests in flight that the run's stop cut (its
	// --stop-timeout over, or an abort): neither successes nor failures.
	Cancelled     uint64
	P50, P95, P99 time.Duration
	// Thresholds are the run's pass/fail criteria and their verdicts at the end
	// (empty when it had none).
	Thresholds []Verdict
}

// Verdict is one threshold's outcome, as the master evaluated it at the end of a run.
type Verdict struct {
	Expr     string `json:"expr"`
	Observed string `json:"observed,omitempty"`
	Limit    string `json:"limit,omitempty"`
	Pass     bool   `json:"pass"`
	Err      string `json:"error,omitempty"` // why it could not be evaluated (then Pass is false)
}

// ThresholdsPassed reports whether no threshold failed (true without thresholds).
func (s Summary) ThresholdsPassed() bool {
	for _, v := range s.Thresholds {
		if !v.Pass {
			return false
		}
	}
	return true
}

// Run is one load test as the store remembers it.
type Run struct {
	ID     string
	Status Status
	Label  string
	Notes  string
	// Config is the run's configuration as the master saw it; the store does not
	// interpret it. It must be valid JSON (or empty) and is kept apart from
	// insignificant white space.
	Config    json.RawMessage
	StartedAt time.Time
	EndedAt   time.Time // zero while running
	Reason    string    // why it failed / was interrupted
	Summary   Summary
}

// MaxIDLen is the longest run ID the store accepts.
const MaxIDLen = 128

// validID accepts IDs safe in URLs and file names: 1..MaxIDLen bytes of
// [A-Za-z0-9._-], not starting with '.'.
func validID(id string) error {
	if id == "" {
		return errors.New("empty run ID")
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("run ID %q is longer than %d bytes", id, MaxIDLen)
	}
	if id[0] == '.' {
		return fmt.Errorf("run ID %q starts with '.'", id)
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("run ID %q has a character other than A-Z a-z 0-9 . _ -", id)
		}
	}
	return nil
}

// NewRunID returns a new run ID: the UTC time to the second and a random suffix, as
// in "20261125-191730-3f9a". IDs sort by time (to the second); a collision is
// unlikely and CreateRun refuses one with ErrRunExists.
func NewRunID(now time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (it crashes instead)
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// CreateRun stores a new run. Its ID must be valid and unused (ErrRunExists), its
// StartedAt set; an empty Status means StatusRunning.
func (db *DB) CreateRun(r Run) error {
	if r.Status == "" {
		r.Status = StatusRunning
	}
	var errs []error
	if err := validID(r.ID); err != nil {
		errs = append(errs, err)
	}
	if !r.Status.valid() {
		errs = append(errs, fmt.Errorf("unknown status %q", r.Status))
	}
	if r.StartedAt.IsZero() {
		errs = append(errs, errors.New("no start time"))
	}
	if len(r.Config) > 0 && !json.Valid(r.Config) {
		errs = append(errs, errors.New("config is not valid JSON"))
	}
	if err := validSummary(r.Summary); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("create run %q: %w", r.ID, err)
	}
	rec := recordFromRun(r)
	val, err := encodeRun(rec)
	if err != nil {
		return fmt.Errorf("create run %q: %w", r.ID, err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		runs := tx.Bucket(bucketRuns)
		key := []byte(r.ID)
		if runs.Get(key) != nil || tx.Bucket(bucketRunData).Bucket(key) != nil {
			return ErrRunExists
		}
		if err := runs.Put(key, val); err != nil {
			return err
		}
		data, err := tx.Bucket(bucketRunData).CreateBucket(key)
		if err != nil {
			return err
		}
		if _, err := data.CreateBucket(bucketIntervals); err != nil {
			return err
		}
		_, err = data.CreateBucket(bucketEvents)
		return err
	})
	if err != nil {
		return fmt.Errorf("create run %q: %w", r.ID, err)
	}
	return nil
}

// getRun reads and decodes the record of id.
func getRun(tx *bolt.Tx, id string) (runRecord, error) {
	v := tx.Bucket(bucketRuns).Get([]byte(id))
	if v == nil {
		return runRecord{}, ErrRunNotFound
	}
	return decodeRun([]byte(id), v)
}

// FinishRun ends a running run with status (completed, failed or interrupted), the
// reason it ended that way, when, its summary, and its final cumulative snapshot
// (nil when there is none to keep).
func (db *DB) FinishRun(id string, status Status, reason string, endedAt time.Time, summary Summary, final *aggregate.Snapshot) error {
	var errs []error
	if !status.valid() || status == StatusRunning {
		errs = append(errs, fmt.Errorf("cannot finish with status %q", status))
	}
	if endedAt.IsZero() {
		errs = append(errs, errors.New("no end time"))
	}
	if err := validSummary(summary); err != nil {
		errs = append(errs, err)
	}
	var finalVal []byte
	if final != nil {
		snap, err := final.MarshalBinary()
		if err != nil {
			errs = append(errs, fmt.Errorf("encode final snapshot: %w", err))
		}
		finalVal = encodeFinal(snap)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("finish run %q: %w", id, err)
	}
	err := db.update(func(tx *bolt.Tx) error {
		rec, err := getRun(tx, id)
		if err != nil {
			return err
		}
		if rec.Status != StatusRunning {
			return fmt.Errorf("run is already %s", rec.Status)
		}
		data, err := runData(tx, id)
		if err != nil {
			return err
		}
		rec.Status = status
		rec.Reason = reason
		rec.EndedAt = endedAt.UTC()
		rec.Summary = summaryToRecord(summary)
		if err := putRun(tx.Bucket(bucketRuns), rec); err != nil {
			return err
		}
		if finalVal != nil {
			return data.Put(keyFinal, finalVal)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish run %q: %w", id, err)
	}
	return nil
}

// SetLabel replaces a run's label and notes, whatever its status.
func (db *DB) SetLabel(id, label, notes string) error {
	err := db.update(func(tx *bolt.Tx) error {
		rec, err := getRun(tx, id)
		if err != nil {
			return err
		}
		rec.Label, rec.Notes = label, notes
		return putRun(tx.Bucket(bucketRuns), rec)
	})
	if err != nil {
		return fmt.Errorf("label run %q: %w", id, err)
	}
	return nil
}

// Run returns the run with that ID, or an error wrapping ErrRunNotFound.
func (db *DB) Run(id string) (Run, error) {
	var rec runRecord
	err := db.view(func(tx *bolt.Tx) (err error) {
		rec, err = getRun(tx, id)
		return err
	})
	if err != nil {
		return Run{}, fmt.Errorf("run %q: %w", id, err)
	}
	return rec.run(), nil
}

// Runs returns every run, newest (by StartedAt, then ID) first.
func (db *DB) Runs() ([]Run, error) {
	var runs []Run
	err := db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRuns).ForEach(func(k, v []byte) error {
			rec, err := decodeRun(k, v)
			if err != nil {
				return err
			}
			runs = append(runs, rec.run())
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	slices.SortStableFunc(runs, func(a, b Run) int {
		return cmp.Or(b.StartedAt.Compare(a.StartedAt), cmp.Compare(b.ID, a.ID))
	})
	return runs, nil
}

// DeleteRun removes a run and everything stored with it. A running run cannot be
// deleted: finish it first.
func (db *DB) DeleteRun(id string) error {
	err := db.update(func(tx *bolt.Tx) error {
		key := []byte(id)
		runs := tx.Bucket(bucketRuns)
		v := runs.Get(key)
		if v == nil {
			return ErrRunNotFound
		}
		// A record too damaged to read can still be deleted; a readable one is
		// checked for being in use.
		if rec, err := decodeRun(key, v); err == nil && rec.Status == StatusRunning {
			return errors.New("run is still running")
		}
		if err := runs.Delete(key); err != nil {
			return err
		}
		if err := tx.Bucket(bucketRunData).DeleteBucket(key); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete run %q: %w", id, err)
	}
	return nil
}
