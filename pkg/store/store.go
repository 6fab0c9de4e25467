package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Errors callers branch on. Errors returned by the store wrap them with context.
var (
	// ErrRunNotFound: no run with that ID (or, for Final, no final snapshot; see ErrNoFinal).
	ErrRunNotFound = errors.New("run not found")
	// ErrNoFinal: the run exists but has no final snapshot (it is running, or it was
	// interrupted: merge its intervals instead). It wraps ErrRunNotFound.
	ErrNoFinal = fmt.Errorf("%w: no final snapshot", ErrRunNotFound)
	// ErrRunExists: CreateRun was given an ID that is already taken.
	ErrRunExists = errors.New("run already exists")
	// ErrLocked: another process holds the file (a running master, most likely).
	ErrLocked = errors.New("store file is locked: another master may be using it")
	// ErrCorrupt: the file is not a Stampede database, is damaged, or has a schema
	// this build does not know.
	ErrCorrupt = errors.New("store file is corrupt or not a Stampede database")
)

// SchemaVersion is the schema this build writes and reads.
const SchemaVersion = 1

// ReasonMasterStopped is the Reason given to the runs Open marks interrupted.
const ReasonMasterStopped = "master stopped before the run ended"

// DefaultTimeout is how long Open waits for the file lock when Options.Timeout is 0.
const DefaultTimeout = time.Second

var (
	bucketMeta      = []byte("meta")
	bucketRuns      = []byte("runs")
	bucketRunData   = []byte("rundata")
	bucketIntervals = []byte("intervals")
	bucketEvents    = []byte("events")
	keySchema       = []byte("schema")
	keyFinal        = []byte("final")
)

// Options tune Open.
type Options struct {
	// ReadOnly opens the file without writing to it: a missing file is an error,
	// and runs left running are reported as they are, not marked interrupted.
	ReadOnly bool
	// Timeout is how long to wait for the file lock before failing with ErrLocked;
	// 0 means DefaultTimeout, a negative value means do not wait.
	Timeout time.Duration
	// Logger gets what goes wrong without failing a call (see releaseMapped);
	// nil discards it.
	Logger *slog.Logger
}

// DB is an open store file. It is safe for concurrent use.
type DB struct {
	bolt        *bolt.DB
	path        string
	interrupted []string      // IDs Open marked interrupted, in ID order
	writes      atomic.Uint64 // write transactions committed
	log         *slog.Logger
	noRelease   atomic.Bool // releaseMapped failed once: not tried again
}

// releaseEvery is how many write transactions pass between two releases of the
// mapped file's pages (see releaseMapped): about a minute of a running run, which
// writes an interval and a telemetry sample every second.
const releaseEvery = 128

