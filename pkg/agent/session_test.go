package agent

import (
	"log/slog"
	"maps"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/telemetry"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// The worker's loop in a synctest bubble, against fakeMaster and memTarget: every
// time below is exact, on the bubble's clock, whatever the machine's load.

// sleepUntil moves the bubble's clock to origin+d and waits for every goroutine of
// the bubble to settle there. (In a bubble, time.Sleep is how a test moves the
// clock: it returns once every other goroutine is blocked, and takes no real time.)
func sleepUntil(origin time.Time, d time.Duration) {
	time.Sleep(time.Until(origin.Add(d)))
	synctest.Wait()
}

func TestSessionSpawnsAtTheRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFakeMaster()
		sp := &spawns{}
		a := startAgent(t, Config{Builtins: memBuiltins(sp, nil, 0)}, m)
		l := m.accept()
		// The run starts 25 ms after the session, so that no user starts as the
		// session's report ticks.
		sleepUntil(time.Now(), 25*time.Millisecond)
		sp.origin = time.Now()
		l.send(cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 1,
			Scenario: userbehavior.Scenario{Builtin: "idle"}, Users: map[string]int{"A": 100}, SpawnRate: 20})

		// 100 users at 20/s: the first at once, one every 50 ms, the last at 4.95 s.
		sleepUntil(sp.origin, time.Minute)
		got := sp.times()
		if len(got) != 100 {
			t.Fatalf("%d users started, want 100", len(got))
		}
		for i, at := range got {
			if want := time.Duration(i) * 50 * time.Millisecond; at != want {
				t.Fatalf("user %d started at %v, want %v", i+1, at, want)
			}
		}
		// The reports say so: 20 users at 1 s (from 0.025 to 0.975 s), 80 at 4 s,
		// 100 from 5 s.
		reports := l.reports()
		if len(reports) != 60 {
			t.Fatalf("%d reports in a minute, want 60", len(reports))
		}
		for i, want := range map[int]int{0: 20, 3: 80, 4: 100, 59: 100} {
			if got := reports[i].Users; !maps.Equal(got, map[string]int{"A": want, "B": 0}) {
				t.Errorf("report %d: users %v, want A: %d", i+1, got, want)
			}
		}
		a.stop()
	})
}

func TestSessionReportsEveryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFakeMaster()
		a := startAgent(t, Config{Builtins: memBuiltins(nil, nil, 0)}, m)
		l := m.accept()
		origin := time.Now()
		l.send(cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 1,
			Scenario: userbehavior.Scenario{Builtin: "idle"}, Users: map[string]int{"A": 3, "B": 1}, SpawnRate: 1000})
		sleepUntil(origin, 3500*time.Millisecond)
		// A new plan of the same run moves the users; an older plan is ignored.
		l.send(cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 3,
			Scenario: userbehavior.Scenario{Builtin: "idle"}, Users: map[string]int{"A": 1, "B": 2}, SpawnRate: 1000})
		l.send(cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 2,
			Scenario: userbehavior.Scenario{Builtin: "idle"}, Users: map[string]int{"A": 9, "B": 9}, SpawnRate: 1000})
		sleepUntil(origin, 6500*time.Millisecond)
		l.send(cluster.Command{Kind: cluster.CommandStop, RunID: "r1"})
		synctest.Wait()

		// One report a second, each covering the second before it, then the final one
		// at once on the stop.
		type want struct {
			end   time.Duration
			plan  uint64
			users map[string]int
			final bool
		}
		first, second := map[string]int{"A": 3, "B": 1}, map[string]int{"A": 1, "B": 2}
		wants := []want{
			{1 * time.Second, 1, first, false}, {2 * time.Second, 1, first, false}, {3 * time.Second, 1, first, false},
			{4 * time.Second, 3, second, false}, {5 * time.Second, 3, second, false}, {6 * time.Second, 3, second, false},
			{6500 * time.Millisecond, 3, map[string]int{"A": 0, "B": 0}, true},
		}
		reports := l.reports()
		if len(reports) != len(wants) {
			t.Fatalf("%d reports, want %d", len(reports), len(wants))
		}
		for i, r := range reports {
			w := wants[i]
			start := origin
			if i > 0 {
				start = reports[i-1].Snapshot.End
			}
			if r.RunID != "r1" || r.Seq != uint64(i+1) || r.PlanVersion != w.plan || r.Final != w.final ||
				!maps.Equal(r.Users, w.users) || !r.Snapshot.Start.Equal(start) || r.Snapshot.End.Sub(origin) != w.end {
				t.Errorf("report %d: run %s seq %d plan %d final %v users %v, %v to %v;\nwant seq %d plan %d final %v users %v, %v to %v",
					i+1, r.RunID, r.Seq, r.PlanVersion, r.Final, r.Users, r.Snapshot.Start.Sub(origin), r.Snapshot.End.Sub(origin),
					i+1, w.plan, w.final, w.users, start.Sub(origin), w.end)
			}
		}

		l.send(cluster.Command{Kind: cluster.CommandQuit, Reason: "done"})
		if err := <-a.done; err != nil {
			t.Errorf("run after quit: %v", err)
		}
		if got := time.Since(origin); got != 6500*time.Millisecond {
			t.Errorf("run returned at %v, want at once on quit", got)
		}
	})
}

