package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stampede-load/stampede/pkg/agent"
	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/userbehavior"
	pb "github.com/stampede-load/stampede/proto"
)

// guard bounds every wait on the code under test, so that a bug fails the test
// instead of hanging it. It is no part of any timing assertion.
const guard = 10 * time.Second

// serveGRPC serves svc on a loopback port until the test ends.
func serveGRPC(t *testing.T, register func(*grpc.Server), closeFirst func()) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	register(gs)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	t.Cleanup(func() {
		if closeFirst != nil {
			closeFirst()
		}
		gs.Stop()
		if err := <-served; err != nil {
			t.Errorf("grpc Serve: %v", err)
		}
	})
	return lis.Addr().String()
}

// await waits for ch to close.
func await(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(guard):
		t.Fatalf("waited %v for %s", guard, what)
	}
}

// master is the real master's end of the cluster, driven by hand.
type master struct {
	t    *testing.T
	srv  *cluster.Server
	addr string
}

func newMaster(t *testing.T) *master {
	srv := cluster.NewServer(cluster.ServerConfig{HeartbeatInterval: 50 * time.Millisecond})
	addr := serveGRPC(t, srv.RegisterOn, srv.Close)
	return &master{t: t, srv: srv, addr: addr}
}

// next returns the next event, which must be of kind.
func (m *master) next(kind cluster.EventKind) cluster.Event {
	m.t.Helper()
	select {
	case e := <-m.srv.Events():
		if e.Kind != kind {
			m.t.Fatalf("event %+v, want kind %d", e, kind)
		}
		return e
	case <-time.After(guard):
		m.t.Fatalf("no event of kind %d in %v", kind, guard)
	}
	panic("unreachable")
}

// report returns the next report, which must be of run.
func (m *master) report(run string) *cluster.Report {
	m.t.Helper()
	r := m.next(cluster.EventReport).Report
	if r.RunID != run {
		m.t.Fatalf("report of run %q, want %q", r.RunID, run)
	}
	return r
}

// reportWhere returns the first report of run for which ok holds.
func (m *master) reportWhere(run string, ok func(*cluster.Report) bool) *cluster.Report {
	m.t.Helper()
	deadline := time.Now().Add(guard)
	for {
		r := m.report(run)
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("no report as wanted in %v; the last: %+v", guard, r)
		}
	}
}

func (m *master) send(worker string, c cluster.Command) {
	m.t.Helper()
	if err := m.srv.Send(worker, c); err != nil {
		m.t.Fatal(err)
	}
}

// worker is an agent.Run in the test's process.
type worker struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Run's result, once done is closed
}

// startWorker runs agent.Run until the test ends.
func startWorker(t *testing.T, cfg agent.Config) *worker {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{t: t, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.err = agent.Run(ctx, cfg)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
		case <-time.After(guard):
			t.Errorf("agent.Run did not return in %v after cancel", guard)
		}
	})
	return w
}

// wait waits for Run to return, which it must with nil.
func (w *worker) wait(why string) {
	w.t.Helper()
	select {
	case <-w.done:
		if w.err != nil {
			w.t.Errorf("Run after %s: %v", why, w.err)
		}
	case <-time.After(guard):
		w.t.Fatalf("Run did not return after %s", why)
	}
}

// target counts the requests it serves, and tells when it has served enough.
type target struct {
	served  atomic.Uint64
	enough  uint64
	reached chan struct{}
}

func newTarget(t *testing.T, enough uint64) (*target, *httptest.Server) {
	tg := &target{enough: enough, reached: make(chan struct{})}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tg.served.Add(1) == tg.enough {
			close(tg.reached)
		}
		fmt.Fprint(w, "hit")
	}))
	t.Cleanup(ts.Close)
	return tg, ts
}

func nothing(context.Context, *userbehavior.User) error { return nil }

// builtins: "idle" users that do nothing, and "hits" users that hit a target, counting
// the requests they start in issued.
func builtins(issued *atomic.Uint64) userbehavior.Builtins {
	idle := userbehavior.Wait{Kind: userbehavior.WaitConstant, Min: time.Hour}
	return userbehavior.Builtins{
		"idle": func() []*userbehavior.Class {
			return []*userbehavior.Class{
				{Name: "A", Weight: 1, Wait: idle, Tasks: []userbehavior.Task{{Name: "t", Weight: 1, Fn: nothing}}},
				{Name: "B", Weight: 1, Wait: idle, Tasks: []userbehavior.Task{{Name: "t", Weight: 1, Fn: nothing}}},
			}
		},
		"hits": func() []*userbehavior.Class {
			return []*userbehavior.Class{{Name: "H", Weight: 1,
				Wait: userbehavior.Wait{Kind: userbehavior.WaitConstant, Min: time.Millisecond},
				Tasks: []userbehavior.Task{{Name: "hit", Weight: 1, Fn: func(ctx context.Context, u *userbehavior.User) error {
					issued.Add(1)
					u.HTTP.Get(ctx, "/hit")
					return nil
				}}}}}
		},
	}
}