// Open opens the store at path, creating the file and its schema when it is missing
// (unless opts.ReadOnly, when a missing file is an error wrapping fs.ErrNotExist).
// It checks the schema version and, in read-write mode, marks every run left
// StatusRunning as StatusInterrupted, ended at its last interval (or its start), with
// Reason ReasonMasterStopped (see Interrupted).
//
// A file held by another process gives ErrLocked after opts.Timeout; a file that is
// not a Stampede database, is truncated, or has a newer schema gives ErrCorrupt.
func Open(path string, opts Options) (*DB, error) {
	timeout := opts.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		timeout = time.Nanosecond // bbolt: 0 would wait forever
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) && !opts.ReadOnly {
		if err := create(path, timeout); err != nil {
			return nil, fmt.Errorf("create store %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}

	// The file is first opened read-only and checked: a read-write open makes bbolt
	// read the free list at once, which on a truncated file faults past its end.
	db, err := openChecked(path, true, timeout)
	if err != nil {
		return nil, err
	}
	if opts.ReadOnly {
		db.log = slog.New(slog.DiscardHandler) // a read-only store writes nothing: nothing to say
		return db, nil
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	if db, err = openChecked(path, false, timeout); err != nil {
		return nil, err
	}
	if err := db.markInterrupted(); err != nil {
		_ = db.bolt.Close() // the marking's error is the one to report
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.log = opts.Logger
	if db.log == nil {
		db.log = slog.New(slog.DiscardHandler)
	}
	return db, nil
}

// openChecked opens the file and checks its size and schema.
func openChecked(path string, readOnly bool, timeout time.Duration) (*DB, error) {
	b, err := openBolt(path, readOnly, timeout)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db := &DB{bolt: b, path: path}
	if err := db.checkFile(); err != nil {
		_ = b.Close() // the file is unusable; the check's error is the one to report
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return db, nil
}

// openBolt opens an existing file with bbolt, never creating one, and maps bbolt's
// errors and panics on foreign or damaged files to ErrLocked and ErrCorrupt.
func openBolt(path string, readOnly bool, timeout time.Duration) (b *bolt.DB, err error) {
	var file *os.File
	openFile := func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag&^os.O_CREATE, perm)
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err != nil {
			_ = f.Close()
			return nil, err
		}
		// Files are created complete (see create), so an empty one is foreign; bbolt
		// would otherwise initialise it as a new database.
		if st.Size() == 0 {
			_ = f.Close()
			return nil, fmt.Errorf("%w: empty file", ErrCorrupt)
		}
		file = f
		return f, nil
	}
	defer func() {
		if r := recover(); r != nil {
			// bbolt's mapping of the file is lost with its DB, and the mapping keeps the
			// lock (and some address space) until the process exits. Open's read-only
			// first pass keeps bbolt from faulting on the damage found so far.
			if file != nil {
				_ = file.Close()
			}
			b, err = nil, fmt.Errorf("%w: bbolt panicked: %v", ErrCorrupt, r)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))

	b, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout:  timeout,
		ReadOnly: readOnly,
		OpenFile: openFile,
	})
	switch {
	case err == nil:
		return b, nil
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("%w (waited %s for the lock)", ErrLocked, timeout)
	case errors.Is(err, ErrCorrupt), isSystemError(err):
		return nil, err
	default:
		// bbolt's own complaints about the file: invalid or mismatched meta pages, a
		// file too small for its page size, and the like.
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
}

// isSystemError tells errors of the operating system (permissions, a missing file,
// I/O errors) from bbolt's complaints about the file's content.
func isSystemError(err error) bool {
	var pathErr *fs.PathError
	var errno syscall.Errno
	return errors.As(err, &pathErr) || errors.As(err, &errno)
}

// create builds a new store file with its schema under a temporary name and links it
// into place, so path never names an empty or half-built file. If another process
// created path meanwhile, its file wins.
func create(path string, timeout time.Duration) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".new-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if rmErr := os.Remove(tmp); rmErr != nil && err == nil && !errors.Is(rmErr, fs.ErrNotExist) {
			err = rmErr
		}
	}()
	if err := f.Close(); err != nil {
		return err
	}
	b, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		return err
	}
	err = b.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keySchema, binary.BigEndian.AppendUint64(nil, SchemaVersion)); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketRuns); err != nil {
			return err
		}
		_, err = tx.CreateBucket(bucketRunData)
		return err
	})
	if closeErr := b.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp, path); errors.Is(err, fs.ErrExist) {
		return nil
	} else if err != nil {
		// A file system without hard links: rename is atomic too, but replaces a file
		// another process might have created in the meantime.
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if closeErr := d.Close(); err == nil {
		err = closeErr
	}
	return err
}

// checkFile rejects truncated files (whose pages bbolt would read past the end of the
// file, a fatal fault) and files without a schema this build knows.
func (db *DB) checkFile() error {
	st, err := os.Stat(db.bolt.Path())
	if err != nil {
		return err
	}
	return db.view(func(tx *bolt.Tx) error {
		if tx.Size() > st.Size() {
			return fmt.Errorf("%w: file is %d bytes, its pages need %d (truncated?)", ErrCorrupt, st.Size(), tx.Size())
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%w: no %q bucket", ErrCorrupt, bucketMeta)
		}
		v := meta.Get(keySchema)
		if len(v) != 8 {
			return fmt.Errorf("%w: bad schema version record %x", ErrCorrupt, v)
		}
		switch version := binary.BigEndian.Uint64(v); {
		case version == 0:
			return fmt.Errorf("%w: schema version 0", ErrCorrupt)
		case version > SchemaVersion:
			return fmt.Errorf("%w: schema version %d is newer than this build's %d", ErrCorrupt, version, SchemaVersion)
		}
		for _, name := range [][]byte{bucketRuns, bucketRunData} {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("%w: no %q bucket", ErrCorrupt, name)
			}
		}
		return nil
	})
}

