package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/stampede-load/stampede/pkg/export"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/aggregate/threshold"
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
	RunTime       time.Duration // 0: until stopped
	ExpectWorkers int           // wait for this many workers before starting; at least 1
	ExpectWait    time.Duration // give up waiting after this; 0: wait until stopped
	StopWait      time.Duration // how long to wait for the workers' final reports, past StopTimeout; default 20 s
	// StopTimeout is how long users may finish their current task when the run
	// stops (Locust's --stop-timeout), sent to every worker with the stop; 0 cuts
	// them at once, their sleeps, waits and requests in flight included (those
	// requests are counted as cancelled at stop, not as failures). An abort cuts
	// them at once whatever it is.
	StopTimeout   time.Duration
	Label         string          // stored with the run
	Settings      json.RawMessage // stored with the run as its configuration
	Progress      io.Writer       // progress lines; nil: none
	ProgressEvery time.Duration   // default 2 s
	QuitWorkers   bool            // tell every worker to exit when the run is over (headless)

	// Arrival makes the run open-model: iterations arrive at this rate (per second,
	// cluster-wide), each run by a user borrowed from a pool; Users is then the pool
	// pre-allocated over the workers and MaxPool its cap (default: Users). Latency is
	// measured from when each iteration was due. RunTime defaults to the shape's
	// length.
	Arrival scheduler.Stages
	MaxPool int
	// Stages shapes the number of users over time (closed model): the run follows it,
	// re-planning each second, and ends with it.
	Stages scheduler.Stages
	// Shape does the same from a function (a script's shape()), asked each second:
	// users and spawn rate, or ok false to end the run.
	Shape func(elapsed time.Duration) (users int, spawnRate float64, ok bool, err error)
	// Thresholds are evaluated on the merged data each second and at the end; one
	// with ";abort" stops the run when it fails. Baseline is the stored run that
	// thresholds such as p95<=baseline*1.10 compare with.
	Thresholds []threshold.Threshold
	Baseline   *threshold.Input

	endsWithShape bool // RunTime is the length of Stages
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
	if c.Arrival != nil {
		c.MaxPool = max(c.MaxPool, c.Users, 1)
		if c.RunTime <= 0 {
			// A little past the shape: a worker's plan clock starts when its Start
			// arrives, so its last iterations come due a little after the master's.
			c.RunTime = c.Arrival.Duration() + arrivalGrace
			c.endsWithShape = true
		}
	}
	if c.Stages != nil && c.RunTime <= 0 {
		c.RunTime = c.Stages.Duration()
		c.endsWithShape = true
	}
}

// shaped reports whether the run's users follow a shape.
func (c *Config) shaped() bool { return c.Stages != nil || c.Shape != nil }

// Result is what a finished run leaves.
type Result struct {
	Run      store.Run
	Final    *aggregate.Snapshot
	Duration time.Duration // from the first Start to the last final report
	// Thresholds are the verdicts at the end, in the order of Config.Thresholds.
	Thresholds []threshold.Result
	// Aborted: the run was stopped before its end by a failing ";abort" threshold
	// (or Controller.Abort); it is stored with status aborted.
	Aborted bool
	// Problems say why the run's outcome is not sound although it ran to its end:
	// it sent no request, or a worker died or left with an error during it. They
	// are stored with the run's reason.
	Problems []string
}

// MaxUsers bounds the users of one run: a typo of a few zeros must not make every
// worker try to allocate for a billion users.
const MaxUsers = 1_000_000

// Errors callers branch on.
var (
	ErrNoWorkers = errors.New("expected workers did not join")
	ErrRunActive = errors.New("a run is already active")
	ErrNoRun     = errors.New("no active run")
	ErrStopped   = errors.New("controller stopped")
)

// Cluster is what the controller needs of the master's gRPC side.
type Cluster interface {
	Events() <-chan cluster.Event
	Send(workerID string, cmd cluster.Command) error
}

// Options tunes a Controller.
type Options struct {
	Interval     time.Duration // length of a stored interval; default 1 s
	PublishEvery time.Duration // how soon a report shows in the live view; default 250 ms
	Logger       *slog.Logger
	// A worker whose CPU (host, or its process per GOMAXPROCS) stays above
	// SaturationCPU percent, or whose goroutines' scheduling delay (p99) stays above
	// SchedLagLimit, for SaturationSamples one-second samples raises a warning on
	// the run. Defaults 90 %, 50 ms, 3.
	SaturationCPU     float64
	SchedLagLimit     time.Duration
	SaturationSamples int
	// MinWorkers aborts a running test when fewer workers than this remain (0: never).
	MinWorkers int
	// TargetCPU is the CPU share per worker the scale hint aims for; default 75 %.
	TargetCPU float64
	// LivePoints bounds the points the live view keeps per series (the run's, and
	// each host's telemetry); default report.MaxLivePoints.
	LivePoints int
	// Export, when set, is handed every closed interval of a run (remote-write):
	// on the loop's goroutine, so it must return at once.
	Export IntervalSink
}

// IntervalSink receives the closed intervals of the live run. The snapshot it is
// given is read-only from then on.
type IntervalSink interface {
	Interval(export.Interval)
}

// Controller runs load tests over the workers of a Cluster. Serve runs its loop;
// Start, Stop, Edit and Reset talk to that loop; Live and Subscribe read what it
// publishes. Run is the headless shortcut: Serve, Start and wait, in one call.
type Controller struct {
	cl   Cluster
	db   *store.DB
	log  *slog.Logger
	opts Options

	cmds chan command
	live atomic.Pointer[report.Live]

	subMu sync.Mutex
	subs  map[chan struct{}]struct{}
}

