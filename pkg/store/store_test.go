package store

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	db, path := newTestDB(t)

	run := testRun(NewRunID(t0), t0)
	mustCreate(t, db, run)

	var ivs []Interval
	for i := range 3 {
		at := t0.Add(time.Duration(i+1) * time.Second)
		iv := Interval{Seq: uint64(i + 1), At: at, Users: 10 * (i + 1), Workers: 2, Snapshot: testSnapshot(5, at.Add(-time.Second), uint64(i))}
		if err := db.AppendInterval(run.ID, iv); err != nil {
			t.Fatalf("AppendInterval %d: %v", iv.Seq, err)
		}
		ivs = append(ivs, iv)
	}
	events := []Event{
		{At: t0.Add(time.Second), Kind: "worker_joined", Worker: "w1", Detail: "10.0.0.1"},
		{At: t0.Add(2 * time.Second), Kind: "worker_lost", Worker: "w1"},
		{At: t0.Add(3 * time.Second), Kind: "note"},
	}
	for _, e := range events {
		if err := db.AppendEvent(run.ID, e); err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
	}
	if err := db.SetLabel(run.ID, "baseline", "before the cache change"); err != nil {
		t.Fatalf("SetLabel: %v", err)
	}
	run.Label, run.Notes = "baseline", "before the cache change"

	if _, err := db.Final(run.ID); !errors.Is(err, ErrNoFinal) {
		t.Errorf("Final of a running run: %v, want ErrNoFinal", err)
	}

	final := testSnapshot(5, t0, 99)
	summary := Summary{Requests: 3000, Failures: 12, PeakUsers: 30, RPS: 1000.5, P50: 15 * time.Millisecond, P95: 60 * time.Millisecond, P99: 90 * time.Millisecond}
	ended := t0.Add(3 * time.Second)
	if err := db.FinishRun(run.ID, StatusCompleted, "", ended, summary, final); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	run.Status, run.EndedAt, run.Summary = StatusCompleted, ended, summary

	check := func(t *testing.T, db *DB) {
		got, err := db.Run(run.ID)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if d := runDiff(got, run); d != "" {
			t.Errorf("Run: %s", d)
		}
		runs, err := db.Runs()
		if err != nil || len(runs) != 1 {
			t.Fatalf("Runs: %d runs, %v", len(runs), err)
		}
		if d := runDiff(runs[0], run); d != "" {
			t.Errorf("Runs: %s", d)
		}
		gotIvs, err := db.Intervals(run.ID)
		if err != nil {
			t.Fatalf("Intervals: %v", err)
		}
		if len(gotIvs) != len(ivs) {
			t.Fatalf("Intervals: %d, want %d", len(gotIvs), len(ivs))
		}
		for i, g := range gotIvs {
			w := ivs[i]
			if g.Seq != w.Seq || !g.At.Equal(w.At) || g.Users != w.Users || g.Workers != w.Workers {
				t.Errorf("interval %d: %+v, want %+v", i, g, w)
			}
			if d := snapshotDiff(g.Snapshot, w.Snapshot); d != "" {
				t.Errorf("interval %d snapshot: %s", i, d)
			}
		}
		gotEvents, err := db.Events(run.ID)
		if err != nil {
			t.Fatalf("Events: %v", err)
		}
		if !slices.EqualFunc(gotEvents, events, func(a, b Event) bool {
			return a.At.Equal(b.At) && a.Kind == b.Kind && a.Worker == b.Worker && a.Detail == b.Detail
		}) {
			t.Errorf("Events: %+v, want %+v", gotEvents, events)
		}
		gotFinal, err := db.Final(run.ID)
		if err != nil {
			t.Fatalf("Final: %v", err)
		}
		if d := snapshotDiff(gotFinal, final); d != "" {
			t.Errorf("Final: %s", d)
		}
		if err := db.Check(); err != nil {
			t.Errorf("Check: %v", err)
		}
	}
	t.Run("open", func(t *testing.T) { check(t, db) })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	t.Run("reopened", func(t *testing.T) {
		db := openTest(t, path, Options{})
		if got := db.Interrupted(); len(got) != 0 {
			t.Errorf("Interrupted: %v, want none", got)
		}
		check(t, db)
	})
	t.Run("read-only", func(t *testing.T) { check(t, openTest(t, path, Options{ReadOnly: true})) })
}

