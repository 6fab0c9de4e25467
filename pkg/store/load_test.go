package store

import (
	"errors"
	"testing"
	"time"
)

func TestLoadRun(t *testing.T) {
	db, _ := newTestDB(t)
	mustCreate(t, db, testRun("r1", t0))
	for seq := uint64(1); seq <= 3; seq++ {
		at := t0.Add(time.Duration(seq) * time.Second)
		iv := Interval{Seq: seq, At: at, Users: int(seq), Workers: 1, Reports: 1, Snapshot: testSnapshot(2, at.Add(-time.Second), seq)}
		if err := db.AppendInterval("r1", iv); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AppendEvent("r1", Event{At: t0, Kind: "worker_joined", Worker: "w1"}); err != nil {
		t.Fatal(err)
	}

	t.Run("running: no final, every interval in order", func(t *testing.T) {
		d, err := db.LoadRun("r1")
		if err != nil {
			t.Fatal(err)
		}
		if d.Run.ID != "r1" || d.Final != nil || len(d.Events) != 1 {
			t.Fatalf("LoadRun = run %q, final %v, %d events; want r1, nil, 1", d.Run.ID, d.Final, len(d.Events))
		}
		var seqs []uint64
		for iv, err := range d.Intervals {
			if err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, iv.Seq)
		}
		if len(seqs) != 3 || seqs[0] != 1 || seqs[2] != 3 {
			t.Errorf("intervals %v, want 1 2 3", seqs)
		}
		n := 0
		for range d.Intervals { // stopping early ends the read
			n++
			break
		}
		if n != 1 {
			t.Errorf("ranged %d intervals before the break, want 1", n)
		}
	})

	t.Run("finished: the final snapshot", func(t *testing.T) {
		final := testSnapshot(2, t0, 9)
		if err := db.FinishRun("r1", StatusCompleted, "", t0.Add(4*time.Second), Summary{Requests: final.Total().Requests}, final); err != nil {
			t.Fatal(err)
		}
		d, err := db.LoadRun("r1")
		if err != nil {
			t.Fatal(err)
		}
		if d.Final == nil || d.Final.Total().Requests != final.Total().Requests {
			t.Fatalf("final %v, want %d requests", d.Final, final.Total().Requests)
		}
	})

	t.Run("unknown run", func(t *testing.T) {
		if _, err := db.LoadRun("nope"); !errors.Is(err, ErrRunNotFound) {
			t.Errorf("LoadRun(nope) = %v, want ErrRunNotFound", err)
		}
	})

	t.Run("deleted before its intervals are read", func(t *testing.T) {
		mustCreate(t, db, testRun("r2", t0))
		d, err := db.LoadRun("r2")
		if err != nil {
			t.Fatal(err)
		}
		if err := db.FinishRun("r2", StatusInterrupted, "", t0, Summary{}, nil); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteRun("r2"); err != nil {
			t.Fatal(err)
		}
		var errs []error
		for _, err := range d.Intervals {
			errs = append(errs, err)
		}
		if len(errs) != 1 || !errors.Is(errs[0], ErrRunNotFound) {
			t.Errorf("ranging the intervals gave %v, want one error wrapping ErrRunNotFound", errs)
		}
	})
}