// command is a closure run on the loop's goroutine.
type command func(s *state)

// New returns a Controller; call Serve (or Run) to use it.
func New(cl Cluster, db *store.DB, opts Options) *Controller {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.PublishEvery <= 0 {
		opts.PublishEvery = 250 * time.Millisecond
	}
	if opts.SaturationCPU <= 0 {
		opts.SaturationCPU = 90
	}
	if opts.SchedLagLimit <= 0 {
		opts.SchedLagLimit = 50 * time.Millisecond
	}
	if opts.TargetCPU <= 0 {
		opts.TargetCPU = 75
	}
	if opts.LivePoints <= 0 {
		opts.LivePoints = report.MaxLivePoints
	}
	if opts.SaturationSamples <= 0 {
		opts.SaturationSamples = 3
	}
	c := &Controller{cl: cl, db: db, log: opts.Logger, opts: opts,
		cmds: make(chan command), subs: map[chan struct{}]struct{}{}}
	c.live.Store(&report.Live{State: report.StateIdle})
	return c
}

// Run serves, starts one run with cfg, waits for it to end, and returns its result.
// Cancelling ctx ends the run early but still collects the workers' final reports.
func (c *Controller) Run(ctx context.Context, cfg Config) (Result, error) {
	loopCtx, stopLoop := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() { served <- c.Serve(loopCtx) }()
	defer func() {
		stopLoop()
		<-served
	}()
	done, err := c.Start(ctx, cfg)
	if err != nil {
		return Result{}, err
	}
	select {
	case <-done:
	case <-ctx.Done():
		c.Stop(context.WithoutCancel(ctx), "stopped early: "+context.Cause(ctx).Error())
		<-done
	}
	return c.Outcome(done)
}

// Start begins a run: it waits for cfg.ExpectWorkers workers, then spreads the users
// over them. The returned channel closes when the run is over; Outcome then tells
// how it ended.
func (c *Controller) Start(ctx context.Context, cfg Config) (<-chan struct{}, error) {
	cfg.defaults()
	if cfg.Users > MaxUsers {
		return nil, fmt.Errorf("%d users: at most %d per run", cfg.Users, MaxUsers)
	}
	if err := (scheduler.Request{Classes: cfg.Classes, Users: cfg.Users, SpawnRate: cfg.SpawnRate}).Validate(); err != nil {
		return nil, err
	}
	var done <-chan struct{}
	err := c.do(ctx, func(s *state) error {
		if s.run != nil && !s.run.over() {
			return ErrRunActive
		}
		r := s.newRun(cfg)
		done = r.done
		return nil
	})
	return done, err
}

// Outcome returns how the run whose done channel is given ended; call it after done
// closed.
func (c *Controller) Outcome(done <-chan struct{}) (Result, error) {
	var res Result
	var err error
	derr := c.do(context.Background(), func(s *state) error {
		for _, r := range s.finished {
			if r.done == done {
				res, err = r.result, r.err
				return nil
			}
		}
		return errors.New("unknown run")
	})
	if derr != nil {
		return Result{}, derr
	}
	return res, err
}

// Stop ends the active run: workers stop their users and send final reports.
func (c *Controller) Stop(ctx context.Context, reason string) error {
	return c.do(ctx, func(s *state) error {
		if s.run == nil || s.run.over() {
			return ErrNoRun
		}
		s.run.requestStop(reason)
		return nil
	})
}

// Abort ends the active run at once, whatever its stop timeout: every worker cuts its
// users (sleeps, waits and requests in flight), and the run is stored with status
// aborted and reason. A failing ";abort" threshold aborts this way; so may a script.
func (c *Controller) Abort(ctx context.Context, reason string) error {
	return c.do(ctx, func(s *state) error {
		if s.run == nil || s.run.over() {
			return ErrNoRun
		}
		s.run.requestAbort(time.Now(), reason)
		return nil
	})
}

// Edit changes the active run's user count and spawn rate.
func (c *Controller) Edit(ctx context.Context, users int, spawnRate float64) error {
	if users > MaxUsers {
		return fmt.Errorf("%d users: at most %d per run", users, MaxUsers)
	}
	if err := scheduler.ValidateLoad(users, spawnRate); err != nil {
		return err
	}
	return c.do(ctx, func(s *state) error {
		if s.run == nil || s.run.over() || s.run.stopping {
			return ErrNoRun
		}
		return s.run.edit(users, spawnRate)
	})
}

// Reset clears the active run's cumulative statistics (not what is stored per
// interval), as Locust's "reset stats".
func (c *Controller) Reset(ctx context.Context) error {
	return c.do(ctx, func(s *state) error {
		if s.run == nil || s.run.over() {
			return ErrNoRun
		}
		s.run.reset()
		return nil
	})
}

// Live returns the latest published view; never nil. Do not modify it.
func (c *Controller) Live() *report.Live { return c.live.Load() }

// Subscribe returns a channel that receives a signal whenever a new Live view is
// published. Signals coalesce: a slow reader sees the latest view, never a backlog.
func (c *Controller) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	c.subMu.Lock()
	c.subs[ch] = struct{}{}
	c.subMu.Unlock()
	return ch, func() {
		c.subMu.Lock()
		delete(c.subs, ch)
		c.subMu.Unlock()
	}
}

func (c *Controller) publish(l *report.Live) {
	c.live.Store(l)
	c.subMu.Lock()
	defer c.subMu.Unlock()
	for ch := range c.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// do runs fn on the loop and returns its error.
func (c *Controller) do(ctx context.Context, fn func(s *state) error) error {
	reply := make(chan error, 1)
	cmd := func(s *state) { reply <- fn(s) }
	select {
	case c.cmds <- cmd:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
