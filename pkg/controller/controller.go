package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/store"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// Config is one run as the master was asked for it.
type Config struct {
	Scenario      userbehavior.Scenario
	Classes       []scheduler.Class
	Users         int
	SpawnRate     float64
	RunTime       time.Duration   // 0: until ctx ends
	ExpectWorkers int             // wait for this many workers before starting; at least 1
	ExpectWait    time.Duration   // give up waiting after this; 0: wait until ctx ends
	StopWait      time.Duration   // how long to wait for the workers' final reports; default 20 s
	Label         string          // stored with the run
	Settings      json.RawMessage // stored with the run as its configuration
	Progress      io.Writer       // progress lines; nil: none
	ProgressEvery time.Duration   // default 2 s
	Interval      time.Duration   // length of a stored interval; default 1 s
	QuitWorkers   bool            // tell every worker to exit when the run is over (headless)
}

// Result is what a finished run leaves.
type Result struct {
	Run      store.Run
	Final    *aggregate.Snapshot
	Duration time.Duration // from the first Start to the last final report
}

// ErrNoWorkers is returned when the expected workers did not join in time.
var ErrNoWorkers = errors.New("expected workers did not join")

// Cluster is what the controller needs of the master's gRPC side.
type Cluster interface {
	Events() <-chan cluster.Event
	Send(workerID string, cmd cluster.Command) error
}

// Controller runs load tests over the workers of a Cluster.
type Controller struct {
	cl  Cluster
	db  *store.DB
	log *slog.Logger
}

// New returns a Controller.
func New(cl Cluster, db *store.DB, log *slog.Logger) *Controller {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Controller{cl: cl, db: db, log: log}
}

// worker is the controller's view of one connected worker.
type worker struct {
	info    cluster.WorkerInfo
	target  map[string]int // planned users per class
	users   map[string]int // last reported users per class
	lastSeq uint64
	final   bool
}

// run is the state of one run, owned by Run's goroutine.
type run struct {
	c        *Controller
	cfg      Config
	id       string
	started  time.Time
	workers  map[string]*worker
	version  uint64
	interval *aggregate.Snapshot // merging into the current 1 s interval
	total    *aggregate.Snapshot
	seq      uint64
	peak     int
	stopping bool
	window   []windowEntry // recent intervals for progress
}

type windowEntry struct {
	at   time.Time
	snap *aggregate.Snapshot
}

func (c *Config) defaults() {
	if c.ExpectWorkers < 1 {
		c.ExpectWorkers = 1
	}
	if c.StopWait <= 0 {
		c.StopWait = 20 * time.Second
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 2 * time.Second
	}
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
}

// Run waits for the workers, runs the load test, stores it and returns its result.
// Cancelling ctx ends the run early but still collects the workers' final reports;
// the run is then stored as completed with the reason.
func (c *Controller) Run(ctx context.Context, cfg Config) (Result, error) {
	cfg.defaults()
	if _, err := scheduler.Distribute(scheduler.Request{Classes: cfg.Classes, Users: cfg.Users, SpawnRate: cfg.SpawnRate},
		[]string{"check"}, nil); err != nil {
		return Result{}, fmt.Errorf("plan: %w", err)
	}
	r := &run{c: c, cfg: cfg, workers: make(map[string]*worker)}
	if err := r.waitForWorkers(ctx); err != nil {
		return Result{}, err
	}
	r.started = time.Now()
	r.id = store.NewRunID(r.started)
	r.interval = aggregate.NewSnapshot(r.started)
	r.total = aggregate.NewSnapshot(r.started)
	if err := c.db.CreateRun(store.Run{ID: r.id, Status: store.StatusRunning, Label: cfg.Label,
		Config: cfg.Settings, StartedAt: r.started}); err != nil {
		return Result{}, fmt.Errorf("store run: %w", err)
	}
	c.log.Info("run started", "run_id", r.id, "users", cfg.Users, "spawn_rate", cfg.SpawnRate, "workers", len(r.workers))
	for _, w := range r.sortedWorkers() {
		r.event(r.started, "worker_joined", w.info.ID, w.info.Hostname)
	}
	res, err := r.loop(ctx)
	if err != nil {
		// Whatever went wrong, no worker keeps running this run's users.
		for _, id := range slices.Sorted(maps.Keys(r.workers)) {
			r.c.cl.Send(id, cluster.Command{Kind: cluster.CommandStop, RunID: r.id})
		}
		now := time.Now()
		ferr := c.db.FinishRun(r.id, store.StatusFailed, err.Error(), now, r.summary(now), r.total)
		return res, errors.Join(err, ferr)
	}
	return res, nil
}

