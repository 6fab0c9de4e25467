package aggregate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestSnapshotMergeEqualsRecordingEverything(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	eps := endpoints(6)
	tests := []struct {
		name   string
		na, nb int
		epsB   []Endpoint
	}{
		{"same endpoints", 3000, 5000, eps},
		{"disjoint endpoints", 2000, 2000, endpoints(9)[6:]},
		{"into empty", 0, 4000, eps},
		{"busy", 60000, 60000, eps[:2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := samples(rng, tt.na, eps), samples(rng, tt.nb, tt.epsB)
			end := t0.Add(time.Second)
			want := collect(append(append([]Sample{}, a...), b...), end)
			got := collect(a, end)
			got.Merge(collect(b, end))
			if !got.Equal(want) {
				t.Errorf("merged snapshot differs from recording all samples into one\n got total %+v\nwant total %+v",
					*got.Total(), *want.Total())
			}
			if got, want := got.Total().Requests, uint64(tt.na+tt.nb); got != want {
				t.Errorf("Total().Requests = %d, want %d", got, want)
			}
		})
	}
}

func TestSnapshotMergeTimes(t *testing.T) {
	t1, t2, t3 := t0.Add(time.Second), t0.Add(2*time.Second), t0.Add(3*time.Second)
	var zero time.Time
	tests := []struct {
		name               string
		s, o               [2]time.Time
		wantStart, wantEnd time.Time
	}{
		{"earlier start, later end", [2]time.Time{t1, t2}, [2]time.Time{t0, t3}, t0, t3},
		{"later start, earlier end", [2]time.Time{t0, t3}, [2]time.Time{t1, t2}, t0, t3},
		{"into zero", [2]time.Time{zero, zero}, [2]time.Time{t1, t2}, t1, t2},
		{"from zero", [2]time.Time{t1, t2}, [2]time.Time{zero, zero}, t1, t2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Snapshot{Start: tt.s[0], End: tt.s[1]}
			s.Merge(&Snapshot{Start: tt.o[0], End: tt.o[1]})
			if !s.Start.Equal(tt.wantStart) || !s.End.Equal(tt.wantEnd) {
				t.Errorf("got [%v, %v], want [%v, %v]", s.Start, s.End, tt.wantStart, tt.wantEnd)
			}
		})
	}
}

func TestSnapshotMergeCopiesNewEndpoints(t *testing.T) {
	o := report(1, 3, 10)
	s := &Snapshot{}
	s.Merge(o)
	before := o.Clone()
	for _, st := range s.Endpoints {
		st.Requests++
		st.Latency.Record(time.Hour)
	}
	if !o.Equal(before) {
		t.Errorf("changing the merged snapshot changed its source")
	}
}

