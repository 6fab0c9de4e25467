package web

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/store"
)

// BenchmarkOpenLongRun measures opening a stored one-hour run of 50 endpoints (3600
// one-second intervals) from the store, and again from the dashboard's run cache.
func BenchmarkOpenLongRun(b *testing.B) {
	db, err := store.Open(filepath.Join(b.TempDir(), "long.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	id := "20261125-120000-long"
	if err := db.CreateRun(store.Run{ID: id, Status: store.StatusRunning, StartedAt: start}); err != nil {
		b.Fatal(err)
	}
	total := aggregate.NewSnapshot(start)
	for sec := 1; sec <= 3600; sec++ {
		at := start.Add(time.Duration(sec) * time.Second)
		col := aggregate.NewCollector(at.Add(-time.Second))
		rec := col.NewRecorder()
		for e := range 50 {
			ep := aggregate.Endpoint{Method: "GET", Name: fmt.Sprintf("/api/endpoint/%02d", e)}
			for i := range 20 {
				rec.Record(aggregate.Sample{Endpoint: ep, Latency: time.Duration(1+(i*37+e*11+sec)%400) * time.Millisecond, Bytes: 512}, at)
			}
		}
		rec.Flush()
		iv := col.Swap(at)
		if err := db.AppendInterval(id, store.Interval{Seq: uint64(sec), At: at, Users: 100, Workers: 2, Reports: 2, Snapshot: iv}); err != nil {
			b.Fatal(err)
		}
		total.Merge(iv)
	}
	t := total.Total()
	if err := db.FinishRun(id, store.StatusCompleted, "", start.Add(time.Hour), store.Summary{Requests: t.Requests}, total); err != nil {
		b.Fatal(err)
	}
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			c := newRunCache(db, 16, time.Minute)
			if _, err := c.get(id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		c := newRunCache(db, 16, time.Minute)
		if _, err := c.get(id); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for b.Loop() {
			if _, err := c.get(id); err != nil {
				b.Fatal(err)
			}
		}
	})
}