func TestSessionStopUnknownRun(t *testing.T) {
	tests := []struct {
		name   string
		active bool // another run is going on
	}{
		{name: "no run"},
		{name: "another run", active: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newFakeMaster()
				a := startAgent(t, Config{Builtins: memBuiltins(nil, nil, 0), ReportInterval: time.Hour}, m)
				l := m.accept()
				origin := time.Now()
				if tt.active {
					l.send(cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 1,
						Scenario: userbehavior.Scenario{Builtin: "idle"}, Users: map[string]int{"A": 1}, SpawnRate: 1})
				}
				sleepUntil(origin, time.Second)
				l.send(cluster.Command{Kind: cluster.CommandStop, RunID: "nope"})
				synctest.Wait()
				reports := l.reports()
				if len(reports) != 1 {
					t.Fatalf("%d reports, want 1", len(reports))
				}
				r := reports[0]
				if r.RunID != "nope" || !r.Final || len(r.Users) != 0 || len(r.Snapshot.Endpoints) != 0 ||
					!r.Snapshot.Start.Equal(origin.Add(time.Second)) || !r.Snapshot.End.Equal(r.Snapshot.Start) {
					t.Errorf("report %+v, want an empty final report of run nope, spanning nothing at 1s", r)
				}
				if tt.active {
					// r1 goes on: stopping it still gives its own final report.
					l.send(cluster.Command{Kind: cluster.CommandStop, RunID: "r1"})
					synctest.Wait()
					if rs := l.reports(); len(rs) != 2 || rs[1].RunID != "r1" || !rs[1].Final || rs[1].Seq != 1 {
						t.Errorf("reports %+v, want r1's first, final", rs)
					}
				}
				a.stop()
			})
		})
	}
}

func TestSessionSkipsClassesItLacks(t *testing.T) {
	// A plan from a master of another build names a class this worker's scenario lacks:
	// the worker warns and still runs the classes it has.
	synctest.Test(t, func(t *testing.T) {
		m := newFakeMaster()
		warned := &logHook{msg: "plan names user classes the scenario lacks: not spawned", seen: make(chan struct{}, 1)}
		a := startAgent(t, Config{Builtins: memBuiltins(nil, nil, 0), Logger: slog.New(warned)}, m)
		l := m.accept()
		origin := time.Now()
		l.send(cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 1,
			Scenario: userbehavior.Scenario{Builtin: "idle"}, Users: map[string]int{"A": 2, "AA": 2, "B": 1}, SpawnRate: 1000})
		sleepUntil(origin, time.Second)
		if rs := l.reports(); len(rs) != 1 || !maps.Equal(rs[0].Users, map[string]int{"A": 2, "B": 1}) {
			t.Errorf("reports %+v, want one with users A 2, B 1", rs)
		}
		select {
		case <-warned.seen:
		default:
			t.Error("no warning about the unknown class")
		}
		a.stop()
	})
}

