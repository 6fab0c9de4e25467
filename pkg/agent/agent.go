package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/telemetry"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// Config configures a worker agent.
type Config struct {
	Master   string // host:port of the master's gRPC listener
	Info     cluster.WorkerInfo
	Builtins userbehavior.Builtins // classes for built-in scenarios, when Resolve is nil
	// Resolve turns a run's scenario into classes for the worker at index of count;
	// nil resolves with Scenario.Classes(Builtins).
	Resolve           func(sc userbehavior.Scenario, index, count int) ([]*userbehavior.Class, error)
	Logger            *slog.Logger
	ReportInterval    time.Duration // default 1 s
	HeartbeatInterval time.Duration // default 1 s
	SilenceTimeout    time.Duration // stop all users after this long without a word from the master; default 5 s
	// StopTimeout is how long users may take to finish their task at the end of a
	// run when the master's stop does not say (an older master); default 10 s. A
	// master that says (cluster.Command.StopTimeout, its --stop-timeout) is obeyed.
	StopTimeout time.Duration
	RetryMin    time.Duration     // reconnect backoff; default 250 ms
	RetryMax    time.Duration     // default 5 s
	DialOptions []grpc.DialOption // e.g. TLS credentials
	Token       string            // shared token the master asks for
	// Drain, when closed, starts a graceful exit: the worker tells the master, which
	// moves its users to the other workers and stops this one; after its final
	// report Run returns nil. (The caller bounds the wait by cancelling ctx.)
	Drain <-chan struct{}
	// OnConnection, when set, is told when the worker connects to and loses its
	// master (for a readiness probe).
	OnConnection func(connected bool)
	// Sampler, when set, is read every HeartbeatInterval in a goroutine of its own
	// (a slow GPU driver never stalls reports) and its samples go to the master.
	Sampler Sampler
	// HTTP is how this worker's users speak HTTP (client, body cap, TLS, timings).
	HTTP userbehavior.HTTPConfig
	// MaxMemory, when > 0, is the memory budget of the worker's users: past it no
	// new user is made (userbehavior.RunnerConfig.MaxMemory). Users are also capped
	// by the open-file limit. A capped worker keeps the users it has, and each
	// refusal reaches the master as a worker-limit exception.
	MaxMemory int64
}