func (r *run) waitForWorkers(ctx context.Context) error {
	var deadline <-chan time.Time
	if r.cfg.ExpectWait > 0 {
		t := time.NewTimer(r.cfg.ExpectWait)
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTicker(r.cfg.ProgressEvery)
	defer tick.Stop()
	for len(r.workers) < r.cfg.ExpectWorkers {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %d of %d joined before the run was cancelled", ErrNoWorkers, len(r.workers), r.cfg.ExpectWorkers)
		case <-deadline:
			return fmt.Errorf("%w: %d of %d joined in %v", ErrNoWorkers, len(r.workers), r.cfg.ExpectWorkers, r.cfg.ExpectWait)
		case <-tick.C:
			r.printf("waiting for workers: %d of %d connected\n", len(r.workers), r.cfg.ExpectWorkers)
		case ev := <-r.c.cl.Events():
			switch ev.Kind {
			case cluster.EventJoined:
				r.workers[ev.Worker.ID] = &worker{info: ev.Worker}
			case cluster.EventLeft:
				delete(r.workers, ev.Worker.ID)
			}
		}
	}
	return nil
}

func (r *run) loop(ctx context.Context) (Result, error) {
	if err := r.replan(); err != nil {
		return Result{}, err
	}
	var runEnd <-chan time.Time
	if r.cfg.RunTime > 0 {
		t := time.NewTimer(r.cfg.RunTime)
		defer t.Stop()
		runEnd = t.C
	}
	tick := time.NewTicker(r.cfg.Interval)
	defer tick.Stop()
	progress := time.NewTicker(r.cfg.ProgressEvery)
	defer progress.Stop()
	var stopWait <-chan time.Time
	reason := ""
	done := ctx.Done()
	for {
		if r.stopping && r.allFinal() {
			return r.finish(store.StatusCompleted, reason)
		}
		select {
		case <-runEnd:
			runEnd = nil
			stopWait = r.stop()
		case <-done:
			done = nil
			runEnd = nil
			reason = "stopped early: " + context.Cause(ctx).Error()
			if !r.stopping {
				stopWait = r.stop()
			}
		case <-stopWait:
			missing := []string{}
			for _, w := range r.sortedWorkers() {
				if !w.final {
					missing = append(missing, w.info.ID)
				}
			}
			reason = fmt.Sprintf("no final report from %v within %v", missing, r.cfg.StopWait)
			r.c.log.Warn("finishing without every final report", "run_id", r.id, "missing", missing)
			return r.finish(store.StatusCompleted, reason)
		case now := <-tick.C:
			if err := r.closeInterval(now); err != nil {
				return Result{}, err
			}
		case now := <-progress.C:
			r.printProgress(now)
		case ev := <-r.c.cl.Events():
			if err := r.handle(ev); err != nil {
				return Result{}, err
			}
		}
	}
}

func (r *run) handle(ev cluster.Event) error {
	id := ev.Worker.ID
	switch ev.Kind {
	case cluster.EventJoined:
		r.workers[id] = &worker{info: ev.Worker}
		r.event(ev.At, "worker_joined", id, ev.Worker.Hostname)
		r.c.log.Info("worker joined the run", "run_id", r.id, "worker_id", id)
		if r.stopping {
			// Too late to take part: a stop makes it answer with an empty final report.
			return r.c.cl.Send(id, cluster.Command{Kind: cluster.CommandStop, RunID: r.id})
		}
		return r.replan()
	case cluster.EventLeft:
		w, ok := r.workers[id]
		if !ok {
			return nil
		}
		delete(r.workers, id)
		r.event(ev.At, "worker_lost", id, ev.Reason)
		r.c.log.Warn("worker left the run", "run_id", r.id, "worker_id", id, "reason", ev.Reason)
		if r.stopping || len(r.workers) == 0 {
			return nil
		}
		return r.replanWithout(w)
	case cluster.EventReport:
		w, ok := r.workers[id]
		rep := ev.Report
		if !ok || rep.RunID != r.id {
			return nil
		}
		if rep.Seq != 0 && rep.Seq <= w.lastSeq {
			r.c.log.Warn("duplicate report ignored", "run_id", r.id, "worker_id", id, "seq", rep.Seq)
			return nil
		}
		if rep.Seq != 0 {
			w.lastSeq = rep.Seq
		}
		if rep.Fatal != "" {
			r.event(ev.At, "worker_failed", id, rep.Fatal)
			return fmt.Errorf("worker %s cannot run the scenario: %s", id, rep.Fatal)
		}
		w.users = rep.Users
		r.interval.Merge(rep.Snapshot)
		if rep.Final {
			w.final = true
		}
	}
	return nil
}

// replan distributes the request over the live workers and sends each its target.
func (r *run) replan() error { return r.replanWithout(nil) }

// replanWithout re-plans; lost, when given, is a departed worker whose users the
// others take over.
func (r *run) replanWithout(lost *worker) error {
	ids := slices.Sorted(maps.Keys(r.workers))
	current := scheduler.Assignment{}
	for id, w := range r.workers {
		if w.target != nil {
			current[id] = w.target
		}
	}
	if lost != nil && lost.target != nil {
		current[lost.info.ID] = lost.target
	}
	plan, err := scheduler.Distribute(scheduler.Request{Classes: r.cfg.Classes, Users: r.cfg.Users, SpawnRate: r.cfg.SpawnRate}, ids, current)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	r.version++
	for i, id := range ids {
		wp := plan.Workers[id]
		w := r.workers[id]
		w.target = wp.Users
		err := r.c.cl.Send(id, cluster.Command{Kind: cluster.CommandStart, RunID: r.id, PlanVersion: r.version,
			Scenario: r.cfg.Scenario, Users: wp.Users, SpawnRate: wp.SpawnRate, WorkerIndex: i, WorkerCount: len(ids)})
		if err != nil {
			// The worker is going; its EventLeft re-plans without it.
			r.c.log.Warn("could not send plan", "run_id", r.id, "worker_id", id, "err", err)
		}
	}
	return nil
}