// TestSessionSilenceBrake: a master that goes silent has the worker stop every user
// exactly SilenceTimeout after its last word. Nothing is issued after, and what the
// users measured until then, the requests the brake aborted included, reaches the
// next master, counted once.
func TestSessionSilenceBrake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFakeMaster()
		tg := &memTarget{origin: time.Now(), latency: 65 * time.Millisecond}
		origin := tg.origin
		a := startAgent(t, Config{Builtins: memBuiltins(nil, tg, 70*time.Millisecond), SilenceTimeout: 3 * time.Second}, m)
		l1 := m.acceptWith(silent)
		l1.send(cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 1,
			Scenario: userbehavior.Scenario{Builtin: "hits"}, Users: map[string]int{"H": 2}, SpawnRate: 1000})
		// The master speaks every second for 10 s, then says nothing more.
		for s := 1; s <= 10; s++ {
			sleepUntil(origin, time.Duration(s)*time.Second)
			l1.send(cluster.Command{Kind: cluster.CommandHeartbeat})
		}
		sleepUntil(origin, 13*time.Second-1)
		if !l1.closeTime().IsZero() {
			t.Fatalf("the worker dropped the master at %v, before 3 s of silence", l1.closeTime().Sub(origin))
		}
		sleepUntil(origin, 13*time.Second)
		if at := l1.closeTime(); !at.Equal(origin.Add(13 * time.Second)) {
			t.Fatalf("the worker dropped the master at %v, want 13s (3 s after its last word)", at.Sub(origin))
		}

		// Users spawned at 0 and 1 ms start a 65 ms request every 70 ms: 186 each
		// until 13 s, the last two (from 12.950 and 12.951 s) in flight at the brake.
		issued := tg.requests()
		if len(issued) != 372 || slices.Max(issued) != 12951*time.Millisecond {
			t.Fatalf("%d requests issued, the last at %v; want 372, the last at 12.951s", len(issued), slices.Max(issued))
		}
		// The worker tries the master again (after RetryMin) and issues nothing more.
		l2 := m.acceptWith(silent)
		sleepUntil(origin, time.Hour)
		if n := len(tg.requests()); n != 372 {
			t.Errorf("%d requests issued after the brake", n-372)
		}
		// The new master says nothing either: that session too ends 3 s on.
		if got, want := m.dialTimes(origin), []time.Duration{0, 13250 * time.Millisecond, 16500 * time.Millisecond}; !slices.Equal(got, want) {
			t.Errorf("dialled the master at %v, want %v", got, want)
		}
		// The new session sends again what the old one sent unacknowledged, then what
		// the users measured after the last report: each counted once, every request
		// there, the two aborted ones as failures.
		sum := total(append(l1.reports(), l2.reports()...)...).Endpoints[hitEndpoint]
		if sum == nil || sum.Requests != 372 || sum.Failures != 2 || sum.Bytes != 3*370 {
			t.Errorf("reports count %+v; want 372 requests, 2 failed, %d bytes", sum, 3*370)
		}
		a.stop()
	})
}

// TestSessionDrain: a worker told to drain says goodbye; on the master's stop its
// users finish the request they are in, and the final report counts every request
// they made. Then the worker leaves.
func TestSessionDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFakeMaster()
		tg := &memTarget{origin: time.Now(), latency: 30 * time.Millisecond}
		origin := tg.origin
		drain := make(chan struct{})
		a := startAgent(t, Config{Builtins: memBuiltins(nil, tg, 100*time.Millisecond), Drain: drain}, m)
		l := m.accept()
		l.send(cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 1,
			Scenario: userbehavior.Scenario{Builtin: "hits"}, Users: map[string]int{"H": 2}, SpawnRate: 1000})

		// SIGTERM at 2.52 s: both users are in a request (from 2.500 and 2.501 s).
		sleepUntil(origin, 2520*time.Millisecond)
		close(drain)
		synctest.Wait()
		msgs := l.messages()
		if last := msgs[len(msgs)-1]; last.goodbye == "" {
			t.Fatalf("the worker's last message %+v, want its goodbye", last)
		}
		l.send(cluster.Command{Kind: cluster.CommandStop, RunID: "r1"})
		if err := <-a.done; err != nil {
			t.Errorf("run after drain: %v", err)
		}
		if got := time.Since(origin); got != 2531*time.Millisecond {
			t.Errorf("the worker left at %v, want 2.531s, once the last request ended", got)
		}
		issued := tg.requests()
		if len(issued) != 52 {
			t.Errorf("%d requests issued, want 26 per user", len(issued))
		}
		msgs = l.messages()
		if n := len(msgs); n < 2 || msgs[n-2].report == nil || !msgs[n-2].report.Final || msgs[n-1] != (toMaster{}) {
			t.Fatalf("the worker's last messages %+v, want the final report, then the end of the stream", msgs[max(0, n-2):])
		}
		final := msgs[len(msgs)-2].report
		if !final.Snapshot.End.Equal(origin.Add(2531*time.Millisecond)) || !maps.Equal(final.Users, map[string]int{"H": 0}) {
			t.Errorf("final report ends at %v with users %v, want 2.531s, none", final.Snapshot.End.Sub(origin), final.Users)
		}
		sum := total(l.reports()...).Endpoints[hitEndpoint]
		if sum == nil || sum.Requests != 52 || sum.Failures != 0 || sum.Bytes != 3*52 {
			t.Errorf("reports count %+v; want all 52 requests, none failed", sum)
		}
	})
}

