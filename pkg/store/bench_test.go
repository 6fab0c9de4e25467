package store

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkAppendInterval appends one interval with a 50-endpoint snapshot per
// iteration: snapshot encoding plus one bbolt transaction. "fsync" is what the master
// pays (the disk's sync latency dominates); "nosync" skips bbolt's fsync to show the
// CPU cost alone.
func BenchmarkAppendInterval(b *testing.B) {
	for _, sync := range []bool{true, false} {
		name := map[bool]string{true: "fsync", false: "nosync"}[sync]
		b.Run(name, func(b *testing.B) {
			db := openTest(b, filepath.Join(b.TempDir(), "bench.db"), Options{})
			db.bolt.NoSync = !sync
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
		})
	}
}
