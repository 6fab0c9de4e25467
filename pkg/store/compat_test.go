package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fixtureDir holds a store written by main at commit 82f1a9d (two headless --demo
// runs: one closed-model with two local workers, one open-model aborted by a
// threshold) and what that commit's binary printed for it (`master runs list` and
// `master runs show RUN`, TZ=UTC). The store must keep reading such files.
const fixtureDir = "testdata/main-82f1a9d"

// openFixture opens a copy of the committed store (Open may write to a file, e.g.
// to mark interrupted runs; the fixture stays as it was written).
func openFixture(t *testing.T) *DB {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, "stampede.bbolt"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "stampede.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return openTest(t, path, Options{})
}

// fixtureRow is one line of the old binary's `runs list`.
type fixtureRow struct {
	id, status, label string
	peakUsers         int
	requests          uint64
}

func fixtureRuns(t *testing.T) []fixtureRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, "runs-list.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []fixtureRow
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Scan() // header
	for sc.Scan() {
		// ID STATUS DATE TIME DURATION PEAK REQUESTS FAIL% RPS P95 LABEL
		f := strings.Fields(sc.Text())
		if len(f) != 11 {
			t.Fatalf("runs-list.txt line %q: want 11 fields", sc.Text())
		}
		peak, err1 := strconv.Atoi(f[5])
		reqs, err2 := strconv.ParseUint(f[6], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("runs-list.txt line %q: %v %v", sc.Text(), err1, err2)
		}
		rows = append(rows, fixtureRow{id: f[0], status: f[1], label: f[10], peakUsers: peak, requests: reqs})
	}
	if len(rows) != 2 {
		t.Fatalf("runs-list.txt has %d runs, want 2", len(rows))
	}
	return rows
}

// fixtureEvents returns the event kinds and workers the old binary's `runs show`
// printed for run id, in order.
func fixtureEvents(t *testing.T, id string) (kinds, workers []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, "runs-show-"+id+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	_, events, ok := bytes.Cut(b, []byte("\nEvents:\n"))
	if !ok {
		t.Fatalf("runs-show-%s.txt has no Events section", id)
	}
	for line := range strings.Lines(string(events)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kinds = append(kinds, f[1])
		if len(f) > 2 && strings.HasPrefix(f[2], "local-") {
			workers = append(workers, f[2])
		}
	}
	return kinds, workers
}

// TestStoreWrittenByPreviousMain opens the committed store written by main at
// 82f1a9d and reads every part of both runs: the runs as listed, their intervals,
// final snapshots, telemetry and events, against what that commit's binary printed.
func TestStoreWrittenByPreviousMain(t *testing.T) {
	db := openFixture(t)
	if err := db.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if got := db.Interrupted(); len(got) != 0 {
		t.Errorf("Interrupted() = %v, want none (both runs completed)", got)
	}
	runs, err := db.Runs()
	if err != nil {
		t.Fatal(err)
	}
	want := fixtureRuns(t)
	if len(runs) != len(want) {
		t.Fatalf("Runs() = %d runs, want %d", len(runs), len(want))
	}
	for i, w := range want {
		r := runs[i]
		t.Run(w.label, func(t *testing.T) {
			if r.ID != w.id || string(r.Status) != w.status || r.Label != w.label {
				t.Errorf("run %d = %s %s %q, want %s %s %q", i, r.ID, r.Status, r.Label, w.id, w.status, w.label)
			}
			if r.Summary.Requests != w.requests || r.Summary.PeakUsers != w.peakUsers {
				t.Errorf("summary = %d requests, peak %d users; the old binary listed %d, %d",
					r.Summary.Requests, r.Summary.PeakUsers, w.requests, w.peakUsers)
			}
			if !json.Valid(r.Config) {
				t.Errorf("config %q is not JSON", r.Config)
			}
			if len(r.Summary.Thresholds) != 1 {
				t.Errorf("thresholds = %+v, want the run's one", r.Summary.Thresholds)
			}

			final, err := db.Final(r.ID)
			if err != nil {
				t.Fatalf("Final: %v", err)
			}
			if got := final.Total().Requests; got != w.requests {
				t.Errorf("final snapshot counts %d requests, the old binary listed %d", got, w.requests)
			}

			ivs, err := db.Intervals(r.ID)
			if err != nil {
				t.Fatalf("Intervals: %v", err)
			}
			if len(ivs) == 0 {
				t.Fatal("no intervals")
			}
			var sum uint64
			for j, iv := range ivs {
				if iv.Seq != uint64(j+1) || iv.Snapshot == nil {
					t.Fatalf("interval %d: seq %d, snapshot %v", j, iv.Seq, iv.Snapshot != nil)
				}
				sum += iv.Snapshot.Total().Requests
			}
			if sum != w.requests {
				t.Errorf("intervals count %d requests, the old binary listed %d", sum, w.requests)
			}

			kinds, workers := fixtureEvents(t, r.ID)
			events, err := db.Events(r.ID)
			if err != nil {
				t.Fatalf("Events: %v", err)
			}
			var gotKinds []string
			for _, e := range events {
				gotKinds = append(gotKinds, string(e.Kind))
			}
			if !slices.Equal(gotKinds, kinds) {
				t.Errorf("event kinds = %v, the old binary showed %v", gotKinds, kinds)
			}

			tel, err := db.Telemetry(r.ID)
			if err != nil {
				t.Fatalf("Telemetry: %v", err)
			}
			hosts := map[string]bool{}
			for _, rec := range tel {
				hosts[rec.Host] = true
				if rec.Role != "worker" || rec.Seq < 1 || rec.Seq > uint64(len(ivs)) {
					t.Errorf("telemetry record %+v: want a worker's, for a stored interval", rec)
				}
				var s struct {
					Host struct {
						Cores    int `json:"cores"`
						MemTotal int `json:"mem_total"`
					} `json:"host"`
				}
				if err := json.Unmarshal(rec.Sample, &s); err != nil || s.Host.Cores < 1 || s.Host.MemTotal < 1 {
					t.Errorf("telemetry sample of %s at %d: %+v, %v", rec.Host, rec.Seq, s, err)
				}
			}
			slices.Sort(workers)
			workers = slices.Compact(workers)
			if got := slices.Sorted(maps.Keys(hosts)); !slices.Equal(got, workers) {
				t.Errorf("telemetry from hosts %v, want the workers that joined: %v", got, workers)
			}
		})
	}
}
