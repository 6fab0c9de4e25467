package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOpenMarksRunningInterrupted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stampede.db")
	db := openTest(t, path, Options{})
	lastAt := t0.Add(2 * time.Second)
	mustCreate(t, db, testRun("with-intervals", t0))
	for seq, at := range []time.Time{t0.Add(time.Second), lastAt} {
		iv := Interval{Seq: uint64(seq + 1), At: at, Users: 5, Workers: 1, Snapshot: testSnapshot(2, t0, 1)}
		if err := db.AppendInterval("with-intervals", iv); err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(t, db, testRun("bare", t0.Add(time.Minute)))
	mustCreate(t, db, testRun("done", t0))
	if err := db.FinishRun("done", StatusCompleted, "", t0.Add(time.Hour), Summary{Requests: 7}, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// A read-only open reports the runs as the file has them.
	ro := openTest(t, path, Options{ReadOnly: true})
	if got := ro.Interrupted(); len(got) != 0 {
		t.Errorf("read-only Interrupted: %v, want none", got)
	}
	if r, err := ro.Run("bare"); err != nil || r.Status != StatusRunning {
		t.Errorf("read-only Run: %v, %v; want it still running", r.Status, err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}

	db = openTest(t, path, Options{})
	if got, want := slices.Sorted(slices.Values(db.Interrupted())), []string{"bare", "with-intervals"}; !slices.Equal(got, want) {
		t.Errorf("Interrupted: %v, want %v", got, want)
	}
	tests := []struct {
		id     string
		status Status
		reason string
		ended  time.Time
	}{
		{"with-intervals", StatusInterrupted, ReasonMasterStopped, lastAt},
		{"bare", StatusInterrupted, ReasonMasterStopped, t0.Add(time.Minute)},
		{"done", StatusCompleted, "", t0.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			r, err := db.Run(tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.status || r.Reason != tt.reason || !r.EndedAt.Equal(tt.ended) {
				t.Errorf("Run = %s %q ended %s, want %s %q ended %s", r.Status, r.Reason, r.EndedAt, tt.status, tt.reason, tt.ended)
			}
			if tt.status == StatusInterrupted {
				if _, err := db.Final(tt.id); !errors.Is(err, ErrNoFinal) {
					t.Errorf("Final: %v, want ErrNoFinal", err)
				}
				if err := db.AppendInterval(tt.id, Interval{Seq: 3, At: lastAt, Snapshot: testSnapshot(1, t0, 1)}); err == nil {
					t.Error("AppendInterval to an interrupted run succeeded")
				}
			}
		})
	}
	if ivs, err := db.Intervals("with-intervals"); err != nil || len(ivs) != 2 {
		t.Errorf("Intervals of the interrupted run: %d, %v", len(ivs), err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if again := openTest(t, path, Options{}); len(again.Interrupted()) != 0 {
		t.Errorf("second reopen Interrupted: %v, want none", again.Interrupted())
	}
}

func TestOpenReadOnly(t *testing.T) {
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing.db")
		db, err := Open(path, Options{ReadOnly: true})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open: %v, %v; want fs.ErrNotExist", db, err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("read-only Open created the file: %v", err)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		_, err := Open(filepath.Join(t.TempDir(), "no", "such.db"), Options{})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open: %v; want fs.ErrNotExist", err)
		}
	})
	t.Run("file unchanged", func(t *testing.T) {
		db, path := newTestDB(t)
		mustCreate(t, db, testRun("running", t0))
		if err := db.AppendEvent("running", Event{At: t0, Kind: "worker_joined"}); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		before, stBefore := fileDigest(t, path), mustStat(t, path)

		ro := openTest(t, path, Options{ReadOnly: true})
		if _, err := ro.Runs(); err != nil {
			t.Fatal(err)
		}
		if _, err := ro.Events("running"); err != nil {
			t.Fatal(err)
		}
		if err := ro.Check(); err != nil {
			t.Fatal(err)
		}
		writes := map[string]error{
			"CreateRun":   ro.CreateRun(testRun("new", t0)),
			"SetLabel":    ro.SetLabel("running", "x", "y"),
			"AppendEvent": ro.AppendEvent("running", Event{At: t0, Kind: "k"}),
			"DeleteRun":   ro.DeleteRun("running"),
			"FinishRun":   ro.FinishRun("running", StatusCompleted, "", t0, Summary{}, nil),
		}
		for name, err := range writes {
			if err == nil {
				t.Errorf("%s on a read-only store succeeded", name)
			}
		}
		if err := ro.Close(); err != nil {
			t.Fatal(err)
		}
		if fileDigest(t, path) != before {
			t.Error("read-only Open changed the file's content")
		}
		if st := mustStat(t, path); !st.ModTime().Equal(stBefore.ModTime()) || st.Size() != stBefore.Size() {
			t.Errorf("read-only Open changed the file: mtime %s → %s, size %d → %d", stBefore.ModTime(), st.ModTime(), stBefore.Size(), st.Size())
		}
	})
}