// TestSessionDrainWaitsForTheMaster: after its final report a draining worker
// half-closes the stream and leaves when the master ends it (then the report has
// arrived), or after 5 s at most.
func TestSessionDrainWaitsForTheMaster(t *testing.T) {
	tests := []struct {
		name string
		end  time.Duration // when the master ends the stream after the half-close; 0: never
		left time.Duration // when the worker leaves after it
	}{
		{name: "master ends the stream", end: 1500 * time.Millisecond, left: 1500 * time.Millisecond},
		{name: "master never does", left: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newFakeMaster()
				drain := make(chan struct{})
				a := startAgent(t, Config{Builtins: memBuiltins(nil, nil, 0), Drain: drain}, m)
				l := m.acceptWith(lingering)
				l.send(cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 1,
					Scenario: userbehavior.Scenario{Builtin: "idle"}, Users: map[string]int{"A": 2}, SpawnRate: 1000})
				sleepUntil(time.Now(), 1500*time.Millisecond)
				close(drain)
				l.send(cluster.Command{Kind: cluster.CommandStop, RunID: "r1"})
				synctest.Wait()
				halfClosed := time.Now()
				if msgs := l.messages(); msgs[len(msgs)-1] != (toMaster{}) {
					t.Fatalf("the worker's last message %+v, want the end of its stream", msgs[len(msgs)-1])
				}
				if tt.end > 0 {
					sleepUntil(halfClosed, tt.end)
					l.drop()
				}
				if err := <-a.done; err != nil {
					t.Errorf("run after drain: %v", err)
				}
				if got := time.Since(halfClosed); got != tt.left {
					t.Errorf("the worker left %v after its half-close, want %v", got, tt.left)
				}
			})
		})
	}
}

func TestSessionDrainWithoutARun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFakeMaster()
		drain := make(chan struct{})
		a := startAgent(t, Config{Builtins: memBuiltins(nil, nil, 0), Drain: drain}, m)
		l := m.accept()
		origin := time.Now()
		sleepUntil(origin, 1500*time.Millisecond)
		close(drain)
		if err := <-a.done; err != nil {
			t.Errorf("run after drain: %v", err)
		}
		msgs := l.messages()
		if time.Since(origin) != 1500*time.Millisecond || len(msgs) == 0 || msgs[len(msgs)-1].goodbye == "" {
			t.Errorf("the worker left at %v after %+v, want at once after its goodbye", time.Since(origin), msgs)
		}
	})
}

