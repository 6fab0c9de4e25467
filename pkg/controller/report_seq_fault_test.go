package controller_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/controller"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/store"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// TestReportsRetransmittedOrLateCountOnce plays a faulty worker over the real gRPC
// stream (cluster.Dial, the worker's own session code): it sends a report twice,
// sends one after a later one, and skips one. The master counts each report once,
// counts the late one, and records the duplicate and the missing report as events.
func TestReportsRetransmittedOrLateCountOnce(t *testing.T) {
	tc := newTestCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := tc.runAsync(ctx, controller.Config{
		Scenario: userbehavior.Scenario{Builtin: "none"},
		Classes:  []scheduler.Class{{Name: "U", Weight: 1}},
		Users:    1, SpawnRate: 10, ExpectWorkers: 1, StopWait: 10 * time.Second,
	})
	s, err := cluster.Dial(context.Background(), tc.addr, cluster.WorkerInfo{ID: "faulty"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := recvUntil(t, s, cluster.CommandStart)

	send := func(seq uint64, requests int, final bool) {
		t.Helper()
		if err := s.SendReport(cluster.Report{RunID: start.RunID, Seq: seq, Final: final,
			Snapshot: requestsSnapshot(requests), Users: map[string]int{"U": 1}}); err != nil {
			t.Fatal(err)
		}
	}
	send(1, 3, false)
	send(1, 3, false) // retransmitted
	send(3, 5, false) // 2 is late
	send(2, 7, false) // the late one: counts
	send(3, 5, false) // retransmitted after the late one
	send(5, 11, false)
	// 4 never comes.
	cancel()
	stop := recvUntil(t, s, cluster.CommandStop)
	if stop.RunID != start.RunID {
		t.Fatalf("stop for run %q, started %q", stop.RunID, start.RunID)
	}
	send(6, 13, true)

	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	if got, want := o.res.Final.Total().Requests, uint64(3+5+7+11+13); got != want {
		t.Errorf("counted %d requests, want %d (each report once)", got, want)
	}
	if strings.Contains(o.res.Run.Reason, "no final report") {
		t.Errorf("the final report was not taken: %q", o.res.Run.Reason)
	}
	events, err := tc.db.Events(o.res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var dups int
	var missing []string
	for _, e := range events {
		switch e.Kind {
		case "report_duplicate":
			dups++
		case "report_missing":
			missing = append(missing, e.Detail)
		}
	}
	if dups != 2 {
		t.Errorf("%d report_duplicate events, want 2: %+v", dups, events)
	}
	if len(missing) != 1 || !strings.Contains(missing[0], "[4]") {
		t.Errorf("report_missing events %q, want one naming report 4", missing)
	}
	stored, err := tc.db.Final(o.res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Total().Requests != o.res.Final.Total().Requests {
		t.Errorf("stored %d requests, run %d", stored.Total().Requests, o.res.Final.Total().Requests)
	}
	if o.res.Run.Status != store.StatusCompleted {
		t.Errorf("run %+v", o.res.Run)
	}
}

// recvUntil reads commands until one of kind comes (heartbeats pass by).
func recvUntil(t *testing.T, s *cluster.Session, kind cluster.CommandKind) cluster.Command {
	t.Helper()
	for {
		c, err := s.Recv()
		if err != nil {
			t.Fatalf("waiting for command %v: %v", kind, err)
		}
		if c.Kind == kind {
			return c
		}
	}
}

// requestsSnapshot is an interval in which n requests to GET /seq were measured.
func requestsSnapshot(n int) *aggregate.Snapshot {
	now := time.Now()
	col := aggregate.NewCollector(now)
	rec := col.NewRecorder()
	for range n {
		rec.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: "GET", Name: "/seq"}, Latency: time.Millisecond}, now)
	}
	rec.Flush()
	return col.Swap(now.Add(time.Millisecond))
}