func mustStat(t *testing.T, path string) fs.FileInfo {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestCreateLeavesNoTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, filepath.Join(dir, "stampede.db"), Options{})
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "stampede.db" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only stampede.db", names)
	}
	if mode := mustStat(t, filepath.Join(dir, "stampede.db")).Mode().Perm(); mode != 0o600 {
		t.Errorf("file mode %v, want 0600", mode)
	}
}

// realDB writes a store of several hundred KiB (events only, so no snapshot codec is
// involved) and returns its path and the size its pages take (the file may be longer).
func realDB(t *testing.T) (string, int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "real.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.bolt.NoSync = true // the file is closed cleanly; spare the disk 400 syncs
	detail := strings.Repeat("x", 1024)
	for r := range 4 {
		id := fmt.Sprintf("run-%d", r)
		if err := db.CreateRun(testRun(id, t0)); err != nil {
			t.Fatal(err)
		}
		for range 100 {
			if err := db.AppendEvent(id, Event{At: t0, Kind: "worker_joined", Detail: detail}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var size int64
	if err := db.bolt.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path, size
}

// editBolt changes a store file with bbolt directly, bypassing the store's checks.
func editBolt(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenCorruptFile(t *testing.T) {
	write := func(b []byte) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	src, used := realDB(t)
	real, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	truncated := func(size func(full int64) int64) func(t *testing.T, path string) {
		return write(real[:size(used)])
	}
	withStore := func(edit func(tx *bolt.Tx) error) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			db, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			editBolt(t, path, edit)
		}
	}
	random := make([]byte, 64<<10)
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = rng.Read(random)

	tests := []struct {
		name    string
		create  func(t *testing.T, path string)
		wantMsg string
	}{
		{"empty file", write(nil), "empty file"},
		{"4 KiB of text", write([]byte(strings.Repeat("GET /api/items HTTP/1.1\r\nHost: x\r\n\r\n", 200)[:4096])), ""},
		{"64 KiB of text", write([]byte(strings.Repeat("not a database\n", 64<<10/15))), "invalid database"},
		{"random bytes", write(random), "invalid database"},
		{"one byte", write([]byte{0}), ""},
		{"truncated to 100 bytes", truncated(func(int64) int64 { return 100 }), ""},
		{"truncated to one page", truncated(func(int64) int64 { return 4096 }), ""},
		{"truncated inside page 2", truncated(func(int64) int64 { return 8192 + 100 }), ""},
		{"truncated to 3 pages", truncated(func(int64) int64 { return 3 * 4096 }), ""},
		{"truncated to half", truncated(func(n int64) int64 { return n / 2 }), ""},
		{"truncated by one page", truncated(func(n int64) int64 { return n - 4096 }), ""},
		{"foreign bbolt file", func(t *testing.T, path string) {
			editBolt(t, path, func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket([]byte("widgets"))
				return err
			})
		}, `no "meta" bucket`},
		{"newer schema", withStore(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint64(nil, SchemaVersion+1))
		}), "newer"},
		{"schema 0", withStore(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint64(nil, 0))
		}), "schema version 0"},
		{"schema not 8 bytes", withStore(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keySchema, []byte{1})
		}), "bad schema version"},
		{"no runs bucket", withStore(func(tx *bolt.Tx) error {
			return tx.DeleteBucket(bucketRuns)
		}), `no "runs" bucket`},
	}
	for _, tt := range tests {
		for _, readOnly := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/readonly=%t", tt.name, readOnly), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "stampede.db")
				tt.create(t, path)
				before := fileDigest(t, path)
				db, err := Open(path, Options{ReadOnly: readOnly, Timeout: 50 * time.Millisecond})
				if err == nil {
					_ = db.Close()
					t.Fatal("Open succeeded")
				}
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open: %v, want ErrCorrupt", err)
				}
				t.Logf("Open: %v", err)
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("Open: %v, want a message containing %q", err, tt.wantMsg)
				}
				if fileDigest(t, path) != before {
					t.Error("Open of a corrupt file changed it")
				}
				// The failed Open released the file.
				probeUnlocked(t, path)
			})
		}
	}
}