func TestRunsNewestFirst(t *testing.T) {
	tests := []struct {
		name string
		runs []Run // in creation order
		want []string
	}{
		{name: "empty", want: nil},
		{
			name: "by start time",
			runs: []Run{testRun("b", t0.Add(time.Hour)), testRun("a", t0.Add(2*time.Hour)), testRun("c", t0)},
			want: []string{"a", "b", "c"},
		},
		{
			name: "ties by ID",
			runs: []Run{testRun("x1", t0), testRun("x3", t0), testRun("x2", t0), testRun("y", t0.Add(-time.Second))},
			want: []string{"x3", "x2", "x1", "y"},
		},
		{
			name: "generated IDs",
			runs: []Run{testRun(NewRunID(t0), t0), testRun(NewRunID(t0.Add(time.Minute)), t0.Add(time.Minute))},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := newTestDB(t)
			for _, r := range tt.runs {
				mustCreate(t, db, r)
			}
			want := tt.want
			if want == nil {
				for _, r := range slices.Backward(tt.runs) {
					want = append(want, r.ID)
				}
			}
			runs, err := db.Runs()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range runs {
				got = append(got, r.ID)
			}
			if !slices.Equal(got, want) {
				t.Errorf("Runs: %v, want %v", got, want)
			}
		})
	}
}

func TestAppendIntervalSequence(t *testing.T) {
	db, _ := newTestDB(t)
	mustCreate(t, db, testRun("r", t0))
	mustCreate(t, db, testRun("done", t0))
	if err := db.FinishRun("done", StatusFailed, "boom", t0.Add(time.Second), Summary{}, nil); err != nil {
		t.Fatal(err)
	}
	snap := testSnapshot(2, t0, 1)
	iv := func(seq uint64) Interval {
		return Interval{Seq: seq, At: t0.Add(time.Duration(seq) * time.Second), Users: 1, Workers: 1, Snapshot: snap}
	}
	tests := []struct {
		name    string
		id      string
		iv      Interval
		wantErr string // "" for success
		is      error
	}{
		{"seq 0 first", "r", iv(0), "sequence gap", nil},
		{"seq 2 first", "r", iv(2), "sequence gap", nil},
		{"seq 1", "r", iv(1), "", nil},
		{"seq 1 again", "r", iv(1), "sequence gap", nil},
		{"skip to 3", "r", iv(3), "sequence gap", nil},
		{"seq 2", "r", iv(2), "", nil},
		{"seq 3", "r", iv(3), "", nil},
		{"no snapshot", "r", Interval{Seq: 4, At: t0}, "no snapshot", nil},
		{"no time", "r", Interval{Seq: 4, Snapshot: snap}, "no time", nil},
		{"negative users", "r", Interval{Seq: 4, At: t0, Users: -1, Snapshot: snap}, "out of range", nil},
		{"unknown run", "nope", iv(1), "run not found", ErrRunNotFound},
		{"finished run", "done", iv(1), "not running", nil},
		{"seq 4", "r", iv(4), "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.AppendInterval(tt.id, tt.iv)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("AppendInterval: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("AppendInterval: %v, want an error containing %q", err, tt.wantErr)
			case tt.is != nil && !errors.Is(err, tt.is):
				t.Fatalf("AppendInterval: %v, want errors.Is %v", err, tt.is)
			}
		})
	}
	ivs, err := db.Intervals("r")
	if err != nil {
		t.Fatal(err)
	}
	for i, iv := range ivs {
		if iv.Seq != uint64(i+1) {
			t.Errorf("interval %d has Seq %d", i, iv.Seq)
		}
	}
	if len(ivs) != 4 {
		t.Errorf("%d intervals, want 4", len(ivs))
	}
}

func TestCreateRunErrors(t *testing.T) {
	db, _ := newTestDB(t)
	mustCreate(t, db, testRun("taken", t0))
	with := func(f func(*Run)) Run {
		r := testRun("fresh", t0)
		f(&r)
		return r
	}
	tests := []struct {
		name    string
		run     Run
		wantErr string
		is      error
	}{
		{"empty ID", with(func(r *Run) { r.ID = "" }), "empty run ID", nil},
		{"slash in ID", with(func(r *Run) { r.ID = "a/b" }), "character", nil},
		{"dot first", with(func(r *Run) { r.ID = ".." }), "starts with", nil},
		{"long ID", with(func(r *Run) { r.ID = strings.Repeat("a", MaxIDLen+1) }), "longer", nil},
		{"taken ID", with(func(r *Run) { r.ID = "taken" }), "already exists", ErrRunExists},
		{"no start", with(func(r *Run) { r.StartedAt = time.Time{} }), "no start time", nil},
		{"bad status", with(func(r *Run) { r.Status = "paused" }), "unknown status", nil},
		{"bad config", with(func(r *Run) { r.Config = []byte(`{"users":`) }), "not valid JSON", nil},
		{"NaN RPS", with(func(r *Run) { r.Summary.RPS = math.NaN() }), "RPS", nil},
		{"all at once", Run{ID: "", Status: "x", Config: []byte("{")}, "no start time", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.CreateRun(tt.run)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CreateRun: %v, want an error containing %q", err, tt.wantErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("CreateRun: %v, want errors.Is %v", err, tt.is)
			}
		})
	}
	runs, err := db.Runs()
	if err != nil || len(runs) != 1 {
		t.Errorf("Runs after failed creates: %d runs, %v; want only the first", len(runs), err)
	}

	t.Run("defaults", func(t *testing.T) {
		r := Run{ID: "minimal", StartedAt: t0}
		mustCreate(t, db, r)
		got, err := db.Run("minimal")
		if err != nil {
			t.Fatal(err)
		}
		r.Status = StatusRunning
		if d := runDiff(got, r); d != "" {
			t.Error(d)
		}
	})
}

