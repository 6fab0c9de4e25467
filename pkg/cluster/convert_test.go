package cluster

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/userbehavior"
	pb "github.com/stampede-load/stampede/proto"
)

func sampleReport() Report {
	start := time.Unix(1700000000, 0)
	col := aggregate.NewCollector(start)
	rec := col.NewRecorder()
	for i := range 500 {
		s := aggregate.Sample{Endpoint: aggregate.Endpoint{Method: "GET", Name: "/a"}, Latency: time.Duration(i+1) * time.Millisecond, Bytes: 10}
		if i%50 == 0 {
			s.Err = "HTTP 500 Internal Server Error"
		}
		rec.Record(s, start)
	}
	rec.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: "POST", Name: "/b"}, Latency: time.Second}, start)
	open := col.NewRecorder() // an open-model user: service time beside latency
	open.SetLateness(300 * time.Millisecond)
	open.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: "GET", Name: "/open"}, Latency: 20 * time.Millisecond}, start)
	open.Flush()
	paced := col.NewRecorder() // a paced closed-model user: corrected latency
	paced.SetPace(100 * time.Millisecond)
	paced.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: "GET", Name: "/paced"}, Latency: time.Second}, start)
	paced.Flush()
	rec.Count("cache_hit", 3)
	rec.Exception("key error", "main.star:3:5")
	rec.Flush()
	return Report{RunID: "r1", Seq: 7, PlanVersion: 3, Snapshot: col.Swap(start.Add(time.Second)),
		Users: map[string]int{"A": 3, "B": 1}, Final: true}
}

func TestReportRoundTrip(t *testing.T) {
	in := sampleReport()
	p, err := reportToPB(in)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := proto.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back pb.Report
	if err := proto.Unmarshal(wire, &back); err != nil {
		t.Fatal(err)
	}
	out, err := reportFromPB(&back)
	if err != nil {
		t.Fatal(err)
	}
	if out.RunID != in.RunID || out.Seq != in.Seq || out.PlanVersion != in.PlanVersion || !out.Final || !reflect.DeepEqual(out.Users, in.Users) {
		t.Errorf("header: got %+v", out)
	}
	if !out.Snapshot.Start.Equal(in.Snapshot.Start) || !out.Snapshot.End.Equal(in.Snapshot.End) {
		t.Errorf("span: got %v..%v", out.Snapshot.Start, out.Snapshot.End)
	}
	if !reflect.DeepEqual(out.Snapshot.Counters, in.Snapshot.Counters) || !reflect.DeepEqual(out.Snapshot.Exceptions, in.Snapshot.Exceptions) {
		t.Errorf("counters %v exceptions %v, want %v %v", out.Snapshot.Counters, out.Snapshot.Exceptions, in.Snapshot.Counters, in.Snapshot.Exceptions)
	}
	if !reflect.DeepEqual(out.Snapshot.Errors, in.Snapshot.Errors) {
		t.Errorf("errors: got %v want %v", out.Snapshot.Errors, in.Snapshot.Errors)
	}
	for ep, want := range in.Snapshot.Endpoints {
		got := out.Snapshot.Endpoints[ep]
		if got == nil || got.Requests != want.Requests || got.Failures != want.Failures || got.Bytes != want.Bytes || got.TotalTime != want.TotalTime {
			t.Errorf("%v: got %+v want %+v", ep, got, want)
			continue
		}
		if !got.Equal(want) {
			t.Errorf("%v: histograms differ after the round trip (service %d, corrected %d samples)",
				ep, got.Service.Count(), got.Corrected.Count())
		}
	}
	if out.Snapshot.Endpoints[aggregate.Endpoint{Method: "GET", Name: "/open"}].Service.Count() != 1 ||
		out.Snapshot.Endpoints[aggregate.Endpoint{Method: "GET", Name: "/paced"}].Corrected.Count() != 10 {
		t.Error("the optional histograms did not cross the wire")
	}
}

