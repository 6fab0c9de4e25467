package aggregate

import (
	"maps"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

var ep = Endpoint{Method: "GET", Name: "/"}

func TestRecorderHandsOverBatches(t *testing.T) {
	tests := []struct {
		name string
		// record is called with the Recorder; it returns what the next Swap must hold.
		record func(r *Recorder) uint64
	}{
		{"nothing", func(r *Recorder) uint64 { return 0 }},
		{"below a batch stays buffered", func(r *Recorder) uint64 {
			for range BatchSize - 1 {
				r.Record(Sample{Endpoint: ep}, t0)
			}
			return 0
		}},
		{"a full batch is handed over", func(r *Recorder) uint64 {
			for range BatchSize {
				r.Record(Sample{Endpoint: ep}, t0)
			}
			return BatchSize
		}},
		{"one past a batch", func(r *Recorder) uint64 {
			for range BatchSize + 1 {
				r.Record(Sample{Endpoint: ep}, t0)
			}
			return BatchSize
		}},
		{"younger than FlushAge stays buffered", func(r *Recorder) uint64 {
			r.Record(Sample{Endpoint: ep}, t0)
			r.Record(Sample{Endpoint: ep}, t0.Add(FlushAge-1))
			return 0
		}},
		{"FlushAge old is handed over", func(r *Recorder) uint64 {
			r.Record(Sample{Endpoint: ep}, t0)
			r.Record(Sample{Endpoint: ep}, t0.Add(FlushAge/2))
			r.Record(Sample{Endpoint: ep}, t0.Add(FlushAge))
			return 3
		}},
		{"age counts from the first sample of the batch", func(r *Recorder) uint64 {
			r.Record(Sample{Endpoint: ep}, t0)
			r.Record(Sample{Endpoint: ep}, t0.Add(FlushAge)) // hands over 2
			r.Record(Sample{Endpoint: ep}, t0.Add(FlushAge+FlushAge/2))
			return 2
		}},
		{"Flush hands over", func(r *Recorder) uint64 {
			r.Record(Sample{Endpoint: ep}, t0)
			r.Flush()
			r.Flush()
			return 1
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCollector(t0)
			r := c.NewRecorder()
			want := tt.record(r)
			if got := requests(c.Swap(t0.Add(time.Second))); got != want {
				t.Errorf("Swap holds %d requests, want %d", got, want)
			}
		})
	}
}

func requests(s *Snapshot) uint64 {
	return s.Total().Requests
}

func TestCollectorSwapSplitsIntervals(t *testing.T) {
	c := NewCollector(t0)
	r := c.NewRecorder()
	t1, t2, t3 := t0.Add(time.Second), t0.Add(2*time.Second), t0.Add(3*time.Second)

	for range 3 {
		r.Record(Sample{Endpoint: ep}, t0)
	}
	r.Flush()
	r.Record(Sample{Endpoint: ep}, t0) // buffered across the Swap
	first := c.Swap(t1)
	r.Record(Sample{Endpoint: ep}, t1)
	r.Flush()
	second := c.Swap(t2)
	third := c.Swap(t3)

	tests := []struct {
		name       string
		s          *Snapshot
		start, end time.Time
		requests   uint64
	}{
		{"first", first, t0, t1, 3},
		{"second", second, t1, t2, 2},
		{"third", third, t2, t3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.s.Start.Equal(tt.start) || !tt.s.End.Equal(tt.end) {
				t.Errorf("interval [%v, %v], want [%v, %v]", tt.s.Start, tt.s.End, tt.start, tt.end)
			}
			if got := requests(tt.s); got != tt.requests {
				t.Errorf("%d requests, want %d", got, tt.requests)
			}
		})
	}
}