func TestAgentReportsEveryInterval(t *testing.T) {
	const interval = 50 * time.Millisecond
	m := newMaster(t)
	w := startWorker(t, agent.Config{Master: m.addr, Info: cluster.WorkerInfo{ID: "w1"}, Builtins: builtins(nil),
		ReportInterval: interval})
	if e := m.next(cluster.EventJoined); e.Worker.ID != "w1" {
		t.Fatalf("joined %+v", e.Worker)
	}
	m.send("w1", cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 1,
		Scenario: userbehavior.Scenario{Builtin: "idle"}, Users: map[string]int{"A": 3, "B": 1}, SpawnRate: 1000})

	// Reports come one per interval, each covering the span since the last: the
	// spans join up, and N reports cover at least N-2 intervals since the run began
	// (the first tick may be pending as the run starts). Late ticks under load only
	// stretch them.
	want := map[string]int{"A": 3, "B": 1}
	var reports []*cluster.Report
	for len(reports) < 6 || !maps.Equal(reports[len(reports)-1].Users, want) {
		r := m.report("r1")
		reports = append(reports, r)
		if len(reports) > 100 {
			t.Fatalf("users %v after 100 reports, want %v", r.Users, want)
		}
	}
	for i, r := range reports {
		if r.Seq != uint64(i+1) || r.PlanVersion != 1 || r.Final {
			t.Fatalf("report %+v, want seq %d, plan 1, not final", r, i+1)
		}
		if i > 0 && !r.Snapshot.Start.Equal(reports[i-1].Snapshot.End) {
			t.Errorf("report %d starts at %v, the one before ended at %v", r.Seq, r.Snapshot.Start, reports[i-1].Snapshot.End)
		}
	}
	n := len(reports)
	if span := reports[n-1].Snapshot.End.Sub(reports[0].Snapshot.Start); span < time.Duration(n-2)*interval {
		t.Errorf("%d reports cover %v, want at least %v: faster than every %v", n, span, time.Duration(n-2)*interval, interval)
	}

	// A new plan of the same run moves the users; an older plan is ignored.
	m.send("w1", cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 3,
		Scenario: userbehavior.Scenario{Builtin: "idle"}, Users: map[string]int{"A": 1, "B": 2}, SpawnRate: 1000})
	m.send("w1", cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 2,
		Scenario: userbehavior.Scenario{Builtin: "idle"}, Users: map[string]int{"A": 9, "B": 9}, SpawnRate: 1000})
	want = map[string]int{"A": 1, "B": 2}
	m.reportWhere("r1", func(r *cluster.Report) bool { return r.PlanVersion == 3 && maps.Equal(r.Users, want) })

	m.send("w1", cluster.Command{Kind: cluster.CommandStop, RunID: "r1"})
	final := m.reportWhere("r1", func(r *cluster.Report) bool { return r.Final })
	if want := map[string]int{"A": 0, "B": 0}; !maps.Equal(final.Users, want) || final.PlanVersion != 3 {
		t.Errorf("final report: users %v of plan %d, want %v of plan 3", final.Users, final.PlanVersion, want)
	}

	m.send("w1", cluster.Command{Kind: cluster.CommandQuit, Reason: "done"})
	w.wait("quit")
	if e := m.next(cluster.EventLeft); e.Worker.ID != "w1" {
		t.Errorf("left: %+v", e)
	}
}