func TestFinishRunErrors(t *testing.T) {
	db, _ := newTestDB(t)
	mustCreate(t, db, testRun("r", t0))
	end := t0.Add(time.Minute)
	tests := []struct {
		name    string
		id      string
		status  Status
		end     time.Time
		summary Summary
		wantErr string
		is      error
	}{
		{"unknown run", "nope", StatusCompleted, end, Summary{}, "run not found", ErrRunNotFound},
		{"running status", "r", StatusRunning, end, Summary{}, "cannot finish", nil},
		{"empty status", "r", "", end, Summary{}, "cannot finish", nil},
		{"no end", "r", StatusCompleted, time.Time{}, Summary{}, "no end time", nil},
		{"infinite RPS", "r", StatusCompleted, end, Summary{RPS: math.Inf(1)}, "RPS", nil},
		{"ok", "r", StatusFailed, end, Summary{Requests: 1}, "", nil},
		{"twice", "r", StatusCompleted, end, Summary{}, "already failed", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.FinishRun(tt.id, tt.status, "threshold p99 < 100ms failed", tt.end, tt.summary, nil)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("FinishRun: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("FinishRun: %v, want an error containing %q", err, tt.wantErr)
			case tt.is != nil && !errors.Is(err, tt.is):
				t.Fatalf("FinishRun: %v, want errors.Is %v", err, tt.is)
			}
		})
	}
	got, err := db.Run("r")
	if err != nil {
		t.Fatal(err)
	}
	want := testRun("r", t0)
	want.Status, want.Reason, want.EndedAt, want.Summary = StatusFailed, "threshold p99 < 100ms failed", end, Summary{Requests: 1}
	if d := runDiff(got, want); d != "" {
		t.Error(d)
	}
	if _, err := db.Final("r"); !errors.Is(err, ErrNoFinal) || !errors.Is(err, ErrRunNotFound) {
		t.Errorf("Final of a run finished without one: %v, want ErrNoFinal", err)
	}
}

func TestNotFound(t *testing.T) {
	db, _ := newTestDB(t)
	calls := map[string]func() error{
		"Run":         func() error { _, err := db.Run("ghost"); return err },
		"Intervals":   func() error { _, err := db.Intervals("ghost"); return err },
		"Events":      func() error { _, err := db.Events("ghost"); return err },
		"Final":       func() error { _, err := db.Final("ghost"); return err },
		"SetLabel":    func() error { return db.SetLabel("ghost", "l", "n") },
		"AppendEvent": func() error { return db.AppendEvent("ghost", Event{At: t0, Kind: "k"}) },
		"DeleteRun":   func() error { return db.DeleteRun("ghost") },
		"FinishRun":   func() error { return db.FinishRun("ghost", StatusCompleted, "", t0, Summary{}, nil) },
		"AppendInterval": func() error {
			return db.AppendInterval("ghost", Interval{Seq: 1, At: t0, Snapshot: testSnapshot(0, t0, 0)})
		},
	}
	for _, name := range slices.Sorted(maps.Keys(calls)) {
		t.Run(name, func(t *testing.T) {
			err := calls[name]()
			if !errors.Is(err, ErrRunNotFound) || !strings.Contains(err.Error(), `"ghost"`) {
				t.Errorf("%s: %v, want ErrRunNotFound naming the run", name, err)
			}
			if errors.Is(err, ErrNoFinal) {
				t.Errorf("%s: %v is ErrNoFinal, want only ErrRunNotFound", name, err)
			}
		})
	}
}

