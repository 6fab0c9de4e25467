package userbehavior

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

func TestArrivalsPoolDropsAndLateness(t *testing.T) {
	release := make(chan struct{})
	var started, onStart, onStop atomic.Int64
	c := &Class{Name: "A", Weight: 1,
		OnStart: func(context.Context, *User) error { onStart.Add(1); return nil },
		OnStop:  func(context.Context, *User) error { onStop.Add(1); return nil },
		Tasks: []Task{{Name: "t", Weight: 1, Fn: func(ctx context.Context, u *User) error {
			started.Add(1)
			<-release // every iteration holds its user until the test lets go
			u.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: "T", Name: "work"}, Latency: time.Millisecond})
			return nil
		}}}}
	r, col := newTestRunner(t, "", c)
	a := r.NewArrivals(context.Background(), 3)
	if err := a.Prepare("A", 2); err != nil {
		t.Fatal(err)
	}
	if got := a.Counts()["A"]; got != 2 || onStart.Load() != 2 {
		t.Fatalf("prepared %d users (%d on_start), want 2", got, onStart.Load())
	}
	due := time.Now().Add(-500 * time.Millisecond) // half a second late already
	var ran, dropped int
	for range 5 {
		if a.Iterate("A", due) {
			ran++
		} else {
			dropped++
		}
	}
	// Two pool users plus one the pool grows by (cap 3): the other two are dropped.
	if ran != 3 || dropped != 2 {
		t.Fatalf("ran %d dropped %d, want 3 and 2", ran, dropped)
	}
	waitFor(t, "three iterations running", func() bool { return started.Load() == 3 })
	if a.Iterate("unknown", due) {
		t.Error("an unknown class ran")
	}
	close(release)
	a.Stop(context.Background())
	if onStop.Load() != 3 {
		t.Errorf("on_stop ran %d times, want 3", onStop.Load())
	}
	if a.Iterate("A", time.Now()) {
		t.Error("a stopped pool ran an iteration")
	}
	snap := col.Swap(time.Now())
	if got := snap.Counters[DroppedCounter]; got != 3 { // two at the cap, one of a class it lacks
		t.Errorf("dropped counter %d, want 3", got)
	}
	st := snap.Endpoints[aggregate.Endpoint{Method: "T", Name: "work"}]
	if st == nil || st.Requests != 3 || st.Service == nil || st.Service.Count() != 3 {
		t.Fatalf("stats %+v", st)
	}
	if st.Latency.Min() < 500*time.Millisecond {
		t.Errorf("latency from the due time: min %v, want >= 500ms", st.Latency.Min())
	}
	if st.Service.Max() >= 500*time.Millisecond {
		t.Errorf("service time must not include the lateness: max %v", st.Service.Max())
	}
}

func TestArrivalsStopAbortsWhenItsContextEnds(t *testing.T) {
	c := &Class{Name: "A", Weight: 1, Tasks: []Task{{Name: "t", Weight: 1, Fn: func(ctx context.Context, u *User) error {
		<-ctx.Done()
		return ctx.Err()
	}}}}
	r, _ := newTestRunner(t, "", c)
	a := r.NewArrivals(context.Background(), 1)
	if !a.Iterate("A", time.Now()) {
		t.Fatal("dropped")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a.Stop(ctx) // returns: the stuck iteration was aborted
}

func TestWaitPace(t *testing.T) {
	for _, tc := range []struct {
		w    Wait
		want time.Duration
	}{
		{Wait{Kind: WaitConstantPacing, Min: 100 * time.Millisecond}, 100 * time.Millisecond},
		{Wait{Kind: WaitConstantThroughput, PerSecond: 4}, 250 * time.Millisecond},
		{Wait{Kind: WaitBetween, Min: time.Second, Max: 2 * time.Second}, 0},
		{Wait{}, 0},
	} {
		if got := tc.w.Pace(); got != tc.want {
			t.Errorf("%v: pace %v, want %v", tc.w, got, tc.want)
		}
	}
}

// TestArrivalsStopRunsOnStopOutsideTheLock: on_stop of every idle user runs at once,
// and the pool answers Counts while they run.
func TestArrivalsStopRunsOnStopOutsideTheLock(t *testing.T) {
	release := make(chan struct{})
	var inStop atomic.Int64
	c := &Class{Name: "A", Weight: 1,
		OnStop: func(context.Context, *User) error { inStop.Add(1); <-release; return nil },
		Tasks:  []Task{{Name: "t", Weight: 1, Fn: func(context.Context, *User) error { return nil }}}}
	r, _ := newTestRunner(t, "", c)
	a := r.NewArrivals(context.Background(), 5)
	if err := a.Prepare("A", 5); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	go func() {
		a.Stop(context.Background())
		close(stopped)
	}()
	waitFor(t, "every on_stop running at once", func() bool { return inStop.Load() == 5 })
	_ = a.Counts() // does not wait for on_stop
	close(release)
	<-stopped
	if got := a.Counts()["A"]; got != 0 {
		t.Errorf("users after Stop: %d", got)
	}
}