func TestSnapshotAddErrorCap(t *testing.T) {
	ep1, ep2 := Endpoint{"GET", "/a"}, Endpoint{"GET", "/b"}
	s := NewSnapshot(t0)
	for i := range MaxErrorKinds {
		s.AddError(ErrorKey{Endpoint: ep1, Message: fmt.Sprint("error ", i)}, 1)
	}
	s.AddError(ErrorKey{Endpoint: ep1, Message: "error 0"}, 2)     // existing key: still counted there
	s.AddError(ErrorKey{Endpoint: ep1, Message: "one more"}, 3)    // over the cap
	s.AddError(ErrorKey{Endpoint: ep2, Message: "another"}, 4)     // over the cap, other endpoint
	s.AddError(ErrorKey{Endpoint: ep2, Message: "and another"}, 5) // same overflow key
	s.AddError(ErrorKey{Endpoint: ep2, Message: "nothing"}, 0)     // n == 0: no-op

	tests := []struct {
		key  ErrorKey
		want uint64
	}{
		{ErrorKey{Endpoint: ep1, Message: "error 0"}, 3},
		{ErrorKey{Endpoint: ep1, Message: "error 999"}, 1},
		{ErrorKey{Endpoint: ep1, Message: OtherErrors}, 3},
		{ErrorKey{Endpoint: ep2, Message: OtherErrors}, 9},
		{ErrorKey{Endpoint: ep1, Message: "one more"}, 0},
		{ErrorKey{Endpoint: ep2, Message: "nothing"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.key.Name+" "+tt.key.Message, func(t *testing.T) {
			if got := s.Errors[tt.key]; got != tt.want {
				t.Errorf("Errors[%v] = %d, want %d", tt.key, got, tt.want)
			}
		})
	}
	if got, want := len(s.Errors), MaxErrorKinds+2; got != want {
		t.Errorf("len(Errors) = %d, want %d (the cap plus one overflow key per endpoint)", got, want)
	}
	var sum uint64
	for _, n := range s.Errors {
		sum += n
	}
	if want := uint64(MaxErrorKinds + 2 + 3 + 4 + 5); sum != want {
		t.Errorf("error counts sum to %d, want %d: none lost", sum, want)
	}
}

func TestSnapshotMergeErrorsAtCapIsDeterministic(t *testing.T) {
	ep := Endpoint{"GET", "/a"}
	build := func(prefix string, n int) *Snapshot {
		s := NewSnapshot(t0)
		for i := range n {
			s.AddError(ErrorKey{Endpoint: ep, Message: fmt.Sprintf("%s %04d", prefix, i)}, 1)
		}
		return s
	}
	var first *Snapshot
	for range 5 {
		s := build("a", MaxErrorKinds-10)
		s.Merge(build("b", 100))
		if first == nil {
			first = s
			continue
		}
		if !s.Equal(first) {
			t.Fatalf("merging the same snapshots at the error cap gave different results")
		}
	}
	if got := first.Errors[ErrorKey{Endpoint: ep, Message: OtherErrors}]; got != 90 {
		t.Errorf("overflow count %d, want 90", got)
	}
	if got := first.Errors[ErrorKey{Endpoint: ep, Message: "b 0009"}]; got != 1 {
		t.Errorf("the first 10 new keys in sorted order should fit under the cap")
	}
}

func TestSnapshotNames(t *testing.T) {
	s := NewSnapshot(t0)
	for _, ep := range []Endpoint{{"POST", "/b"}, {"GET", "/b"}, {"PUT", "/a"}, {"custom", "/c"}, {"DELETE", "/b"}} {
		s.Endpoints[ep] = NewStats()
	}
	want := []Endpoint{{"PUT", "/a"}, {"DELETE", "/b"}, {"GET", "/b"}, {"POST", "/b"}, {"custom", "/c"}}
	if got := s.Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
}

func TestSnapshotTotal(t *testing.T) {
	s := report(2, 5, 400)
	total := s.Total()
	var want Stats
	want.Latency = NewHistogram()
	for _, st := range s.Endpoints {
		want.Requests += st.Requests
		want.Failures += st.Failures
		want.Bytes += st.Bytes
		want.TotalTime += st.TotalTime
		want.Latency.Merge(st.Latency)
	}
	if !total.Equal(&want) {
		t.Errorf("Total() = %+v, want %+v", *total, want)
	}
	if total.Requests != 2000 {
		t.Errorf("Total().Requests = %d, want 2000", total.Requests)
	}
	total.Latency.Record(time.Hour)
	if s.Equal(report(2, 5, 400)) == false {
		t.Errorf("changing Total() changed the snapshot")
	}
}

func TestSnapshotCloneIsIndependent(t *testing.T) {
	s := report(3, 4, 100)
	c := s.Clone()
	if !c.Equal(s) {
		t.Fatalf("clone differs from the original")
	}
	for _, st := range c.Endpoints {
		st.Requests = 0
		st.Latency.Reset()
	}
	c.AddError(ErrorKey{Message: "new"}, 1)
	if !s.Equal(report(3, 4, 100)) {
		t.Errorf("changing the clone changed the original")
	}
}

func TestStatsMeanAndAvgBytes(t *testing.T) {
	tests := []struct {
		name     string
		s        Stats
		mean     time.Duration
		avgBytes float64
	}{
		{"no requests", Stats{}, 0, 0},
		{"one", Stats{Requests: 1, TotalTime: 3 * time.Millisecond, Bytes: 10}, 3 * time.Millisecond, 10},
		{"exact", Stats{Requests: 3, TotalTime: 10 * time.Millisecond, Bytes: 10}, 3333333 * time.Nanosecond, 10.0 / 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Mean(); got != tt.mean {
				t.Errorf("Mean() = %v, want %v", got, tt.mean)
			}
			if got := tt.s.AvgBytes(); got != tt.avgBytes {
				t.Errorf("AvgBytes() = %v, want %v", got, tt.avgBytes)
			}
		})
	}
}

func TestStatsMergeWithNilLatency(t *testing.T) {
	s := &Stats{Requests: 1}
	s.Merge(&Stats{Requests: 2, Latency: histogramOf(time.Second)})
	s.Merge(&Stats{Requests: 3})
	if s.Requests != 6 || s.Latency.Count() != 1 {
		t.Errorf("got %d requests, %d latencies; want 6, 1", s.Requests, s.Latency.Count())
	}
	if c := (&Stats{}).Clone(); c.Latency == nil {
		t.Errorf("Clone of a Stats without Latency has a nil Latency")
	}
}