// markInterrupted marks every running run interrupted, in one transaction. A run
// record that cannot be decoded is left as it is (it cannot be known to be running):
// Run, Runs and Check report it, and DeleteRun can remove it.
func (db *DB) markInterrupted() error {
	var marked []string
	err := db.update(func(tx *bolt.Tx) error {
		marked = marked[:0]
		runs := tx.Bucket(bucketRuns)
		var stale []runRecord
		err := runs.ForEach(func(k, v []byte) error {
			if rec, err := decodeRun(k, v); err == nil && rec.Status == StatusRunning {
				stale = append(stale, rec)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, rec := range stale {
			rec.Status = StatusInterrupted
			rec.Reason = ReasonMasterStopped
			rec.EndedAt = rec.StartedAt
			// The end is the last interval's time when it can be read; Intervals and
			// Check report a damaged one.
			if data, err := runData(tx, rec.ID); err == nil {
				if k, v := data.Bucket(bucketIntervals).Cursor().Last(); k != nil {
					if h, _, err := decodeInterval(k, v); err == nil {
						rec.EndedAt = h.At
					}
				}
			}
			if err := putRun(runs, rec); err != nil {
				return err
			}
			marked = append(marked, rec.ID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark interrupted runs: %w", err)
	}
	db.interrupted = marked
	return nil
}

// Interrupted lists, in ID order, the IDs of the runs this Open found running and
// marked interrupted (none for a read-only Open).
func (db *DB) Interrupted() []string {
	return append([]string(nil), db.interrupted...)
}

// Path is the file the store was opened from.
func (db *DB) Path() string { return db.path }

// Close closes the file and releases its lock. Closing twice is harmless.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", db.path, err)
	}
	return nil
}

// maxProblems caps the problems Check reports.
const maxProblems = 100

// Check runs bbolt's consistency check over the whole file and, when the pages are
// sound, decodes every record (runs, intervals with their snapshots, events, final
// snapshots). It returns every problem found (up to 100), joined, wrapping
// ErrCorrupt; nil when the file is sound.
func (db *DB) Check() error {
	var problems []error
	err := db.view(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			if len(problems) < maxProblems {
				problems = append(problems, err)
			}
		}
		if len(problems) == 0 {
			problems = checkRecords(tx)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check %s: %w", db.path, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("check %s: %w: %w", db.path, ErrCorrupt, errors.Join(problems...))
	}
	return nil
}

// checkRecords decodes every record, returning what it could not decode.
func checkRecords(tx *bolt.Tx) []error {
	var problems []error
	report := func(err error) error {
		problems = append(problems, err)
		if len(problems) >= maxProblems {
			return errors.New("too many problems")
		}
		return nil
	}
	runs, rundata := tx.Bucket(bucketRuns), tx.Bucket(bucketRunData)
	_ = runs.ForEach(func(k, v []byte) error {
		if _, err := decodeRun(k, v); err != nil {
			return report(err)
		}
		if _, err := runData(tx, string(k)); err != nil {
			return report(err)
		}
		return nil
	})
	_ = rundata.ForEachBucket(func(id []byte) error {
		if runs.Get(id) == nil {
			return report(fmt.Errorf("data of run %q without a run record", id))
		}
		data, err := runData(tx, string(id))
		if err != nil {
			return nil // reported above
		}
		want := uint64(1)
		err = data.Bucket(bucketIntervals).ForEach(func(k, v []byte) error {
			h, snap, err := decodeInterval(k, v)
			if err == nil && h.Seq != want {
				err = fmt.Errorf("%w: interval %d where %d was expected", ErrCorrupt, h.Seq, want)
			}
			if err == nil {
				if _, err = decodeSnapshot(snap); err != nil {
					err = fmt.Errorf("interval %d: %w", h.Seq, err)
				}
			}
			want++
			if err != nil {
				return report(fmt.Errorf("run %q: %w", id, err))
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = data.Bucket(bucketEvents).ForEach(func(k, v []byte) error {
			if _, err := decodeEvent(k, v); err != nil {
				return report(fmt.Errorf("run %q: %w", id, err))
			}
			return nil
		})
		if err != nil {
			return err
		}
		if v := data.Get(keyFinal); v != nil {
			b, err := decodeFinal(v)
			if err == nil {
				_, err = decodeSnapshot(b)
			}
			if err != nil {
				return report(fmt.Errorf("run %q: final: %w", id, err))
			}
		}
		return nil
	})
	return problems
}

// view runs fn in a read transaction; bbolt panics and faults on damaged pages
// become ErrCorrupt errors.
func (db *DB) view(fn func(*bolt.Tx) error) (err error) {
	defer recoverCorrupt(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return db.bolt.View(fn)
}

// update runs fn in a read-write transaction, committed (and synced) when fn returns
// nil; bbolt panics and faults on damaged pages become ErrCorrupt errors.
func (db *DB) update(fn func(*bolt.Tx) error) (err error) {
	defer recoverCorrupt(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	if err := db.bolt.Update(fn); err != nil {
		return err
	}
	if db.writes.Add(1)%releaseEvery == 0 && !db.noRelease.Load() {
		if err := db.releaseMapped(); err != nil {
			// The write is done; only the memory stays counted. Said once.
			db.noRelease.Store(true)
			db.log.Warn("store: cannot release the file's mapped pages; the master's RSS will include them", "path", db.path, "err", err)
		}
	}
	return nil
}

func recoverCorrupt(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: panic reading the file: %v", ErrCorrupt, r)
	}
}

// runData returns the per-run bucket of id, checking its shape.
func runData(tx *bolt.Tx, id string) (*bolt.Bucket, error) {
	data := tx.Bucket(bucketRunData).Bucket([]byte(id))
	if data == nil || data.Bucket(bucketIntervals) == nil || data.Bucket(bucketEvents) == nil {
		return nil, fmt.Errorf("%w: run %q has no complete data bucket", ErrCorrupt, id)
	}
	return data, nil
}
