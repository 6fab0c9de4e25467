// Package store keeps the memory of every Stampede run in one embedded bbolt file:
// each run's metadata and summary, its per-interval series (users, workers and the
// interval's aggregate.Snapshot), its events (workers joining and leaving), and its
// final cumulative snapshot.
//
// # What it owns, and what not
//
// The store owns the file format, the run lifecycle as it is written down
// (running → completed / failed / interrupted) and the recovery rule: a run still
// marked running when the file is opened read-write belonged to a master that
// stopped before the run ended, so Open marks it interrupted (see DB.Interrupted).
//
// It does not interpret what it keeps: Run.Config is opaque JSON, snapshots are
// encoded and decoded by package aggregate, and summaries are computed by the
// caller. It does not compute percentiles, merge intervals or decide thresholds.
//
// # Durability
//
// Every write method is one bbolt read-write transaction, committed with fsync before
// it returns, so a process killed at any moment (kill -9) leaves either the state
// before or the state after each call, never half of one. A new file is built under a
// temporary name and hard-linked into place, so a crash while creating one never
// leaves an empty or half-initialised file at the path.
//
// # Outside input
//
// The file is outside input. Records are versioned and decoded defensively: a record
// that cannot be decoded gives an error wrapping ErrCorrupt that names its key, never a
// panic. A file that is not a Stampede database (text, random bytes, an empty file, a
// truncated copy, another program's bbolt file, or a newer schema) gives ErrCorrupt
// from Open, which checks a file read-only before it opens it for writing. A damaged
// run record does not stop Open: it is reported by the methods that read it and by
// Check, and DeleteRun removes it.
//
// bbolt itself may panic or fault on damaged pages; every method recovers such
// panics (with runtime/debug.SetPanicOnFault on the calling goroutine) and returns
// them as ErrCorrupt. Two limits remain. A fault inside bbolt's Open leaves the file
// mapped, and so locked, until the process exits. bbolt's consistency check
// (DB.Check) runs on a goroutine of its own, where a page reference pointing outside
// the file can still crash the process.
//
// # Schema (version 1)
//
//	meta                     bucket
//	  "schema"               8-byte big-endian schema version (1)
//	runs                     bucket: run ID → JSON run record {"v":1,"id",...}
//	rundata                  bucket: run ID → bucket
//	  <run ID>
//	    intervals            bucket: 8-byte big-endian Seq (1, 2, 3, … contiguous) →
//	                         interval record: version byte (1), At (varint seconds,
//	                         uvarint nanoseconds), Users, Workers (uvarints), then the
//	                         aggregate.Snapshot's MarshalBinary bytes to the end
//	    events               bucket: 8-byte big-endian sequence → JSON event record {"v":1,...}
//	    "final"              final record: version byte (1), then the final cumulative
//	                         snapshot's MarshalBinary bytes (absent until FinishRun, and
//	                         for runs that were interrupted)
//
// Run records live apart from their series so that listing runs never touches a
// snapshot. Times are stored in UTC.
//
// # Locking and concurrency
//
// bbolt takes an exclusive flock on the file for a read-write Open and a shared one
// for a read-only Open, so while a master holds the file, a second Open of either
// kind waits Options.Timeout and then fails with ErrLocked. A *DB is safe for
// concurrent use by many goroutines, as bbolt is: reads run in parallel, writes are
// serialised. Values returned are the caller's own copies.
//
// Creating a file leaves a temporary "<name>.new-*" next to it only if the process
// dies while creating it; such a file can be removed.
package store