// probeUnlocked fails the test when some process, this one included, still holds an
// exclusive lock on path.
func probeUnlocked(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := tryLock(f); err != nil {
		t.Errorf("file still locked after a failed Open: %v", err)
	}
}

func TestOpenLocked(t *testing.T) {
	db, path := newTestDB(t)
	mustCreate(t, db, testRun("r", t0))
	tests := []struct {
		name string
		opts Options
	}{
		{"read-write", Options{Timeout: 50 * time.Millisecond}},
		{"read-only", Options{ReadOnly: true, Timeout: 50 * time.Millisecond}},
		{"no wait", Options{Timeout: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			second, err := Open(path, tt.opts)
			if err == nil {
				_ = second.Close()
				t.Fatal("second Open of a locked file succeeded")
			}
			if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another master") {
				t.Fatalf("Open: %v, want ErrLocked saying another master may be using the file", err)
			}
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("Open waited %s", elapsed)
			}
		})
	}
	// The holder is unaffected, and once it closes the file opens again.
	if _, err := db.Run("r"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	again := openTest(t, path, Options{Timeout: 50 * time.Millisecond})
	if got := again.Interrupted(); !slices.Equal(got, []string{"r"}) {
		t.Errorf("Interrupted: %v", got)
	}
}

func TestCorruptRecords(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(tx *bolt.Tx) error
		read    func(db *DB) error
		wantMsg string
	}{
		{
			name:    "run record not JSON",
			edit:    func(tx *bolt.Tx) error { return tx.Bucket(bucketRuns).Put([]byte("r"), []byte("\x00garbage")) },
			read:    func(db *DB) error { _, err := db.Run("r"); return err },
			wantMsg: `run record "r"`,
		},
		{
			name: "run record for another ID",
			edit: func(tx *bolt.Tx) error {
				v := tx.Bucket(bucketRuns).Get([]byte("r"))
				return tx.Bucket(bucketRuns).Put([]byte("r"), []byte(strings.Replace(string(v), `"id":"r"`, `"id":"s"`, 1)))
			},
			read:    func(db *DB) error { _, err := db.Runs(); return err },
			wantMsg: `names run "s"`,
		},
		{
			name: "future run record",
			edit: func(tx *bolt.Tx) error {
				v := tx.Bucket(bucketRuns).Get([]byte("r"))
				return tx.Bucket(bucketRuns).Put([]byte("r"), []byte(strings.Replace(string(v), `"v":1`, `"v":2`, 1)))
			},
			read:    func(db *DB) error { _, err := db.Run("r"); return err },
			wantMsg: "record version 2",
		},
		{
			name: "interval record truncated",
			edit: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketRunData).Bucket([]byte("r")).Bucket(bucketIntervals).Put(seqKey(2), []byte{intervalRecordVersion, 0x80})
			},
			read:    func(db *DB) error { _, err := db.Intervals("r"); return err },
			wantMsg: "interval 2",
		},
		{
			name: "interval gap",
			edit: func(tx *bolt.Tx) error {
				ivs := tx.Bucket(bucketRunData).Bucket([]byte("r")).Bucket(bucketIntervals)
				return ivs.Put(seqKey(5), ivs.Get(seqKey(1)))
			},
			read:    func(db *DB) error { _, err := db.Intervals("r"); return err },
			wantMsg: "interval 5 where 3 was expected",
		},
		{
			name: "event not JSON",
			edit: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketRunData).Bucket([]byte("r")).Bucket(bucketEvents).Put(seqKey(1), []byte("{"))
			},
			read:    func(db *DB) error { _, err := db.Events("r"); return err },
			wantMsg: "event 1",
		},
		{
			name: "final record of an unknown version",
			edit: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketRunData).Bucket([]byte("r")).Put(keyFinal, []byte{9, 1, 2, 3})
			},
			read:    func(db *DB) error { _, err := db.Final("r"); return err },
			wantMsg: "final record: unknown record version 9",
		},
		{
			name: "data bucket missing",
			edit: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketRunData).DeleteBucket([]byte("r"))
			},
			read:    func(db *DB) error { _, err := db.Events("r"); return err },
			wantMsg: "no complete data bucket",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, path := newTestDB(t)
			mustCreate(t, db, testRun("r", t0))
			for seq := range uint64(2) {
				if err := db.AppendInterval("r", Interval{Seq: seq + 1, At: t0, Snapshot: testSnapshot(1, t0, seq)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.AppendEvent("r", Event{At: t0, Kind: "worker_joined"}); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			editBolt(t, path, tt.edit)

			for _, readOnly := range []bool{true, false} {
				db, err := Open(path, Options{ReadOnly: readOnly})
				if err != nil {
					t.Fatalf("Open(readonly=%t) of a file with a damaged record: %v", readOnly, err)
				}
				err = tt.read(db)
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("readonly=%t: %v, want ErrCorrupt containing %q", readOnly, err, tt.wantMsg)
				}
				if err := db.Check(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("readonly=%t: Check: %v, want ErrCorrupt containing %q", readOnly, err, tt.wantMsg)
				}
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}

	t.Run("damaged run can be deleted", func(t *testing.T) {
		db, path := newTestDB(t)
		mustCreate(t, db, testRun("ok", t0))
		mustCreate(t, db, testRun("bad", t0))
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		editBolt(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketRuns).Put([]byte("bad"), []byte("{}")) })
		db = openTest(t, path, Options{})
		if got := db.Interrupted(); !slices.Equal(got, []string{"ok"}) {
			t.Errorf("Interrupted: %v, want [ok]", got)
		}
		if _, err := db.Runs(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Runs: %v, want ErrCorrupt", err)
		}
		if err := db.DeleteRun("bad"); err != nil {
			t.Fatal(err)
		}
		if runs, err := db.Runs(); err != nil || len(runs) != 1 {
			t.Errorf("Runs after deleting the damaged one: %d, %v", len(runs), err)
		}
		if err := db.Check(); err != nil {
			t.Error(err)
		}
	})
}

func TestPanicInTransactionIsErrCorrupt(t *testing.T) {
	db, _ := newTestDB(t)
	mustCreate(t, db, testRun("r", t0))
	var nothing *bolt.Bucket
	fault := func(*bolt.Tx) error { _ = nothing.Get([]byte("k")); return nil }
	tests := []struct {
		name string
		run  func() error
	}{
		{"view", func() error { return db.view(fault) }},
		{"update", func() error {
			return db.update(func(tx *bolt.Tx) error {
				if err := tx.Bucket(bucketRuns).Delete([]byte("r")); err != nil {
					return err
				}
				return fault(tx)
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "panic") {
				t.Fatalf("got %v, want ErrCorrupt reporting the panic", err)
			}
			// The transaction was rolled back and its locks released.
			if _, err := db.Run("r"); err != nil {
				t.Fatal(err)
			}
			if err := db.SetLabel("r", tt.name, ""); err != nil {
				t.Fatal(err)
			}
		})
	}
}
