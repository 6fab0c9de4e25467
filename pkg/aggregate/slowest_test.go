package aggregate

import (
	"testing"
	"time"
)

func TestSlowestKeepsTheSlowestAcrossRecordersAndMerges(t *testing.T) {
	c := NewCollector(t0)
	r := c.NewRecorder()
	for i := 1; i <= 500; i++ {
		r.Record(Sample{Endpoint: Endpoint{"GET", "/item/[id]"}, URL: "/item/" + string(rune('a'+i%26)), Latency: time.Duration(i) * time.Millisecond}, t0.Add(time.Duration(i)*time.Millisecond))
	}
	r.Flush()
	s := c.Swap(t0.Add(time.Second))
	if len(s.Slowest) != MaxSlowest || s.Slowest[0].Latency != 500*time.Millisecond || s.Slowest[MaxSlowest-1].Latency != 481*time.Millisecond {
		t.Fatalf("slowest: %d kept, first %v, last %v", len(s.Slowest), s.Slowest[0].Latency, s.Slowest[len(s.Slowest)-1].Latency)
	}
	if !s.Slowest[0].At.Equal(t0.Add(500*time.Millisecond)) || s.Slowest[0].URL == "" {
		t.Errorf("slowest entry lost its time or URL: %+v", s.Slowest[0])
	}
	o := NewSnapshot(t0)
	o.noteSlow(SlowRequest{Endpoint: Endpoint{"POST", "/buy"}, Latency: 2 * time.Second, Worker: "w2"})
	o.noteSlow(SlowRequest{Endpoint: Endpoint{"POST", "/buy"}, Latency: time.Millisecond})
	s.Merge(o)
	if len(s.Slowest) != MaxSlowest || s.Slowest[0].Worker != "w2" || s.Slowest[MaxSlowest-1].Latency != 482*time.Millisecond {
		t.Errorf("after merge: first %+v, last %v", s.Slowest[0], s.Slowest[MaxSlowest-1].Latency)
	}
	enc, _ := s.MarshalBinary()
	var back Snapshot
	if err := back.UnmarshalBinary(enc); err != nil || !back.Equal(s) {
		t.Errorf("round trip: %v", err)
	}
}