func (r *run) stop() <-chan time.Time {
	r.stopping = true
	r.printf("stopping: waiting for %d workers' final reports\n", len(r.workers))
	for _, id := range slices.Sorted(maps.Keys(r.workers)) {
		if err := r.c.cl.Send(id, cluster.Command{Kind: cluster.CommandStop, RunID: r.id}); err != nil {
			r.c.log.Warn("could not send stop", "run_id", r.id, "worker_id", id, "err", err)
		}
	}
	return time.After(r.cfg.StopWait)
}

func (r *run) allFinal() bool {
	for _, w := range r.workers {
		if !w.final {
			return false
		}
	}
	return true
}

func (r *run) users() int {
	n := 0
	for _, w := range r.workers {
		for _, u := range w.users {
			n += u
		}
	}
	return n
}

// closeInterval stores the interval that ends now and starts the next.
func (r *run) closeInterval(now time.Time) error {
	iv := r.interval
	iv.End = now
	r.seq++
	users := r.users()
	r.peak = max(r.peak, users)
	if err := r.c.db.AppendInterval(r.id, store.Interval{Seq: r.seq, At: now, Users: users,
		Workers: len(r.workers), Snapshot: iv}); err != nil {
		return fmt.Errorf("store interval: %w", err)
	}
	r.total.Merge(iv)
	r.window = append(r.window, windowEntry{at: now, snap: iv})
	if len(r.window) > 10 {
		r.window = r.window[1:]
	}
	r.interval = aggregate.NewSnapshot(now)
	return nil
}

func (r *run) finish(status store.Status, reason string) (Result, error) {
	now := time.Now()
	if err := r.closeInterval(now); err != nil {
		return Result{}, err
	}
	r.total.End = now
	sum := r.summary(now)
	if err := r.c.db.FinishRun(r.id, status, reason, now, sum, r.total); err != nil {
		return Result{}, fmt.Errorf("store final: %w", err)
	}
	stored, err := r.c.db.Run(r.id)
	if err != nil {
		return Result{}, err
	}
	r.c.log.Info("run finished", "run_id", r.id, "requests", sum.Requests, "failures", sum.Failures)
	if r.cfg.QuitWorkers {
		for _, id := range slices.Sorted(maps.Keys(r.workers)) {
			if err := r.c.cl.Send(id, cluster.Command{Kind: cluster.CommandQuit, Reason: "run " + r.id + " is over"}); err != nil {
				r.c.log.Warn("could not tell a worker to quit", "worker_id", id, "err", err)
			}
		}
	}
	return Result{Run: stored, Final: r.total, Duration: now.Sub(r.started)}, nil
}

func (r *run) summary(now time.Time) store.Summary {
	t := r.total.Total()
	s := store.Summary{Requests: t.Requests, Failures: t.Failures, PeakUsers: r.peak,
		P50: t.Latency.Percentile(50), P95: t.Latency.Percentile(95), P99: t.Latency.Percentile(99)}
	if d := now.Sub(r.started).Seconds(); d > 0 {
		s.RPS = float64(t.Requests) / d
	}
	return s
}

func (r *run) event(at time.Time, kind, workerID, detail string) {
	if err := r.c.db.AppendEvent(r.id, store.Event{At: at, Kind: kind, Worker: workerID, Detail: detail}); err != nil {
		r.c.log.Error("store event", "run_id", r.id, "err", err)
	}
}

func (r *run) sortedWorkers() []*worker {
	out := make([]*worker, 0, len(r.workers))
	for _, id := range slices.Sorted(maps.Keys(r.workers)) {
		out = append(out, r.workers[id])
	}
	return out
}

// printProgress writes one line over the last ProgressEvery: users, rates and
// percentiles of the requests completed in that window.
func (r *run) printProgress(now time.Time) {
	if r.cfg.Progress == nil {
		return
	}
	win := aggregate.NewSnapshot(now.Add(-r.cfg.ProgressEvery))
	for _, e := range r.window {
		if now.Sub(e.at) < r.cfg.ProgressEvery {
			win.Merge(e.snap)
		}
	}
	t := win.Total()
	secs := r.cfg.ProgressEvery.Seconds()
	r.printf("%6s  users %d/%d  workers %d  rps %.1f  fail/s %.1f  p50 %s  p95 %s  p99 %s\n",
		now.Sub(r.started).Truncate(time.Second), r.users(), r.cfg.Users, len(r.workers),
		float64(t.Requests)/secs, float64(t.Failures)/secs,
		report.Millis(t.Latency.Percentile(50)), report.Millis(t.Latency.Percentile(95)), report.Millis(t.Latency.Percentile(99)))
}

func (r *run) printf(format string, args ...any) {
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, format, args...)
	}
}