func TestReportFromPBRejects(t *testing.T) {
	get := aggregate.Endpoint{Method: "GET", Name: "/a"}
	// snap re-encodes the sample report's snapshot after break_ changed it.
	snap := func(break_ func(s *aggregate.Snapshot)) func(r *pb.Report) {
		return func(r *pb.Report) {
			s := sampleReport().Snapshot
			break_(s)
			b, err := s.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			r.Snapshot = b
		}
	}
	tests := []struct {
		name   string
		break_ func(r *pb.Report)
	}{
		{"no run id", func(r *pb.Report) { r.RunId = "" }},
		{"negative users", func(r *pb.Report) { r.Users["A"] = -1 }},
		{"too many classes", func(r *pb.Report) {
			for i := range MaxClasses + 1 {
				r.Users[fmt.Sprint(i)] = 1
			}
		}},
		{"garbage snapshot", func(r *pb.Report) { r.Snapshot = []byte{0xff, 0xff, 0xff} }},
		{"trailing bytes", func(r *pb.Report) { r.Snapshot = append(r.Snapshot, 0) }},
		{"failures above requests", snap(func(s *aggregate.Snapshot) { s.Endpoints[get].Failures = s.Endpoints[get].Requests + 1 })},
		{"count disagrees with histogram", snap(func(s *aggregate.Snapshot) { s.Endpoints[get].Requests++ })},
		{"negative time", snap(func(s *aggregate.Snapshot) { s.Endpoints[get].TotalTime = -1 })},
		{"service beyond requests", snap(func(s *aggregate.Snapshot) {
			st := s.Endpoints[get]
			st.Service = st.Latency.Clone()
			st.Service.Merge(st.Latency)
		})},
		{"too many endpoints", snap(func(s *aggregate.Snapshot) {
			for i := range aggregate.MaxPeerEndpoints {
				s.Endpoints[aggregate.Endpoint{Method: "GET", Name: fmt.Sprint("/", i)}] = s.Endpoints[get].Clone()
			}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := reportToPB(sampleReport())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := reportFromPB(r); err != nil {
				t.Fatalf("the unbroken report: %v", err)
			}
			tt.break_(r)
			if _, err := reportFromPB(r); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestReportCarriesTheStoredEncoding: the snapshot crosses the wire in the bytes the
// store keeps (aggregate's canonical encoding), not a copy of its own.
func TestReportCarriesTheStoredEncoding(t *testing.T) {
	in := sampleReport()
	p, err := reportToPB(in)
	if err != nil {
		t.Fatal(err)
	}
	want, err := in.Snapshot.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Snapshot, want) {
		t.Error("the report's snapshot bytes are not the snapshot's canonical encoding")
	}
}

func TestCommandRoundTrip(t *testing.T) {
	tests := []Command{
		{Kind: CommandStart, RunID: "r", PlanVersion: 2, SpawnRate: 2.5, Users: map[string]int{"http": 7},
			Scenario: userbehavior.Scenario{Host: "http://127.0.0.1:1/x", Quick: &userbehavior.QuickSpec{
				Method: "POST", URL: "http://127.0.0.1:1/x", Body: []byte("{}"), Header: http.Header{"X-A": {"1", "2"}},
				Wait: userbehavior.Wait{Kind: userbehavior.WaitBetween, Min: time.Second, Max: 2 * time.Second}}}},
		{Kind: CommandStart, RunID: "r", PlanVersion: 1, SpawnRate: 1, Users: map[string]int{"A": 1, "B": 0},
			Scenario: userbehavior.Scenario{Host: "http://h", Builtin: "demo"}},
		{Kind: CommandStart, RunID: "r", PlanVersion: 4, SpawnRate: 10, Users: map[string]int{"A": 5},
			Scenario: userbehavior.Scenario{Host: "http://h", Builtin: "demo"},
			Arrival: &Arrival{Stages: scheduler.Stages{{Duration: 30 * time.Second, Target: 200}, {Duration: time.Minute, Target: 200}},
				Elapsed: 1500 * time.Millisecond, From: 17, Index: 1, Count: 3, MaxUsers: 50,
				Classes: []scheduler.Class{{Name: "A", Weight: 3}, {Name: "B", Weight: 1}}}},
		{Kind: CommandStop, RunID: "r"},
		{Kind: CommandQuit, Reason: "bye"},
	}
	for _, in := range tests {
		m, err := commandToPB(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := commandFromPB(m)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Errorf("round trip:\n in %+v\nout %+v", in, out)
		}
	}
}

func TestCommandFromPBRejects(t *testing.T) {
	for name, m := range map[string]*pb.MasterMessage{
		"empty":         {},
		"start no run":  {Body: &pb.MasterMessage_Start{Start: &pb.Start{Scenario: &pb.Scenario{Kind: &pb.Scenario_Builtin{Builtin: "x"}}}}},
		"negative rate": {Body: &pb.MasterMessage_Start{Start: &pb.Start{RunId: "r", SpawnRate: -1, Scenario: &pb.Scenario{Kind: &pb.Scenario_Builtin{Builtin: "x"}}}}},
		"no scenario":   {Body: &pb.MasterMessage_Start{Start: &pb.Start{RunId: "r", SpawnRate: 1}}},
		"bad wait": {Body: &pb.MasterMessage_Start{Start: &pb.Start{RunId: "r", SpawnRate: 1, Scenario: &pb.Scenario{
			Kind: &pb.Scenario_Quick{Quick: &pb.QuickHTTP{Url: "http://h", Wait: &pb.Wait{Kind: "between", MinSeconds: 3, MaxSeconds: 1}}}}}}},
		"arrival index beyond count": {Body: &pb.MasterMessage_Start{Start: &pb.Start{RunId: "r", SpawnRate: 1,
			Scenario: &pb.Scenario{Kind: &pb.Scenario_Builtin{Builtin: "x"}},
			Arrival:  &pb.Arrival{Stages: []*pb.RateStage{{DurationNanos: 1e9, Target: 5}}, Index: 3, Count: 3, MaxUsers: 1, Classes: []*pb.ClassWeight{{Name: "A", Weight: 1}}}}}},
		"arrival NaN rate": {Body: &pb.MasterMessage_Start{Start: &pb.Start{RunId: "r", SpawnRate: 1,
			Scenario: &pb.Scenario{Kind: &pb.Scenario_Builtin{Builtin: "x"}},
			Arrival:  &pb.Arrival{Stages: []*pb.RateStage{{DurationNanos: 1e9, Target: math.NaN()}}, Count: 1, MaxUsers: 1, Classes: []*pb.ClassWeight{{Name: "A", Weight: 1}}}}}},
		"arrival no stages": {Body: &pb.MasterMessage_Start{Start: &pb.Start{RunId: "r", SpawnRate: 1,
			Scenario: &pb.Scenario{Kind: &pb.Scenario_Builtin{Builtin: "x"}},
			Arrival:  &pb.Arrival{Count: 1, MaxUsers: 1, Classes: []*pb.ClassWeight{{Name: "A", Weight: 1}}}}}},
		"negative users": {Body: &pb.MasterMessage_Start{Start: &pb.Start{RunId: "r", SpawnRate: 1, Users: map[string]int32{"A": -2},
			Scenario: &pb.Scenario{Kind: &pb.Scenario_Builtin{Builtin: "x"}}}}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := commandFromPB(m); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// FuzzReportFromPB: whatever bytes a worker sends, decoding never panics, and a
// report it accepts is internally consistent.
func FuzzReportFromPB(f *testing.F) {
	p, err := reportToPB(sampleReport())
	if err != nil {
		f.Fatal(err)
	}
	wire, _ := proto.Marshal(p)
	f.Add(wire)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r pb.Report
		if proto.Unmarshal(b, &r) != nil {
			return
		}
		out, err := reportFromPB(&r)
		if err != nil {
			return
		}
		for ep, st := range out.Snapshot.Endpoints {
			if uint64(st.Latency.Count()) != st.Requests || st.Failures > st.Requests {
				t.Fatalf("%v accepted inconsistent: %+v", ep, st)
			}
		}
	})
}

// FuzzCommandFromPB: whatever a master sends, the worker's decoding never panics.
func FuzzCommandFromPB(f *testing.F) {
	m, _ := commandToPB(Command{Kind: CommandStart, RunID: "r", SpawnRate: 1, Users: map[string]int{"A": 1},
		Scenario: userbehavior.Scenario{Builtin: "demo"}})
	wire, _ := proto.Marshal(m)
	f.Add(wire)
	f.Fuzz(func(t *testing.T, b []byte) {
		var m pb.MasterMessage
		if proto.Unmarshal(b, &m) != nil {
			return
		}
		commandFromPB(&m)
	})
}