func TestCollectorCountsSamples(t *testing.T) {
	other := Endpoint{Method: "POST", Name: "/login"}
	ss := []Sample{
		{Endpoint: ep, Latency: 10 * time.Millisecond, Bytes: 100},
		{Endpoint: ep, Latency: 30 * time.Millisecond, Bytes: 300, Err: "HTTP 500"},
		{Endpoint: other, Latency: -time.Second, Bytes: -5, Err: "connection refused"},
		{Endpoint: ep, Latency: 20 * time.Millisecond, Err: "HTTP 500"},
		{Endpoint: other, Latency: 2 * time.Hour},
	}
	s := collect(ss, t0.Add(time.Second))
	tests := []struct {
		ep   Endpoint
		want Stats
	}{
		{ep, Stats{Requests: 3, Failures: 2, Bytes: 400, TotalTime: 60 * time.Millisecond}},
		{other, Stats{Requests: 2, Failures: 1, Bytes: 0, TotalTime: 2 * time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.ep.Name, func(t *testing.T) {
			got := s.Endpoints[tt.ep]
			if got == nil {
				t.Fatalf("no stats for %v", tt.ep)
			}
			if got.Requests != tt.want.Requests || got.Failures != tt.want.Failures ||
				got.Bytes != tt.want.Bytes || got.TotalTime != tt.want.TotalTime {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
			if got.Latency.Count() != int64(tt.want.Requests) {
				t.Errorf("histogram holds %d latencies, want %d", got.Latency.Count(), tt.want.Requests)
			}
		})
	}
	wantErrors := map[ErrorKey]uint64{
		{Endpoint: ep, Message: "HTTP 500"}:              2,
		{Endpoint: other, Message: "connection refused"}: 1,
	}
	if len(s.Errors) != len(wantErrors) {
		t.Errorf("errors %v, want %v", s.Errors, wantErrors)
	}
	for k, n := range wantErrors {
		if s.Errors[k] != n {
			t.Errorf("Errors[%v] = %d, want %d", k, s.Errors[k], n)
		}
	}
}

// Flush on an empty Recorder must not take the Collector's lock.
func TestRecorderFlushWhenEmptyTakesNoLock(t *testing.T) {
	c := NewCollector(t0)
	r := c.NewRecorder()
	r.Record(Sample{Endpoint: ep}, t0)
	r.Flush()

	c.mu.Lock()
	done := make(chan struct{})
	go func() {
		r.Flush()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Flush of an empty Recorder blocked on the Collector's lock")
	}
	c.mu.Unlock()
}

// The Collector records into dense histograms; Swap hands them over sparse and
// keeps their pages for the next interval.
func TestCollectorRecyclesDenseHistograms(t *testing.T) {
	c := NewCollector(t0)
	r := c.NewRecorder()
	rng := rand.New(rand.NewPCG(8, 9))
	now := t0
	for interval := range 3 {
		ds := latencies(rng, 20000, 20*time.Millisecond)
		want := histogramOf(ds...)
		for _, d := range ds {
			r.Record(Sample{Endpoint: ep, Latency: d}, now)
		}
		r.Flush()
		c.mu.Lock()
		pages := 0
		if h := c.cur.Endpoints[ep].Latency; h.pages != nil {
			for _, p := range h.pages {
				if p != nil {
					pages++
				}
			}
		}
		c.mu.Unlock()
		if pages == 0 {
			t.Fatalf("interval %d: the collector's histogram is not dense", interval)
		}
		now = now.Add(time.Second)
		s := c.Swap(now)
		h := s.Endpoints[ep].Latency
		if h.pages != nil || h.pool != nil {
			t.Errorf("interval %d: Swap returned a dense or pooled histogram", interval)
		}
		if !h.Equal(want) {
			t.Errorf("interval %d: histogram differs from the samples recorded", interval)
		}
		c.pages.mu.Lock()
		free := len(c.pages.free)
		c.pages.mu.Unlock()
		if free != pages {
			t.Errorf("interval %d: %d pages kept for reuse, want the %d used", interval, free, pages)
		}
	}
}

// Many goroutines record while another swaps: every sample lands in exactly
// one interval. Run with -race.
func TestCollectorConcurrentRecordAndSwap(t *testing.T) {
	const (
		users   = 16
		perUser = 5000
	)
	eps := endpoints(5)
	c := NewCollector(t0)

	// Each user records a fixed, seeded sequence, so the expected totals are
	// known without sharing anything with the users.
	sequence := func(user int) []Sample {
		return samples(rand.New(rand.NewPCG(uint64(user), 99)), perUser, eps)
	}
	var want []Sample
	for u := range users {
		want = append(want, sequence(u)...)
	}
	expected := collect(want, t0)

	var wg sync.WaitGroup
	for u := range users {
		wg.Go(func() {
			r := c.NewRecorder()
			now := t0
			for i, s := range sequence(u) {
				now = now.Add(time.Duration(i%7) * time.Millisecond)
				r.Record(s, now)
				if i%500 == 0 {
					r.Flush() // as a user does before it sleeps
				}
			}
			r.Flush()
		})
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()

	total := &Snapshot{}
	swaps := 0
	for now := t0.Add(time.Second); ; now = now.Add(time.Second) {
		select {
		case <-done:
			total.Merge(c.Swap(now)) // everything flushed: the last interval
			if got, wantN := requests(total), uint64(users*perUser); got != wantN {
				t.Fatalf("%d requests over %d swaps, want %d", got, swaps+1, wantN)
			}
			for k, st := range expected.Endpoints {
				if !st.Equal(total.Endpoints[k]) {
					t.Errorf("%v: got %+v, want %+v", k, *total.Endpoints[k], *st)
				}
			}
			if !maps.Equal(total.Errors, expected.Errors) {
				t.Errorf("errors %v, want %v", total.Errors, expected.Errors)
			}
			t.Logf("%d swaps", swaps+1)
			return
		default:
			total.Merge(c.Swap(now))
			swaps++
		}
	}
}
