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

	"github.com/stampede-load/stampede/pkg/agent"
	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/userbehavior"
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