func TestAgentFinalReportCountsExactly(t *testing.T) {
	tg, ts := newTarget(t, 300)
	var issued atomic.Uint64
	m := newMaster(t)
	startWorker(t, agent.Config{Master: m.addr, Info: cluster.WorkerInfo{ID: "w1"}, Builtins: builtins(&issued),
		ReportInterval: 20 * time.Millisecond})
	m.next(cluster.EventJoined)
	m.send("w1", cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 1,
		Scenario: userbehavior.Scenario{Builtin: "hits", Host: ts.URL}, Users: map[string]int{"H": 4}, SpawnRate: 1000})
	await(t, tg.reached, "the target to be hit")
	m.send("w1", cluster.Command{Kind: cluster.CommandStop, RunID: "r1"})

	total := aggregate.NewSnapshot(time.Time{})
	var final *cluster.Report
	for final == nil {
		r := m.report("r1")
		total.Merge(r.Snapshot)
		if r.Final {
			final = r
		}
	}
	if want := map[string]int{"H": 0}; !maps.Equal(final.Users, want) {
		t.Errorf("final report: users %v, want %v", final.Users, want)
	}
	hit := total.Endpoints[aggregate.Endpoint{Method: "GET", Name: "/hit"}]
	served := tg.served.Load()
	if hit == nil || hit.Requests != served || hit.Failures != 0 || hit.Bytes != 3*served {
		t.Fatalf("reports sum to %+v; want %d requests (the target's count), no failures, %d bytes", hit, served, 3*served)
	}
	if len(total.Endpoints) != 1 || len(total.Errors) != 0 {
		t.Errorf("reports hold %v, errors %v", total.Names(), total.Errors)
	}
	if n := issued.Load(); n != served {
		t.Errorf("users issued %d requests, target served %d", n, served)
	}

	// The run is over: a second stop finds nothing and answers with an empty report.
	m.send("w1", cluster.Command{Kind: cluster.CommandStop, RunID: "r1"})
	if r := m.report("r1"); !r.Final || len(r.Snapshot.Endpoints) != 0 {
		t.Errorf("second stop: %+v, want an empty final report", r)
	}
}

func TestAgentStopUnknownRun(t *testing.T) {
	tests := []struct {
		name   string
		active bool // another run is going on
	}{
		{name: "no run"},
		{name: "another run", active: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMaster(t)
			startWorker(t, agent.Config{Master: m.addr, Info: cluster.WorkerInfo{ID: "w1"}, Builtins: builtins(nil),
				ReportInterval: time.Hour})
			m.next(cluster.EventJoined)
			if tt.active {
				m.send("w1", cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 1,
					Scenario: userbehavior.Scenario{Builtin: "idle"}, Users: map[string]int{"A": 1}, SpawnRate: 1})
			}
			before := time.Now()
			m.send("w1", cluster.Command{Kind: cluster.CommandStop, RunID: "nope"})
			r := m.report("nope")
			if !r.Final || len(r.Users) != 0 || len(r.Snapshot.Endpoints) != 0 || len(r.Snapshot.Errors) != 0 {
				t.Errorf("report %+v, want an empty final report", r)
			}
			if s := r.Snapshot; s.Start.Before(before.Add(-time.Minute)) || s.End.Before(s.Start) {
				t.Errorf("empty report spans %v to %v", s.Start, s.End)
			}
			if tt.active {
				// r1 goes on: stopping it still gives its own final report.
				m.send("w1", cluster.Command{Kind: cluster.CommandStop, RunID: "r1"})
				if r := m.report("r1"); !r.Final || r.Seq != 1 {
					t.Errorf("r1's report %+v, want its first, final", r)
				}
			}
		})
	}
}

func TestAgentEndsWithItsContext(t *testing.T) {
	m := newMaster(t)
	w := startWorker(t, agent.Config{Master: m.addr, Info: cluster.WorkerInfo{ID: "w1"}, Builtins: builtins(nil)})
	m.next(cluster.EventJoined)
	m.send("w1", cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 1,
		Scenario: userbehavior.Scenario{Builtin: "idle"}, Users: map[string]int{"A": 5}, SpawnRate: 1000})
	w.cancel()
	w.wait("cancel")
	m.next(cluster.EventLeft)
}

func TestAgentRetriesUntilMasterComes(t *testing.T) {
	// Take a free port, then let the master listen on it only after the worker tried.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	retrying := &logHook{msg: "no master; retrying", seen: make(chan struct{}, 1)}
	w := startWorker(t, agent.Config{Master: addr, Info: cluster.WorkerInfo{ID: "w1"}, Logger: slog.New(retrying),
		RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	select {
	case <-retrying.seen: // the worker found no master and waits to try again
	case <-time.After(guard):
		t.Fatal("the worker never tried the absent master")
	}
	srv := cluster.NewServer(cluster.ServerConfig{})
	lis, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	gs := grpc.NewServer()
	srv.RegisterOn(gs)
	go gs.Serve(lis)
	defer gs.Stop()
	defer srv.Close()
	m := &master{t: t, srv: srv, addr: addr}
	m.next(cluster.EventJoined)
	m.send("w1", cluster.Command{Kind: cluster.CommandQuit})
	w.wait("quit")
}

// logHook is a slog.Handler that tells when a message is logged.
type logHook struct {
	msg  string
	seen chan struct{} // cap 1
}

func (h *logHook) Enabled(context.Context, slog.Level) bool { return true }
func (h *logHook) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logHook) WithGroup(string) slog.Handler            { return h }
func (h *logHook) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.seen <- struct{}{}:
		default:
		}
	}
	return nil
}

