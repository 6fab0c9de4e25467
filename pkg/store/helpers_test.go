package store

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// t0 is in a zone other than UTC, to check that times come back equal (as instants).
var t0 = time.Date(2026, 11, 25, 19, 17, 30, 123456789, time.FixedZone("CET", 3600))

// openTest opens (creating) a store at path and closes it when the test ends.
func openTest(t testing.TB, path string, opts Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// newTestDB opens a fresh store in a temporary directory.
func newTestDB(t testing.TB) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stampede.db")
	return openTest(t, path, Options{}), path
}

func testRun(id string, started time.Time) Run {
	return Run{
		ID:        id,
		Status:    StatusRunning,
		Label:     "label " + id,
		Notes:     "notes",
		Config:    []byte(`{"users":100,"spawn_rate":10,"host":"http://127.0.0.1:8080","html":"<b>&</b>"}`),
		StartedAt: started,
	}
}

func mustCreate(t testing.TB, db *DB, r Run) {
	t.Helper()
	if err := db.CreateRun(r); err != nil {
		t.Fatalf("CreateRun(%q): %v", r.ID, err)
	}
}

// testSnapshot builds a snapshot of the interval starting at start with the given
// number of endpoints, each with a few hundred recorded latencies.
func testSnapshot(endpoints int, start time.Time, seed uint64) *aggregate.Snapshot {
	s := aggregate.NewSnapshot(start)
	s.End = start.Add(time.Second)
	if s.Endpoints == nil {
		s.Endpoints = map[aggregate.Endpoint]*aggregate.Stats{}
	}
	r := rand.New(rand.NewPCG(seed, 42))
	for i := range endpoints {
		st := aggregate.NewStats()
		for range 200 {
			d := time.Millisecond + time.Duration(r.ExpFloat64()*float64(20*time.Millisecond))
			st.Latency.Record(d)
			st.Requests++
			st.TotalTime += d
			st.Bytes += 512
		}
		st.Failures = uint64(i % 3)
		s.Endpoints[aggregate.Endpoint{Method: "GET", Name: fmt.Sprintf("/api/items/%d", i)}] = st
	}
	if endpoints > 0 {
		s.AddError(aggregate.ErrorKey{Endpoint: aggregate.Endpoint{Method: "GET", Name: "/api/items/0"}, Message: "HTTP 500"}, 3)
	}
	return s
}

// snapshotDiff describes how got differs from want ("" when it does not).
func snapshotDiff(got, want *aggregate.Snapshot) string {
	switch {
	case got == nil || want == nil:
		if got != want {
			return fmt.Sprintf("snapshot %p, want %p", got, want)
		}
		return ""
	case !got.Start.Equal(want.Start) || !got.End.Equal(want.End):
		return fmt.Sprintf("span [%s, %s], want [%s, %s]", got.Start, got.End, want.Start, want.End)
	case len(got.Endpoints) != len(want.Endpoints):
		return fmt.Sprintf("%d endpoints, want %d", len(got.Endpoints), len(want.Endpoints))
	case !maps.Equal(got.Errors, want.Errors):
		return fmt.Sprintf("errors %v, want %v", got.Errors, want.Errors)
	}
	for ep, w := range want.Endpoints {
		g := got.Endpoints[ep]
		switch {
		case g == nil:
			return fmt.Sprintf("endpoint %v missing", ep)
		case g.Requests != w.Requests || g.Failures != w.Failures || g.Bytes != w.Bytes || g.TotalTime != w.TotalTime:
			return fmt.Sprintf("endpoint %v: %+v, want %+v", ep, *g, *w)
		case g.Latency.Count() != w.Latency.Count() || g.Latency.Min() != w.Latency.Min() || g.Latency.Max() != w.Latency.Max():
			return fmt.Sprintf("endpoint %v: latency count/min/max differ", ep)
		}
		for _, p := range []float64{50, 90, 99, 99.9} {
			if g.Latency.Percentile(p) != w.Latency.Percentile(p) {
				return fmt.Sprintf("endpoint %v: p%v %s, want %s", ep, p, g.Latency.Percentile(p), w.Latency.Percentile(p))
			}
		}
	}
	return ""
}

// runDiff describes how got differs from want ("" when it does not); times are
// compared as instants.
func runDiff(got, want Run) string {
	switch {
	case got.ID != want.ID || got.Status != want.Status || got.Label != want.Label || got.Notes != want.Notes ||
		got.Reason != want.Reason || !reflect.DeepEqual(got.Summary, want.Summary):
		return fmt.Sprintf("got %+v\nwant %+v", got, want)
	case !bytes.Equal(got.Config, want.Config):
		return fmt.Sprintf("config %s, want %s", got.Config, want.Config)
	case !got.StartedAt.Equal(want.StartedAt) || !got.EndedAt.Equal(want.EndedAt):
		return fmt.Sprintf("times [%s, %s], want [%s, %s]", got.StartedAt, got.EndedAt, want.StartedAt, want.EndedAt)
	}
	return ""
}

func fileDigest(t testing.TB, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