// TestSessionOpenModel: an open-model run issues each iteration when it is due on
// the plan's clock, on the pool's users, and the final report counts them all.
func TestSessionOpenModel(t *testing.T) {
	tests := []struct {
		name     string
		latency  time.Duration
		maxUsers int
		runs     func(k int64) bool // whether iteration k runs
	}{
		// 50/s, 30 ms each: two users are enough.
		{name: "in time", latency: 30 * time.Millisecond, maxUsers: 10, runs: func(int64) bool { return true }},
		// 50 ms each: every third iteration finds both users busy, and the pool is at
		// its cap: it is dropped, and counted.
		{name: "pool at its cap", latency: 50 * time.Millisecond, maxUsers: 2, runs: func(k int64) bool { return k%3 != 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newFakeMaster()
				tg := &memTarget{origin: time.Now(), latency: tt.latency}
				origin := tg.origin
				a := startAgent(t, Config{Builtins: memBuiltins(nil, tg, time.Hour)}, m)
				l := m.accept()
				// 50 iterations/s for 2 s: iteration k is due at (k+1)·20 ms.
				arrival := &cluster.Arrival{Stages: scheduler.Stages{{Target: 50}, {Duration: 2 * time.Second, Target: 50}},
					Count: 1, MaxUsers: tt.maxUsers, Classes: []scheduler.Class{{Name: "H", Weight: 1}}}
				l.send(cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 1,
					Scenario: userbehavior.Scenario{Builtin: "hits"}, Users: map[string]int{"H": 2}, Arrival: arrival})
				sleepUntil(origin, 3*time.Second)
				var want []time.Duration
				due := arrivalDue(arrival)
				for k := int64(0); k < 100; k++ {
					if d, _ := due(k); tt.runs(k) {
						want = append(want, d)
					}
				}
				ran := len(want)
				if got := tg.requests(); !slices.Equal(got, want) {
					t.Errorf("iterations ran at %v;\nwant %v", got, want)
				}
				l.send(cluster.Command{Kind: cluster.CommandStop, RunID: "r1"})
				synctest.Wait()
				reports := l.reports()
				final := reports[len(reports)-1]
				if !final.Final || !maps.Equal(final.Users, map[string]int{"H": 0}) {
					t.Errorf("last report %+v, want the final one, with no users left", final)
				}
				sum := total(reports...)
				hit := sum.Endpoints[hitEndpoint]
				// Each issued when due: its latency, counted from then, is the target's.
				if hit == nil || hit.Requests != uint64(ran) || hit.Failures != 0 || hit.TotalTime != time.Duration(ran)*tt.latency {
					t.Errorf("reports count %+v; want %d requests, none failed, each of %v", hit, ran, tt.latency)
				}
				if got := sum.Counters[userbehavior.DroppedCounter]; got != uint64(100-ran) {
					t.Errorf("%d iterations counted dropped, want %d", got, 100-ran)
				}
				a.stop()
			})
		})
	}
}

func TestSessionRetriesWithBackoff(t *testing.T) {
	errNoMaster := status.Error(codes.Unavailable, "connection refused")
	t.Run("until the master comes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newFakeMaster()
			origin := time.Now()
			a := startAgent(t, Config{Builtins: memBuiltins(nil, nil, 0)}, m)
			for range 7 {
				m.results <- errNoMaster
			}
			l := m.accept()
			// Backoff from RetryMin, doubling up to RetryMax: 250 ms, 0.5, 1, 2, 4, 5, 5 s.
			want := []time.Duration{0, 250 * time.Millisecond, 750 * time.Millisecond, 1750 * time.Millisecond,
				3750 * time.Millisecond, 7750 * time.Millisecond, 12750 * time.Millisecond, 17750 * time.Millisecond}
			if got := m.dialTimes(origin); !slices.Equal(got, want) {
				t.Errorf("dialled at %v, want %v", got, want)
			}
			// A session lost starts the backoff afresh.
			l.drop()
			l = m.accept()
			if got := m.dialTimes(origin); got[len(got)-1] != 18*time.Second {
				t.Errorf("dialled again at %v after a lost session, want 18s: RetryMin after the loss", got[len(got)-1])
			}
			l.send(cluster.Command{Kind: cluster.CommandQuit})
			if err := <-a.done; err != nil {
				t.Errorf("run after quit: %v", err)
			}
		})
	})
	t.Run("refused", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newFakeMaster()
			a := startAgent(t, Config{Builtins: memBuiltins(nil, nil, 0)}, m)
			m.results <- status.Error(codes.Unauthenticated, "wrong token")
			err := <-a.done
			if status.Code(err) != codes.Unauthenticated {
				t.Errorf("run: %v, want the refusal", err)
			}
			if n := len(m.dialTimes(time.Now())); n != 1 {
				t.Errorf("%d dials, want 1: retrying cannot help", n)
			}
		})
	})
	t.Run("drained while waiting", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newFakeMaster()
			drain := make(chan struct{})
			origin := time.Now()
			a := startAgent(t, Config{Builtins: memBuiltins(nil, nil, 0), Drain: drain}, m)
			m.results <- errNoMaster
			sleepUntil(origin, 100*time.Millisecond)
			close(drain)
			if err := <-a.done; err != nil || time.Since(origin) != 100*time.Millisecond {
				t.Errorf("run returned %v at %v, want nil at once: nothing to hand over", err, time.Since(origin))
			}
		})
	})
}

