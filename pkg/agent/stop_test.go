package agent

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// sleeper is a task that sends a request to tg and then sleeps for nap, as a script's
// sleep() does: the sleep ends early when the user's context ends.
func sleeper(tg *memTarget, nap time.Duration) func(context.Context, *userbehavior.User) error {
	return func(ctx context.Context, u *userbehavior.User) error {
		if err := tg.hit(ctx, u); err != nil {
			return err
		}
		t := time.NewTimer(nap)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		return nil
	}
}

// TestSessionStopTimeout: the master's stop says how long users may finish their
// task. With 0 every user is cut at once, its sleep included, and the final report
// leaves at the stop's instant; a request in flight is counted as cancelled at
// stop, not as a failure. With 2 s users sleeping 5 s are cut at 2 s. A master that
// does not say leaves the worker's own StopTimeout. A second stop with 0 (an abort
// after a graceful stop) cuts the users that were given 30 s at once. After the
// final report no request starts: the target's own clock says so.
func TestSessionStopTimeout(t *testing.T) {
	tests := []struct {
		name      string
		latency   time.Duration // of each request
		stop      *time.Duration
		own       time.Duration // the worker's StopTimeout
		abortAt   time.Duration // > 0: a second stop with 0, this long after the first
		wantFinal time.Duration // after the first stop
		cancelled uint64        // requests in flight at the cut
	}{
		{name: "0: at once, sleeps cut", latency: 10 * time.Millisecond, stop: new(time.Duration(0)), wantFinal: 0},
		{name: "0: a request in flight is cancelled at stop", latency: time.Hour, stop: new(time.Duration(0)),
			wantFinal: 0, cancelled: 3},
		{name: "2 s: sleeps of 5 s cut at 2 s", latency: 10 * time.Millisecond, stop: new(2 * time.Second),
			wantFinal: 2 * time.Second},
		{name: "not said: the worker's own", latency: 10 * time.Millisecond, own: 1500 * time.Millisecond,
			wantFinal: 1500 * time.Millisecond},
		{name: "abort after a graceful stop", latency: 10 * time.Millisecond, stop: new(30 * time.Second),
			abortAt: 700 * time.Millisecond, wantFinal: 700 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newFakeMaster()
				tg := &memTarget{origin: time.Now(), latency: tt.latency}
				builtins := userbehavior.Builtins{"nap": func() []*userbehavior.Class {
					return []*userbehavior.Class{{Name: "S", Weight: 1,
						Tasks: []userbehavior.Task{{Name: "nap", Weight: 1, Fn: sleeper(tg, 5*time.Second)}}}}
				}}
				a := startAgent(t, Config{Builtins: builtins, StopTimeout: tt.own}, m)
				l := m.accept()
				l.send(cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 1,
					Scenario: userbehavior.Scenario{Builtin: "nap"}, Users: map[string]int{"S": 3}, SpawnRate: 1000})
				// 2.5 s in: every user sleeps until 5.01 s (or waits for its first answer).
				sleepUntil(tg.origin, 2500*time.Millisecond)
				stopAt := time.Now()
				l.send(cluster.Command{Kind: cluster.CommandStop, RunID: "r1", StopTimeout: tt.stop})
				if tt.abortAt > 0 {
					sleepUntil(stopAt, tt.abortAt)
					l.send(cluster.Command{Kind: cluster.CommandStop, RunID: "r1", StopTimeout: new(time.Duration(0))})
				}
				sleepUntil(stopAt, time.Minute)

				reports := l.reports()
				if len(reports) == 0 || !reports[len(reports)-1].Final {
					t.Fatalf("no final report: %+v", reports)
				}
				final := reports[len(reports)-1]
				if got := final.Snapshot.End.Sub(stopAt); got != tt.wantFinal {
					t.Errorf("final report %v after the stop, want %v", got, tt.wantFinal)
				}
				for _, at := range tg.requests() {
					if at > stopAt.Sub(tg.origin)+tt.wantFinal {
						t.Errorf("a request began at %v, after the users' end at %v", at, stopAt.Sub(tg.origin)+tt.wantFinal)
					}
				}
				sum := total(reports...)
				if got := sum.Counters[aggregate.CancelledCounter]; got != tt.cancelled {
					t.Errorf("cancelled at stop: %d, want %d", got, tt.cancelled)
				}
				if got := sum.Total().Failures; got != 0 {
					t.Errorf("%d failures: the stop's cut is no failure", got)
				}
				if tt.cancelled == 0 {
					if got := sum.Total().Requests; got != uint64(len(tg.requests())) {
						t.Errorf("%d requests counted, the target saw %d", got, len(tg.requests()))
					}
				}
				a.stop()
			})
		})
	}
}