// Sampler takes one telemetry sample of the host.
type Sampler interface {
	Sample(now time.Time) telemetry.Sample
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	setDefault(&c.ReportInterval, time.Second)
	setDefault(&c.HeartbeatInterval, time.Second)
	setDefault(&c.SilenceTimeout, 5*time.Second)
	setDefault(&c.StopTimeout, 10*time.Second)
	setDefault(&c.RetryMin, 250*time.Millisecond)
	setDefault(&c.RetryMax, 5*time.Second)
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// errQuit ends Run without error: the master said quit.
var errQuit = errors.New("master said quit")

// Run serves the master until ctx ends or the master says quit.
func Run(ctx context.Context, cfg Config) error {
	return run(ctx, cfg, func(ctx context.Context) (link, error) {
		s, err := cluster.Dial(ctx, cfg.Master, cfg.Info, cfg.Token, cfg.DialOptions...)
		if err != nil {
			return nil, err
		}
		return grpcLink{s}, nil
	})
}

// run is Run with the dialling of the master given: each call of dial is one
// session.
func run(ctx context.Context, cfg Config, dial func(context.Context) (link, error)) error {
	cfg.defaults()
	log := cfg.Logger.With("worker_id", cfg.Info.ID)
	samples := make(chan telemetry.Sample, 1)
	if cfg.Sampler != nil {
		sctx, stopSampling := context.WithCancel(ctx)
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			sample(sctx, cfg.Sampler, cfg.HeartbeatInterval, samples)
		}()
		defer func() {
			stopSampling()
			<-sampled
		}()
	}
	backoff := cfg.RetryMin
	var pending *cluster.Report  // what an aborted run measured and no master heard yet
	var unacked []cluster.Report // sent, but no master said it received them
	for {
		s, err := dial(ctx)
		if err == nil {
			log.Info("connected to master", "master", cfg.Master)
			backoff = cfg.RetryMin
			if cfg.OnConnection != nil {
				cfg.OnConnection(true)
			}
			ss := &session{cfg: cfg, log: log, s: s, samples: samples, pending: pending, resend: unacked,
				origin: newOrigin()}
			err = ss.serve(ctx)
			pending, unacked = ss.pending, ss.unacked
			s.Close()
			if cfg.OnConnection != nil {
				cfg.OnConnection(false)
			}
			if errors.Is(err, errQuit) {
				log.Info("master said quit")
				return nil
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		switch status.Code(err) {
		case codes.Unauthenticated, codes.PermissionDenied, codes.InvalidArgument:
			return fmt.Errorf("the master refused this worker: %w", err) // retrying cannot help
		}
		log.Warn("no master; retrying", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-cfg.Drain:
			t.Stop()
			return nil // draining with no master: nothing to hand over
		case <-t.C:
		}
		backoff = min(2*backoff, cfg.RetryMax)
	}
}

// session is one connection to the master.
type session struct {
	cfg     Config
	log     *slog.Logger
	s       link
	run     *activeRun
	samples <-chan telemetry.Sample
	drained bool   // the master was told this worker is leaving
	seq     uint64 // the last report's number: reports count from 1 in every session
	// pending is what the users of a run aborted without its final report (the
	// master went silent) measured after the last report; the next session sends it
	// first, so a healed partition loses nothing.
	pending *cluster.Report
	// origin names this session's report numbers. unacked holds the reports sent and
	// not yet acknowledged by the master's heartbeat, oldest first; resend, those of
	// the previous session, sent again first with their own origin and number, so
	// the master counts each once whether or not it had received it.
	origin  string
	unacked []cluster.Report
	resend  []cluster.Report

	done     chan struct{}  // closed when serve is on its way out
	stoppers sync.WaitGroup // graceful stoppers, waited for by serve
}

// activeRun is the run this worker takes part in.
type activeRun struct {
	id          string
	planVersion uint64
	collector   *aggregate.Collector
	runner      *userbehavior.Runner
	cancelUsers context.CancelFunc // hard stop of every user
	pacer       *pacer             // closed model: moves the users toward the plan
	open        *openRun           // open model (arrival rate), instead of pacer
	stopping    bool
	stopRun     atomic.Pointer[string] // a user's stop_run(reason), the first; sent with every later report
	// While stopping: when the users' time to finish is over, and the timer that
	// cuts them then (read and reset by serve's goroutine only).
	deadline time.Time
	cut      *time.Timer
}

// openRun is an open-model run's pool of users and the loop that feeds it.
type openRun struct {
	pool *userbehavior.Arrivals
	loop *arrivalLoop
	prep chan struct{} // closed when the pool's preparation in progress is done
}

// counts returns the run's users per class.
func (r *activeRun) counts() map[string]int {
	if r.open != nil {
		return r.open.pool.Counts()
	}
	return r.runner.Counts()
}

// halt stops starting work: the pacer, or the arrival loop.
func (r *activeRun) halt() {
	if r.open != nil {
		r.open.loop.stop()
		return
	}
	r.pacer.stop()
}

// stopUsers ends the users, waiting until ctx ends, then aborting them.
func (r *activeRun) stopUsers(ctx context.Context) {
	if r.open != nil {
		// Stop also ends a preparation in progress: Prepare makes no user once the
		// pool is stopped, and Stop waits for the one being made.
		r.open.pool.Stop(ctx)
		return
	}
	r.runner.StopAll(ctx)
}

type received struct {
	cmd cluster.Command
	err error
}

func (ss *session) serve(ctx context.Context) error {
	cmds := make(chan received, 16)
	rctx, cancel := context.WithCancel(ctx)
	// The brake: users run under uctx, which a watchdog cancels when nothing has come
	// from the master for SilenceTimeout. It runs on its own timer, reset by the
	// reader, so a send blocked on a dead network cannot hold it back.
	uctx, brake := context.WithCancel(ctx)
	defer brake()
	var silent atomic.Bool
	watchdog := time.AfterFunc(ss.cfg.SilenceTimeout, func() {
		silent.Store(true)
		brake()
		ss.s.Close() // unblocks a send stuck on flow control
	})
	defer watchdog.Stop()
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			c, err := ss.s.Recv()
			if err == nil {
				watchdog.Reset(ss.cfg.SilenceTimeout)
			}
			select {
			case cmds <- received{c, err}:
			case <-rctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	stopped := make(chan *activeRun, 1)
	ss.done = make(chan struct{})
	defer func() {
		ss.kill() // also makes a stopper of the active run finish at once
		close(ss.done)
		ss.stoppers.Wait()
		cancel()
		ss.s.Close() // unblocks the reader
		<-readerDone
	}()

	if err := ss.sendAgain(); err != nil {
		return err
	}
	if err := ss.sendPending(); err != nil {
		return err
	}
	report := time.NewTicker(ss.cfg.ReportInterval)
	defer report.Stop()
	heartbeat := time.NewTicker(ss.cfg.HeartbeatInterval)
	defer heartbeat.Stop()
	for {
		select {
		case <-uctx.Done():
			if silent.Load() {
				return fmt.Errorf("nothing heard from the master for %v: stopped all users", ss.cfg.SilenceTimeout)
			}
			return ctx.Err()
		case r := <-cmds:
			if silent.Load() {
				return fmt.Errorf("nothing heard from the master for %v: stopped all users", ss.cfg.SilenceTimeout)
			}
			if r.err != nil {
				return fmt.Errorf("stream from master: %w", r.err)
			}
			if err := ss.handle(uctx, r.cmd, stopped); err != nil {
				return err
			}
		case <-report.C:
			if ss.run != nil {
				if err := ss.report(false); err != nil {
					return err
				}
			}
		case <-heartbeat.C:
			if err := ss.s.Send(toMaster{heartbeat: new(ss.users())}); err != nil {
				return fmt.Errorf("heartbeat to master: %w", err)
			}
		case <-ss.drainSignal():
			ss.drained = true
			if err := ss.s.Send(toMaster{goodbye: "shutting down (SIGTERM)"}); err != nil {
				return fmt.Errorf("goodbye to master: %w", err)
			}
			if ss.run == nil {
				return errQuit
			}
		case t := <-ss.samples:
			if err := ss.s.Send(toMaster{telemetry: &t}); err != nil {
				return fmt.Errorf("telemetry to master: %w", err)
			}
		case r := <-stopped:
			if r != ss.run {
				continue
			}
			err := ss.report(true)
			ss.run = nil
			r.cancelUsers()
			if err != nil {
				return err
			}
			if ss.drained {
				return ss.leave(cmds) // drained: leave once the final report is in
			}
		}
	}
}

// leave half-closes the stream and waits (a few seconds at most) for the master to
// end it, so the last report is not cut off in flight by closing the connection.
func (ss *session) leave(cmds <-chan received) error {
	if err := ss.s.Send(toMaster{}); err != nil {
		return errQuit
	}
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case r := <-cmds:
			if r.err != nil {
				return errQuit
			}
		case <-t.C:
			return errQuit
		}
	}
}

// drainSignal is the Drain channel until the worker has said goodbye, then nil.
func (ss *session) drainSignal() <-chan struct{} {
	if ss.drained {
		return nil
	}
	return ss.cfg.Drain
}

func (ss *session) users() int {
	if ss.run == nil {
		return 0
	}
	n := 0
	for _, v := range ss.run.counts() {
		n += v
	}
	return n
}

func (ss *session) handle(ctx context.Context, c cluster.Command, stopped chan<- *activeRun) error {
	switch c.Kind {
	case cluster.CommandHeartbeat:
		if c.AckOrigin != "" {
			ss.acked(c.AckOrigin, c.AckSeq)
		}
		return nil
	case cluster.CommandQuit:
		return errQuit
	case cluster.CommandStart:
		if ss.cfg.Info.Role == cluster.RoleAgent {
			return ss.s.Send(toMaster{report: &cluster.Report{RunID: c.RunID, Final: true, Fatal: "an agent runs no users",
				Snapshot: aggregate.NewSnapshot(time.Now()), Users: map[string]int{}}})
		}
		return ss.start(ctx, c)
	case cluster.CommandStop:
		if ss.run == nil || ss.run.id != c.RunID {
			// Nothing of that run here: say so, so the master does not wait for us.
			now := time.Now()
			snap := aggregate.NewSnapshot(now)
			snap.End = now // the zero time does not survive the wire (UnixNano)
			return ss.s.Send(toMaster{report: &cluster.Report{RunID: c.RunID, Final: true,
				Snapshot: snap, Users: map[string]int{}}})
		}
		timeout := ss.cfg.StopTimeout
		if c.StopTimeout != nil {
			timeout = *c.StopTimeout
		}
		ss.stop(stopped, timeout)
	}
	return nil
}

func (ss *session) resolve(c cluster.Command) ([]*userbehavior.Class, error) {
	if ss.cfg.Resolve != nil {
		return ss.cfg.Resolve(c.Scenario, c.WorkerIndex, c.WorkerCount)
	}
	return c.Scenario.Classes(ss.cfg.Builtins)
}

func (ss *session) start(ctx context.Context, c cluster.Command) error {
	if ss.run != nil && ss.run.id != c.RunID {
		ss.log.Warn("new run while another is active: aborting the old one", "run_id", ss.run.id, "new_run_id", c.RunID)
		ss.kill()
		if err := ss.sendPending(); err != nil {
			return err
		}
	}
	if ss.run == nil {
		classes, err := ss.resolve(c)
		if err != nil {
			// The master aborts the run on this; the worker stays available.
			ss.log.Error("cannot run the scenario", "run_id", c.RunID, "err", err)
			return ss.s.Send(toMaster{report: &cluster.Report{RunID: c.RunID, Final: true, Fatal: err.Error(),
				Snapshot: aggregate.NewSnapshot(time.Now()), Users: map[string]int{}}})
		}
		col := aggregate.NewCollector(time.Now())
		run := &activeRun{id: c.RunID, collector: col}
		runner, err := userbehavior.NewRunner(userbehavior.RunnerConfig{Classes: classes, Host: c.Scenario.Host, Collector: col,
			HTTP: c.Scenario.HTTP.Apply(ss.cfg.HTTP), MaxMemory: ss.cfg.MaxMemory,
			Run:     userbehavior.RunInfo{ID: c.RunID, WorkerIndex: c.WorkerIndex, WorkerCount: c.WorkerCount},
			StopRun: func(reason string) { run.stopRun.CompareAndSwap(nil, &reason) }})
		if err != nil {
			return fmt.Errorf("run %s: %w", c.RunID, err)
		}
		uctx, cancel := context.WithCancel(ctx) // users end with the run, or with the agent
		run.runner, run.cancelUsers = runner, cancel
		ss.run = run
		ss.log.Info("run started", "run_id", c.RunID, "open_model", c.Arrival != nil)
		ss.run.planVersion = c.PlanVersion
		if c.Arrival != nil {
			ss.run.open = ss.startOpen(uctx, runner, c)
			return nil
		}
		ss.run.pacer = startPacer(uctx, runner, ss.knownUsers(c.RunID, runner, c.Users), c.SpawnRate)
		return nil
	}
	r := ss.run
	if r.stopping || c.PlanVersion < r.planVersion {
		return nil
	}
	r.planVersion = c.PlanVersion
	if r.open != nil {
		if c.Arrival != nil {
			r.open.loop.update(c.Arrival)
			r.open.pool.SetLimit(c.Arrival.MaxUsers)
			ss.prepare(r.open, ss.knownUsers(c.RunID, r.runner, c.Users))
		}
		return nil
	}
	r.pacer.stop()
	uctx := r.pacer.ctx
	r.pacer = startPacer(uctx, r.runner, ss.knownUsers(c.RunID, r.runner, c.Users), c.SpawnRate)
	return nil
}

// startOpen begins an open-model run: the pool is prepared in the background while
// the arrival loop already runs (an iteration finding no idle user grows the pool).
func (ss *session) startOpen(uctx context.Context, runner *userbehavior.Runner, c cluster.Command) *openRun {
	o := &openRun{pool: runner.NewArrivals(uctx, c.Arrival.MaxUsers), prep: make(chan struct{})}
	close(o.prep)
	o.loop = newArrivalLoop(realClock{}, c.Arrival, arrivalDue(c.Arrival), o.pool.Iterate, o.pool.CountLate)
	ss.prepare(o, ss.knownUsers(c.RunID, runner, c.Users))
	o.loop.start(uctx)
	return o
}

// prepare grows the pool to the plan's users per class, in the background, after any
// preparation still in progress.
func (ss *session) prepare(o *openRun, users map[string]int) {
	prev, done := o.prep, make(chan struct{})
	o.prep = done
	go func() {
		defer close(done)
		<-prev
		for _, class := range slices.Sorted(maps.Keys(users)) {
			if err := o.pool.Prepare(class, users[class]); err != nil {
				ss.log.Warn("cannot prepare users", "class", class, "err", err)
			}
		}
	}()
}

// arrivalDue is the plan's due time of iteration k.
func arrivalDue(a *cluster.Arrival) func(int64) (time.Duration, bool) {
	return a.Stages.Due
}

// knownUsers drops from target the classes the run's scenario does not have, with a
// warning (a master and a worker of different builds): they cannot be spawned, and
// pacing must not stall on them.
func (ss *session) knownUsers(runID string, runner *userbehavior.Runner, target map[string]int) map[string]int {
	have := runner.Counts() // every class of the runner
	var unknown []string
	for class := range target {
		if _, ok := have[class]; !ok {
			unknown = append(unknown, class)
		}
	}
	if len(unknown) == 0 {
		return target
	}
	slices.Sort(unknown)
	ss.log.Warn("plan names user classes the scenario lacks: not spawned", "run_id", runID, "classes", unknown)
	known := maps.Clone(target)
	for _, class := range unknown {
		delete(known, class)
	}
	return known
}

// stop ends the run in the background: no user starts, and the users have timeout to
// finish their current task (0: none, they are cut at once, sleeps and requests in
// flight included); the final report follows on stopped. A second stop with a
// shorter timeout (an abort after a graceful stop) cuts them sooner.
func (ss *session) stop(stopped chan<- *activeRun, timeout time.Duration) {
	r := ss.run
	if r.stopping {
		if r.cut != nil && timeout < time.Until(r.deadline) {
			r.deadline = time.Now().Add(timeout)
			r.cut.Reset(max(timeout, 0))
		}
		return
	}
	r.stopping = true
	r.halt()
	done := ss.done
	ctx, cancel := context.WithCancel(context.Background())
	r.deadline = time.Now().Add(timeout)
	r.cut = time.AfterFunc(max(timeout, 0), cancel)
	ss.stoppers.Add(1)
	go func() {
		defer ss.stoppers.Done()
		defer cancel()
		defer r.cut.Stop()
		r.stopUsers(ctx)
		select {
		case stopped <- r:
		case <-done: // serve is gone (and stopped may hold an older run's)
		}
	}()
}

// kill aborts the active run at once: the brake when the master is gone.
func (ss *session) kill() {
	r := ss.run
	if r == nil {
		return
	}
	ss.run = nil
	r.halt()
	r.cancelUsers()
	if r.open != nil {
		r.stopUsers(context.Background()) // their context is cancelled: at once
	}
	r.runner.Kill()
	ss.log.Warn("run aborted: all users stopped", "run_id", r.id)
	// Every user has ended and flushed: what they measured since the last report
	// waits for the next session to send it.
	ss.keep(r.id, r.collector.Swap(time.Now()))
}

// keep holds what a run measured and no master has been sent, for the next session.
func (ss *session) keep(runID string, snap *aggregate.Snapshot) {
	if snap.Total().Requests == 0 && len(snap.Counters) == 0 && len(snap.Exceptions) == 0 {
		return
	}
	if p := ss.pending; p != nil && p.RunID == runID {
		p.Snapshot.Merge(snap)
		return
	}
	if p := ss.pending; p != nil {
		ss.log.Warn("unreported data of an older run dropped", "run_id", p.RunID, "requests", p.Snapshot.Total().Requests)
	}
	ss.pending = &cluster.Report{RunID: runID, Snapshot: snap, Users: map[string]int{}}
}

// sendPending sends what an aborted run left unreported, as this session's next
// report; the master counts it once if that run is still its own.
func (ss *session) sendPending() error {
	p := ss.pending
	if p == nil {
		return nil
	}
	ss.seq++
	p.Seq, p.Origin = ss.seq, ss.origin
	ss.pending = nil // from here it is an unacknowledged report like the others
	if err := ss.send(*p); err != nil {
		return fmt.Errorf("unreported data of run %s to master: %w", p.RunID, err)
	}
	ss.log.Info("sent what an aborted run measured after its last report", "run_id", p.RunID,
		"requests", p.Snapshot.Total().Requests)
	ss.pending = nil
	return nil
}

func (ss *session) report(final bool) error {
	r := ss.run
	ss.seq++
	rep := cluster.Report{RunID: r.id, Origin: ss.origin, Seq: ss.seq, PlanVersion: r.planVersion, Final: final,
		Snapshot: r.collector.Swap(time.Now()), Users: r.counts()}
	if reason := r.stopRun.Load(); reason != nil {
		rep.StopRun = *reason
	}
	if err := ss.send(rep); err != nil {
		return fmt.Errorf("report to master: %w", err) // kept unacknowledged: the next session sends it again
	}
	return nil
}

// maxUnacked bounds the reports a worker keeps for the master to acknowledge: a
// master that never does (an older version) must not make it hold every report.
const maxUnacked = 300

// newOrigin returns a fresh session id for report numbers.
func newOrigin() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// send sends a report and keeps it until the master acknowledges it. It is kept
// when the send fails too: it may or may not have left, and sent again with its own
// number it is counted once either way.
func (ss *session) send(r cluster.Report) error {
	err := ss.s.Send(toMaster{report: &r})
	if len(ss.unacked) == maxUnacked {
		old := ss.unacked[0]
		ss.log.Warn("report never acknowledged: no longer kept for sending again", "run_id", old.RunID, "seq", old.Seq)
		ss.unacked = ss.unacked[1:]
	}
	ss.unacked = append(ss.unacked, r)
	return err
}

// acked drops the reports up to the one the master says it received: the stream is
// ordered, so every report sent before it arrived too.
func (ss *session) acked(origin string, seq uint64) {
	for i, r := range ss.unacked {
		if r.Origin == origin && r.Seq == seq {
			ss.unacked = slices.Delete(ss.unacked, 0, i+1)
			return
		}
	}
}

// sendAgain sends the reports the previous session sent and the master never
// acknowledged (a stream cut in a partition): with their own origin and number, so
// the master counts those it had not received, and only those.
func (ss *session) sendAgain() error {
	again := ss.resend
	ss.resend = nil
	for i, r := range again {
		if err := ss.send(r); err != nil {
			ss.unacked = append(ss.unacked, again[i+1:]...) // not sent: the next session tries
			return fmt.Errorf("report %d of run %s again to master: %w", r.Seq, r.RunID, err)
		}
	}
	if len(again) > 0 {
		ss.log.Info("sent again the reports the master had not acknowledged", "reports", len(again))
	}
	return nil
}

// pacer moves a runner toward a target at a rate, in its own goroutine.
type pacer struct {
	ctx    context.Context // the users' context, handed on to the next pacer
	cancel context.CancelFunc
	done   chan struct{}
}

func startPacer(uctx context.Context, runner *userbehavior.Runner, target map[string]int, rate float64) *pacer {
	pctx, cancel := context.WithCancel(uctx)
	p := &pacer{ctx: uctx, cancel: cancel, done: make(chan struct{})}
	steps := scheduler.Steps(runner.Counts(), target)
	go func() {
		defer close(p.done)
		pace(pctx, uctx, runner, steps, rate)
	}()
	return p
}

func (p *pacer) stop() {
	p.cancel()
	<-p.done
}

// pace applies steps one every 1/rate seconds, the first at once. A late step is
// caught up so the rate holds on average. Once the runner refuses a user for want of
// a resource (userbehavior.CapError) the users to add are skipped; those to retire
// still go.
func pace(ctx, uctx context.Context, runner *userbehavior.Runner, steps []scheduler.Step, rate float64) {
	var every time.Duration
	if rate > 0 {
		every = time.Duration(float64(time.Second) / rate)
	}
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	capped := false
	for _, st := range steps {
		if capped && st.Delta > 0 {
			continue
		}
		if d := time.Until(next); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		if st.Delta > 0 {
			// Spawn fails for a class the runner lacks (the session filters those out)
			// and when the worker has no room for another user.
			err := runner.Spawn(uctx, st.Class)
			var capErr *userbehavior.CapError
			switch {
			case errors.As(err, &capErr):
				capped = true
				continue
			case err != nil:
				return
			}
		} else {
			runner.Retire(st.Class)
		}
		next = next.Add(every)
	}
}

// sample feeds out the latest telemetry sample every interval; an unread sample is
// replaced by the newer one.
func sample(ctx context.Context, s Sampler, every time.Duration, out chan telemetry.Sample) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			t := s.Sample(now)
			select {
			case <-out: // drop the stale one
			default:
			}
			out <- t
		}
	}
}