func TestDeleteRun(t *testing.T) {
	db, _ := newTestDB(t)
	for _, id := range []string{"keep", "drop", "live"} {
		mustCreate(t, db, testRun(id, t0))
		if err := db.AppendEvent(id, Event{At: t0, Kind: "worker_joined", Worker: "w"}); err != nil {
			t.Fatal(err)
		}
		if err := db.AppendInterval(id, Interval{Seq: 1, At: t0, Users: 1, Workers: 1, Snapshot: testSnapshot(3, t0, 1)}); err != nil {
			t.Fatal(err)
		}
		if id != "live" {
			if err := db.FinishRun(id, StatusCompleted, "", t0.Add(time.Second), Summary{}, testSnapshot(3, t0, 2)); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name    string
		id      string
		wantErr string
		is      error
	}{
		{"finished run", "drop", "", nil},
		{"again", "drop", "run not found", ErrRunNotFound},
		{"running run", "live", "still running", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.DeleteRun(tt.id)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("DeleteRun: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("DeleteRun: %v, want an error containing %q", err, tt.wantErr)
			case tt.is != nil && !errors.Is(err, tt.is):
				t.Fatalf("DeleteRun: %v, want errors.Is %v", err, tt.is)
			}
		})
	}
	if _, err := db.Intervals("drop"); !errors.Is(err, ErrRunNotFound) {
		t.Errorf("Intervals of a deleted run: %v", err)
	}
	for _, id := range []string{"keep", "live"} {
		if ivs, err := db.Intervals(id); err != nil || len(ivs) != 1 {
			t.Errorf("Intervals(%q) after deleting another run: %d, %v", id, len(ivs), err)
		}
	}
	runs, err := db.Runs()
	if err != nil || len(runs) != 2 {
		t.Errorf("Runs: %d, %v; want 2", len(runs), err)
	}
	// The ID is free again, with nothing left of the old run.
	mustCreate(t, db, testRun("drop", t0))
	if ivs, err := db.Intervals("drop"); err != nil || len(ivs) != 0 {
		t.Errorf("Intervals of a recreated run: %d, %v", len(ivs), err)
	}
	if evs, err := db.Events("drop"); err != nil || len(evs) != 0 {
		t.Errorf("Events of a recreated run: %d, %v", len(evs), err)
	}
	if err := db.Check(); err != nil {
		t.Error(err)
	}
}

func TestNewRunID(t *testing.T) {
	format := regexp.MustCompile(`^\d{8}-\d{6}-[0-9a-f]{4}$`)
	id := NewRunID(time.Date(2026, 11, 25, 20, 17, 30, 0, time.FixedZone("CET", 3600)))
	if !strings.HasPrefix(id, "20261125-191730-") || !format.MatchString(id) {
		t.Errorf("NewRunID = %q, want 20261125-191730-xxxx (UTC)", id)
	}
	if err := validID(id); err != nil {
		t.Errorf("NewRunID gave an invalid ID: %v", err)
	}
	seen := map[string]bool{}
	prev := ""
	for i := range 100 {
		id := NewRunID(t0.Add(time.Duration(i) * time.Second))
		if id <= prev {
			t.Errorf("%q sorts before %q", id, prev)
		}
		prev = id
		seen[NewRunID(t0)] = true
	}
	if len(seen) < 90 {
		t.Errorf("100 IDs in one second: only %d distinct", len(seen))
	}
}

func TestConcurrentUse(t *testing.T) {
	db, _ := newTestDB(t)
	const writers, events = 4, 25
	for w := range writers {
		mustCreate(t, db, testRun(fmt.Sprintf("run-%d", w), t0.Add(time.Duration(w)*time.Second)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers*events)
	for w := range writers {
		id := fmt.Sprintf("run-%d", w)
		wg.Go(func() {
			snap := testSnapshot(2, t0, uint64(w))
			for i := range events {
				if err := db.AppendEvent(id, Event{At: t0, Kind: "tick", Detail: fmt.Sprint(i)}); err != nil {
					errs <- err
				}
				if err := db.AppendInterval(id, Interval{Seq: uint64(i + 1), At: t0, Users: i, Workers: 1, Snapshot: snap}); err != nil {
					errs <- err
				}
			}
		})
		wg.Go(func() {
			for range events {
				if _, err := db.Runs(); err != nil {
					errs <- err
				}
				if _, err := db.Intervals(id); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := range writers {
		id := fmt.Sprintf("run-%d", w)
		evs, err := db.Events(id)
		if err != nil || len(evs) != events {
			t.Errorf("Events(%q): %d, %v", id, len(evs), err)
		}
		for i, e := range evs {
			if e.Detail != fmt.Sprint(i) {
				t.Errorf("Events(%q)[%d] = %q, out of order", id, i, e.Detail)
			}
		}
		if ivs, err := db.Intervals(id); err != nil || len(ivs) != events {
			t.Errorf("Intervals(%q): %d, %v", id, len(ivs), err)
		}
	}
}