// TestSessionSendsAgainWhatTheMasterDidNotAcknowledge: a stream cut after the master
// acknowledged some reports; the next session sends the others again, with their
// own numbers, then what the aborted run measured after them: nothing counted twice,
// nothing lost.
func TestSessionSendsAgainWhatTheMasterDidNotAcknowledge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFakeMaster()
		tg := &memTarget{origin: time.Now(), latency: 30 * time.Millisecond}
		origin := tg.origin
		a := startAgent(t, Config{Builtins: memBuiltins(nil, tg, 100*time.Millisecond)}, m)
		l1 := m.acceptWith(silent)
		l1.send(cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 1,
			Scenario: userbehavior.Scenario{Builtin: "hits"}, Users: map[string]int{"H": 2}, SpawnRate: 1000})
		sleepUntil(origin, 2500*time.Millisecond)
		first := l1.reports()
		if len(first) != 2 {
			t.Fatalf("%d reports by 2.5s, want 2", len(first))
		}
		l1.send(cluster.Command{Kind: cluster.CommandHeartbeat, AckOrigin: first[1].Origin, AckSeq: first[1].Seq})
		sleepUntil(origin, 4550*time.Millisecond)
		l1.drop() // reports 3 and 4 were sent; no word of them came back

		l2 := m.acceptWith(silent)
		synctest.Wait()
		if got := time.Since(origin); got != 4800*time.Millisecond {
			t.Errorf("the worker dialled again at %v, want 4.8s", got)
		}
		sent, again := l1.reports(), l2.reports()
		same := func(a, b cluster.Report) bool {
			return a.Origin == b.Origin && a.Seq == b.Seq && a.Snapshot == b.Snapshot
		}
		if len(sent) != 4 || len(again) != 3 || !same(again[0], sent[2]) || !same(again[1], sent[3]) ||
			again[2].Origin == sent[0].Origin || again[2].Seq != 1 {
			t.Fatalf("the new session sent %+v first;\nwant reports 3 and 4 of the old one as they were, then its own first", again)
		}
		// Users spawned at 0 and 1 ms issue a request every 100 ms until the stream is
		// cut at 4.55 s: 46 each, all ended (the last from 4.501 to 4.531 s).
		sum := total(append(sent, again...)...).Endpoints[hitEndpoint]
		if n := len(tg.requests()); sum == nil || sum.Requests != 92 || n != 92 || sum.Failures != 0 {
			t.Errorf("reports count %+v of %d requests issued; want 92, none failed", sum, n)
		}
		a.stop()
	})
}

// sampler dates its samples.
type sampler struct{}

func (sampler) Sample(now time.Time) telemetry.Sample {
	return telemetry.Sample{At: now, Interval: time.Second}
}

func TestSessionSendsTelemetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFakeMaster()
		origin := time.Now()
		a := startAgent(t, Config{Builtins: memBuiltins(nil, nil, 0), Sampler: sampler{}}, m)
		l := m.accept()
		sleepUntil(origin, 5500*time.Millisecond)
		var got []time.Duration
		for _, msg := range l.messages() {
			if s := msg.telemetry; s != nil {
				got = append(got, s.At.Sub(origin))
			}
		}
		if want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 5 * time.Second}; !slices.Equal(got, want) {
			t.Errorf("samples taken at %v, want one every second: %v", got, want)
		}
		a.stop()
	})
}

func TestSessionAgentRoleRunsNoUsers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFakeMaster()
		a := startAgent(t, Config{Info: cluster.WorkerInfo{ID: "a1", Role: cluster.RoleAgent}, Builtins: memBuiltins(nil, nil, 0)}, m)
		l := m.accept()
		l.send(cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 1,
			Scenario: userbehavior.Scenario{Builtin: "idle"}, Users: map[string]int{"A": 1}, SpawnRate: 1})
		synctest.Wait()
		if rs := l.reports(); len(rs) != 1 || !rs[0].Final || rs[0].Fatal == "" || len(rs[0].Users) != 0 {
			t.Errorf("reports %+v, want one final report saying an agent runs no users", rs)
		}
		a.stop()
	})
}
