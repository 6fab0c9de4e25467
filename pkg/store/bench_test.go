package store

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkAppendInterval appends one interval with a 50-endpoint snapshot per
// iteration: snapshot encoding plus one bbolt transaction, fsync included.
func BenchmarkAppendInterval(b *testing.B) {
	db := openTest(b, filepath.Join(b.TempDir(), "bench.db"), Options{})
	mustCreate(b, db, testRun("bench", t0))
	snap := testSnapshot(50, t0, 1)
	enc, err := snap.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	var seq uint64
	for b.Loop() {
		seq++
		iv := Interval{Seq: seq, At: t0.Add(time.Duration(seq) * time.Second), Users: 500, Workers: 10, Snapshot: snap}
		if err := db.AppendInterval("bench", iv); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(enc)), "snapshot-bytes")
}
