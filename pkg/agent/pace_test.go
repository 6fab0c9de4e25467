package agent

import (
	"context"
	"maps"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// idleClasses are users that do nothing and wait an hour between their (empty)
// tasks: no network, so they live in a synctest bubble, and they leave their wait
// as soon as they are retired.
func idleClasses(names ...string) []*userbehavior.Class {
	var out []*userbehavior.Class
	for _, n := range names {
		out = append(out, &userbehavior.Class{Name: n, Weight: 1,
			Wait:  userbehavior.Wait{Kind: userbehavior.WaitConstant, Min: time.Hour},
			Tasks: []userbehavior.Task{{Name: "nothing", Weight: 1, Fn: func(context.Context, *userbehavior.User) error { return nil }}}})
	}
	return out
}

// paced is one worker's runner, moved by pace toward its target.
type paced struct {
	initial map[string]int // users spawned at once, before pacing
	target  map[string]int
	rate    float64
}

// at is what every worker runs at a moment of fake time since pacing began.
type at struct {
	t    time.Duration
	want []map[string]int // per worker
}

func TestPace(t *testing.T) {
	plan, err := scheduler.Distribute(scheduler.Request{Classes: []scheduler.Class{{Name: "A", Weight: 1}}, Users: 100, SpawnRate: 20},
		[]string{"w1", "w2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w1, w2 := plan.Workers["w1"], plan.Workers["w2"]
	if w1.SpawnRate != 10 || w2.SpawnRate != 10 {
		t.Fatalf("Distribute gave rates %v and %v, want 10 each", w1.SpawnRate, w2.SpawnRate)
	}
	a := func(n int) map[string]int { return map[string]int{"A": n} }
	ab := func(na, nb int) map[string]int { return map[string]int{"A": na, "B": nb} }

	tests := []struct {
		name    string
		classes []string
		workers []paced
		cancel  time.Duration // cancel pacing at this moment; 0: let it finish
		checks  []at
	}{
		{
			name:    "spawn 50 at 10/s",
			classes: []string{"A"},
			workers: []paced{{target: a(50), rate: 10}},
			checks: []at{
				{0, []map[string]int{a(1)}}, // the first at once
				{99 * time.Millisecond, []map[string]int{a(1)}},
				{100 * time.Millisecond, []map[string]int{a(2)}},
				{4850 * time.Millisecond, []map[string]int{a(49)}},
				{4950 * time.Millisecond, []map[string]int{a(50)}},
				{time.Minute, []map[string]int{a(50)}},
			},
		},
		{
			name:    "100 users at 20/s over two workers",
			classes: []string{"A"},
			workers: []paced{{target: w1.Users, rate: w1.SpawnRate}, {target: w2.Users, rate: w2.SpawnRate}},
			checks: []at{
				{2 * time.Second, []map[string]int{a(21), a(21)}},
				{4900*time.Millisecond - 1, []map[string]int{a(49), a(49)}},
				{4900 * time.Millisecond, []map[string]int{a(50), a(50)}}, // 100 in all, before 5 s
				{time.Minute, []map[string]int{a(50), a(50)}},
			},
		},
		{
			name:    "two classes interleaved",
			classes: []string{"A", "B"},
			workers: []paced{{target: ab(30, 10), rate: 20}},
			checks: []at{
				{975 * time.Millisecond, []map[string]int{ab(15, 5)}},
				{1950 * time.Millisecond, []map[string]int{ab(30, 10)}},
			},
		},
		{
			name:    "retire 30 at 10/s",
			classes: []string{"A"},
			workers: []paced{{initial: a(50), target: a(20), rate: 10}},
			checks: []at{
				{0, []map[string]int{a(49)}},
				{2850 * time.Millisecond, []map[string]int{a(21)}},
				{2950 * time.Millisecond, []map[string]int{a(20)}},
				{time.Minute, []map[string]int{a(20)}},
			},
		},
		{
			name:    "retire one class, spawn another",
			classes: []string{"A", "B"},
			workers: []paced{{initial: ab(5, 0), target: ab(0, 5), rate: 1}},
			checks: []at{
				{4500 * time.Millisecond, []map[string]int{ab(0, 0)}}, // stops come first
				{9500 * time.Millisecond, []map[string]int{ab(0, 5)}},
			},
		},
		{
			name:    "rate 0 applies every step at once",
			classes: []string{"A"},
			workers: []paced{{target: a(50), rate: 0}},
			checks:  []at{{0, []map[string]int{a(50)}}},
		},
		{
			name:    "cancelled pacing takes no further step",
			classes: []string{"A"},
			workers: []paced{{target: a(50), rate: 10}},
			cancel:  1050 * time.Millisecond,
			checks: []at{
				{1050 * time.Millisecond, []map[string]int{a(11)}},
				{time.Minute, []map[string]int{a(11)}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				var runners []*userbehavior.Runner
				var done []chan struct{}
				for _, w := range tt.workers {
					r, err := userbehavior.NewRunner(userbehavior.RunnerConfig{
						Classes: idleClasses(tt.classes...), Collector: aggregate.NewCollector(time.Now())})
					if err != nil {
						t.Fatal(err)
					}
					runners = append(runners, r)
					for class, n := range w.initial {
						for range n {
							if err := r.Spawn(ctx, class); err != nil {
								t.Fatal(err)
							}
						}
					}
				}
				start := time.Now()
				for i, w := range tt.workers {
					ch := make(chan struct{})
					done = append(done, ch)
					steps := scheduler.Steps(runners[i].Counts(), w.target)
					go func() {
						defer close(ch)
						pace(ctx, ctx, runners[i], steps, w.rate)
					}()
				}
				for _, c := range tt.checks {
					if tt.cancel > 0 && c.t >= tt.cancel {
						sleepUntil(start, tt.cancel)
						cancel()
						for _, ch := range done {
							<-ch // pace returns once cancelled
						}
					}
					sleepUntil(start, c.t)
					for i, r := range runners {
						if got := r.Counts(); !maps.Equal(got, c.want[i]) {
							t.Errorf("worker %d at %v: %v users, want %v", i+1, c.t, got, c.want[i])
						}
					}
				}
				cancel()
				for _, ch := range done {
					<-ch
				}
				for _, r := range runners {
					r.StopAll(context.Background()) // every user goroutine ends inside the bubble
				}
			})
		})
	}
}

func TestPacerReplan(t *testing.T) {
	// A new plan mid-spawn stops the old pacer and paces from where the runner is.
	synctest.Test(t, func(t *testing.T) {
		uctx, cancelUsers := context.WithCancel(context.Background())
		defer cancelUsers()
		r, err := userbehavior.NewRunner(userbehavior.RunnerConfig{Classes: idleClasses("A", "B"), Collector: aggregate.NewCollector(time.Now())})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		check := func(d time.Duration, want map[string]int) {
			t.Helper()
			sleepUntil(start, d)
			if got := r.Counts(); !maps.Equal(got, want) {
				t.Errorf("at %v: %v users, want %v", d, got, want)
			}
		}
		p := startPacer(uctx, r, map[string]int{"A": 50}, 10)
		check(1050*time.Millisecond, map[string]int{"A": 11, "B": 0})
		p.stop()
		p = startPacer(p.ctx, r, map[string]int{"A": 5, "B": 2}, 4) // 6 stops, then 2 spawns, every 250 ms
		check(1050*time.Millisecond, map[string]int{"A": 10, "B": 0})
		check(2300*time.Millisecond, map[string]int{"A": 5, "B": 0})
		check(2550*time.Millisecond, map[string]int{"A": 5, "B": 1})
		check(2800*time.Millisecond, map[string]int{"A": 5, "B": 2})
		check(time.Hour, map[string]int{"A": 5, "B": 2})
		p.stop()
		cancelUsers() // the run's end: users abort
		r.StopAll(context.Background())
	})
}
