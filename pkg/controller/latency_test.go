package controller_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/controller"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// TestDashboardUpdateLatency measures how long a sample recorded on a worker takes to
// appear in the controller's Live view, which is what the dashboard pushes on every
// Subscribe signal. Each sample gets its own endpoint name, so samples of different
// workers cannot be mistaken for one another.
//
// The pipeline it measures: the user's recorder flushes before its wait; the worker
// sends its collector's snapshot every ReportInterval (1 s); the master merges reports
// into the open interval and, on its Interval tick (1 s), folds the interval into the
// run's totals and publishes. Worker and master ticks are not aligned, so the bound is
// about ReportInterval + Interval.
func TestDashboardUpdateLatency(t *testing.T) {
	const (
		samples = 200
		prefix  = "mark-"
	)
	var mu sync.Mutex
	recorded := make([]time.Time, 0, samples)
	mark := func(ctx context.Context, u *userbehavior.User) error {
		mu.Lock()
		defer mu.Unlock()
		i := len(recorded)
		if i >= samples {
			return nil
		}
		recorded = append(recorded, time.Now())
		u.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: "CUSTOM", Name: fmt.Sprintf("%s%04d", prefix, i)}, Latency: time.Millisecond})
		return nil
	}
	builtins := userbehavior.Builtins{"paced": func() []*userbehavior.Class {
		return []*userbehavior.Class{{Name: "Paced", Weight: 1,
			Wait:  userbehavior.Wait{Kind: userbehavior.WaitConstantPacing, Min: 20 * time.Millisecond},
			Tasks: []userbehavior.Task{{Name: "mark", Weight: 1, Fn: mark}}}}
	}}
	tc := newTestCluster(t)
	tc.addWorker("w1", builtins)
	tc.addWorker("w2", builtins)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	serveCtx, stopServe := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- tc.ctl.Serve(serveCtx) }()
	defer func() {
		stopServe()
		<-served
	}()

	updates, unsubscribe := tc.ctl.Subscribe()
	defer unsubscribe()
	// 2 users (one per worker) at 50 tasks/s each: 200 samples in about 2 s.
	done, err := tc.ctl.Start(ctx, controller.Config{
		Scenario: userbehavior.Scenario{Builtin: "paced"},
		Classes:  []scheduler.Class{{Name: "Paced", Weight: 1}},
		Users:    2, SpawnRate: 100, ExpectWorkers: 2,
	})
	if err != nil {
		t.Fatal(err)
	}

	seen := make([]time.Time, samples)
	left := samples
	for left > 0 {
		select {
		case <-updates:
		case <-done:
			res, err := tc.ctl.Outcome(done)
			t.Fatalf("run ended before every sample was seen (%d left): %v %+v", left, err, res.Run)
		case <-ctx.Done():
			t.Fatalf("%d of %d samples never appeared in the Live view", left, samples)
		}
		now := time.Now()
		for _, row := range tc.ctl.Live().Endpoints {
			if row.Method != "CUSTOM" || !strings.HasPrefix(row.Name, prefix) {
				continue
			}
			i, err := strconv.Atoi(strings.TrimPrefix(row.Name, prefix))
			if err != nil || i >= samples {
				t.Fatalf("unexpected endpoint %q", row.Name)
			}
			if seen[i].IsZero() {
				seen[i] = now
				left--
			}
		}
	}
	if err := tc.ctl.Stop(ctx, "measured"); err != nil {
		t.Fatal(err)
	}
	<-done
	if _, err := tc.ctl.Outcome(done); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	lat := make([]time.Duration, samples)
	for i := range samples {
		lat[i] = seen[i].Sub(recorded[i])
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	p50, p99, worst := q(0.50), q(0.99), lat[len(lat)-1]
	t.Logf("record -> Live view over %d samples: min %v  p50 %v  p90 %v  p99 %v  max %v",
		samples, lat[0].Round(time.Millisecond), p50.Round(time.Millisecond), q(0.90).Round(time.Millisecond),
		p99.Round(time.Millisecond), worst.Round(time.Millisecond))
	if lat[0] < 0 {
		t.Errorf("a sample appeared before it was recorded: %v", lat[0])
	}
	// The issue asks <= 2 s at p99; the test fails only well beyond it, so a slow CI
	// machine does not make it flaky. The figure is in the log.
	if p99 > 2*time.Second {
		t.Errorf("p99 update latency %v, want <= 2 s", p99)
	}
}
