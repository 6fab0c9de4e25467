package cluster

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// TestFullyCappedReportFitsTheWire: the largest report a worker's Collector can make
// (every named row, every overflow row, one failure per row) passes the master's
// limits, so the endpoint cap and the wire's limits cannot drift apart.
func TestFullyCappedReportFitsTheWire(t *testing.T) {
	start := time.Unix(1700000000, 0)
	col := aggregate.NewCollector(start)
	rec := col.NewRecorder()
	var sent uint64
	record := func(method, name string) {
		rec.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: method, Name: name}, Latency: time.Millisecond,
			Err: "HTTP 404 Not Found"}, start)
		sent++
	}
	for i := range 10000 {
		record("GET", fmt.Sprintf("/item/%d", i))
	}
	for i := range 4 * aggregate.MaxOtherMethods {
		record(fmt.Sprintf("M%d", i), "/x")
	}
	for kind := range aggregate.TimingKinds {
		record(kind, "/y")
	}
	rec.Flush()
	snap := col.Swap(start.Add(time.Second))
	if len(snap.Endpoints) <= aggregate.MaxEndpoints+aggregate.MaxOtherMethods {
		t.Fatalf("only %d rows: the test does not reach the overflow rows", len(snap.Endpoints))
	}
	p, err := reportToPB(Report{RunID: "r", Seq: 1, Snapshot: snap, Users: map[string]int{}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := reportFromPB(p)
	if err != nil {
		t.Fatalf("the master refuses a capped report of %d rows and %d errors: %v", len(snap.Endpoints), len(snap.Errors), err)
	}
	if tot := got.Snapshot.Total(); tot.Requests+uint64(len(aggregate.TimingKinds)) != sent {
		t.Errorf("%d requests (and %d timing rows) of %d sent", tot.Requests, len(aggregate.TimingKinds), sent)
	}
	if !maps.EqualFunc(got.Snapshot.Endpoints, snap.Endpoints, (*aggregate.Stats).Equal) {
		t.Error("the rows changed on the wire")
	}
	// Which error rows keep their messages past MaxErrorKinds depends on the order
	// they are added in; their sum does not.
	var errs uint64
	for _, n := range got.Snapshot.Errors {
		errs += n
	}
	if errs != sent {
		t.Errorf("error rows count %d failures, want %d", errs, sent)
	}
}