func TestAgentSkipsClassesItLacks(t *testing.T) {
	// A plan from a master of another build names a class this worker's scenario lacks:
	// the worker warns and still runs the classes it has.
	m := newMaster(t)
	warned := &logHook{msg: "plan names user classes the scenario lacks: not spawned", seen: make(chan struct{}, 1)}
	startWorker(t, agent.Config{Master: m.addr, Info: cluster.WorkerInfo{ID: "w1"}, Builtins: builtins(nil),
		Logger: slog.New(warned), ReportInterval: 20 * time.Millisecond})
	m.next(cluster.EventJoined)
	m.send("w1", cluster.Command{Kind: cluster.CommandStart, RunID: "r1", PlanVersion: 1,
		Scenario: userbehavior.Scenario{Builtin: "idle"}, Users: map[string]int{"A": 2, "AA": 2, "B": 1}, SpawnRate: 1000})
	want := map[string]int{"A": 2, "B": 1}
	m.reportWhere("r1", func(r *cluster.Report) bool { return maps.Equal(r.Users, want) })
	select {
	case <-warned.seen:
	default:
		t.Error("no warning about the unknown class")
	}
}

// silentMaster welcomes the first worker, starts a run on it and then says nothing,
// as a master that hangs would. It turns every later connection away.
type silentMaster struct {
	pb.UnimplementedCoordinatorServer
	host      string // the target of the run it starts
	conns     atomic.Int32
	startSent chan time.Time // when the start went out
	ended     chan time.Time // when the first stream ended
	redialled chan struct{}  // closed on the second connection
}

func (s *silentMaster) Connect(stream grpc.BidiStreamingServer[pb.WorkerMessage, pb.MasterMessage]) error {
	n := s.conns.Add(1)
	if n == 2 {
		close(s.redialled)
	}
	if n > 1 {
		return status.Error(codes.Unavailable, "go away")
	}
	if _, err := stream.Recv(); err != nil { // hello
		return err
	}
	if err := stream.Send(&pb.MasterMessage{Body: &pb.MasterMessage_Welcome{Welcome: &pb.Welcome{}}}); err != nil {
		return err
	}
	start := &pb.Start{RunId: "r1", PlanVersion: 1, Users: map[string]int32{"H": 2}, SpawnRate: 1000,
		Scenario: &pb.Scenario{Host: s.host, Kind: &pb.Scenario_Builtin{Builtin: "hits"}}}
	if err := stream.Send(&pb.MasterMessage{Body: &pb.MasterMessage_Start{Start: start}}); err != nil {
		return err
	}
	s.startSent <- time.Now()
	for { // hear the worker's heartbeats and reports; answer nothing
		if _, err := stream.Recv(); err != nil {
			s.ended <- time.Now()
			return nil
		}
	}
}

func TestAgentSilenceBrake(t *testing.T) {
	const silence = 300 * time.Millisecond
	tg, ts := newTarget(t, 5)
	var issued atomic.Uint64
	fake := &silentMaster{host: ts.URL, startSent: make(chan time.Time, 1), ended: make(chan time.Time, 1), redialled: make(chan struct{})}
	addr := serveGRPC(t, func(g *grpc.Server) { pb.RegisterCoordinatorServer(g, fake) }, nil)

	startWorker(t, agent.Config{Master: addr, Info: cluster.WorkerInfo{ID: "w1"}, Builtins: builtins(&issued),
		SilenceTimeout: silence, HeartbeatInterval: 20 * time.Millisecond, ReportInterval: 20 * time.Millisecond,
		RetryMin: 50 * time.Millisecond, RetryMax: 50 * time.Millisecond})

	var sent, ended time.Time
	select {
	case sent = <-fake.startSent:
	case <-time.After(guard):
		t.Fatal("the worker never connected")
	}
	await(t, tg.reached, "the users to hit the target")
	select {
	case ended = <-fake.ended:
	case <-time.After(guard):
		t.Fatalf("the worker kept a silent master for %v", guard)
	}
	if d := ended.Sub(sent); d < silence || d > silence+5*time.Second {
		t.Errorf("the worker dropped a silent master after %v, want just over %v", d, silence)
	}
	// The users were stopped before the stream ended: nothing more goes out, though
	// the worker lives on and tries the master again.
	stoppedAt := issued.Load()
	select {
	case <-fake.redialled:
	case <-time.After(guard):
		t.Fatal("the worker did not try the master again")
	}
	if n := issued.Load(); n != stoppedAt {
		t.Errorf("users issued %d requests after the brake", n-stoppedAt)
	}
	if served := tg.served.Load(); served > stoppedAt {
		t.Errorf("target served %d requests, users issued only %d", served, stoppedAt)
	}
}
