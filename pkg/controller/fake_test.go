package controller_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/controller"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/store"
	"github.com/stampede-load/stampede/pkg/telemetry"
)

// The controller's logic is tested here against fakeCluster: the cluster edge in
// memory, with simulated workers, run inside a testing/synctest bubble. Every wait
// is on the bubble's clock, so "3 s of silence" takes no real time and no outcome
// depends on how busy the machine is. The gRPC edge itself (heartbeats, streams,
// retransmission) is tested in pkg/cluster and by the few end-to-end tests.

// fakeTick is how often a fake worker's users complete requests.
const fakeTick = 100 * time.Millisecond

// fakeCluster implements controller.Cluster with simulated workers.
type fakeCluster struct {
	events    chan cluster.Event
	closed    chan struct{}
	heartbeat time.Duration // a killed worker is reported gone this long after it died

	mu      sync.Mutex
	workers map[string]*fakeWorker
	wg      sync.WaitGroup
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{events: make(chan cluster.Event, 1024), closed: make(chan struct{}),
		heartbeat: 3 * time.Second, workers: map[string]*fakeWorker{}}
}

func (f *fakeCluster) Events() <-chan cluster.Event { return f.events }

// Send queues cmd for the worker; it never blocks the controller's loop.
func (f *fakeCluster) Send(id string, cmd cluster.Command) error {
	f.mu.Lock()
	w := f.workers[id]
	f.mu.Unlock()
	if w == nil {
		return fmt.Errorf("worker %s: not connected", id)
	}
	select {
	case <-w.dead:
		return fmt.Errorf("worker %s: stream closed", id)
	default:
	}
	select {
	case w.cmds <- cmd:
		return nil
	default:
		return fmt.Errorf("worker %s: command queue full", id)
	}
}

// emit hands an event to the controller, unless the cluster is closing.
func (f *fakeCluster) emit(ev cluster.Event) {
	ev.At = time.Now()
	select {
	case f.events <- ev:
	case <-f.closed:
	}
}

// fakeBehaviour is what a fake worker's users do: every fakeTick each running user
// completes PerTick requests taking Latency, every FailEvery-th of them failing
// (0: none fail).
type fakeBehaviour struct {
	PerTick   int
	Latency   time.Duration
	FailEvery int
	NoUsers   bool // its users never start (a Locust worker asked for a class it lacks)
	// ReportEvery is how often it reports; default 1 s (a Locust worker: 3 s).
	ReportEvery time.Duration
}

// add connects a simulated worker and returns it.
func (f *fakeCluster) add(id string, b fakeBehaviour) *fakeWorker {
	if b.PerTick == 0 {
		b.PerTick = 1
	}
	if b.Latency == 0 {
		b.Latency = 10 * time.Millisecond
	}
	w := &fakeWorker{id: id, f: f, b: b, cmds: make(chan cluster.Command, 256), dead: make(chan struct{}),
		info: cluster.WorkerInfo{ID: id, Hostname: "host-" + id, Cores: 2}}
	f.mu.Lock()
	f.workers[id] = w
	// Workers' report clocks are not in step with the master's, nor each other's.
	w.phase = 310*time.Millisecond + time.Duration(len(f.workers))*170*time.Millisecond
	f.mu.Unlock()
	f.emit(cluster.Event{Kind: cluster.EventJoined, Worker: w.info})
	f.wg.Go(w.loop)
	return w
}

// close stops every worker; call it before the bubble ends.
func (f *fakeCluster) close() {
	close(f.closed)
	f.wg.Wait()
}

// fakeWorker is one simulated worker: it plans its users as the master says,
// spawns them at the spawn rate, records what they do, and reports every second
// with its session's sequence numbers, as pkg/agent does.
type fakeWorker struct {
	id    string
	f     *fakeCluster
	b     fakeBehaviour
	info  cluster.WorkerInfo
	cmds  chan cluster.Command
	dead  chan struct{} // closed when the worker dies (kill)
	phase time.Duration // its reports come this long after whole seconds of the bubble's clock
	once  sync.Once

	mu       sync.Mutex
	silent   bool                // measuring but not reporting (a stalled stream)
	measured map[string]uint64   // run -> requests its users completed: the truth
	failed   map[string]uint64   // run -> failures among them
	reported map[string]uint64   // run -> requests sent in reports so far
	starts   []cluster.Command   // every Start received, in order
	stops    []cluster.Command   // every Stop received, in order
	peak     map[string]int      // run -> most users running at once
	spawned  map[string][]string // run -> class of each user spawned, in order
}

// kill ends the worker at once, as kill -9 would; the cluster notices after its
// heartbeat timeout.
func (w *fakeWorker) kill() {
	w.once.Do(func() {
		close(w.dead)
		time.AfterFunc(w.f.heartbeat, func() {
			w.f.emit(cluster.Event{Kind: cluster.EventLeft, Worker: w.info, Reason: "no heartbeat for " + w.f.heartbeat.String()})
		})
	})
}

// setSilent stops (or resumes) the worker's reports; it keeps measuring, and the
// next report carries everything measured meanwhile.
func (w *fakeWorker) setSilent(on bool) {
	w.mu.Lock()
	w.silent = on
	w.mu.Unlock()
}

// truth is what the worker's users did in a run: requests and failures.
func (w *fakeWorker) truth(runID string) (requests, failures uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.measured[runID], w.failed[runID]
}

// reportedSoFar is how many of a run's requests the worker has reported.
func (w *fakeWorker) reportedSoFar(runID string) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reported[runID]
}

func (w *fakeWorker) startsSeen() []cluster.Command {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.starts)
}

func (w *fakeWorker) stopsSeen() []cluster.Command {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.stops)
}

func (w *fakeWorker) peakUsers(runID string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak[runID]
}

func (w *fakeWorker) spawnedClasses(runID string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.spawned[runID])
}

// fakeRun is a worker's part of one run.
type fakeRun struct {
	id      string
	target  map[string]int
	users   map[string]int
	rate    float64
	credit  float64 // users it may spawn now
	snap    *aggregate.Snapshot
	stopped bool
	// Stopping: its users go on until then (the stop's timeout), and finish fires.
	finishAt time.Time
	finish   *time.Timer
}

func (w *fakeWorker) loop() {
	tick := time.NewTicker(fakeTick)
	defer tick.Stop()
	report := time.NewTicker(w.phase)
	defer report.Stop()
	phased := false
	var seq uint64
	origin := "session-" + w.id
	var r *fakeRun
	var finish <-chan time.Time // the stopping run's users are done
	send := func(final bool) {
		now := time.Now()
		snap := r.snap
		snap.End = now
		r.snap = aggregate.NewSnapshot(now)
		seq++
		w.mu.Lock()
		if w.reported == nil {
			w.reported = map[string]uint64{}
		}
		w.reported[r.id] += snap.Total().Requests
		w.mu.Unlock()
		w.f.emit(cluster.Event{Kind: cluster.EventReport, Worker: w.info, Report: &cluster.Report{
			RunID: r.id, Origin: origin, Seq: seq, Snapshot: snap, Users: maps.Clone(r.users), Final: final}})
	}
	for {
		select {
		case <-w.f.closed:
			return
		case <-w.dead:
			return
		case cmd := <-w.cmds:
			switch cmd.Kind {
			case cluster.CommandStart:
				if r == nil || r.id != cmd.RunID {
					r = &fakeRun{id: cmd.RunID, users: map[string]int{}, snap: aggregate.NewSnapshot(time.Now())}
				}
				r.target, r.rate, r.stopped = maps.Clone(cmd.Users), cmd.SpawnRate, false
				w.mu.Lock()
				w.starts = append(w.starts, cmd)
				w.mu.Unlock()
			case cluster.CommandStop:
				w.mu.Lock()
				w.stops = append(w.stops, cmd)
				w.mu.Unlock()
				if r == nil || r.id != cmd.RunID || r.stopped {
					break
				}
				// The users finish their task within the stop's timeout: here they
				// go on until it is over (nil, as 0: at once).
				var timeout time.Duration
				if cmd.StopTimeout != nil {
					timeout = *cmd.StopTimeout
				}
				if timeout > 0 && (r.finish == nil || time.Now().Add(timeout).Before(r.finishAt)) {
					if r.finish == nil {
						r.finish = time.NewTimer(timeout)
						finish = r.finish.C
					} else {
						r.finish.Reset(timeout)
					}
					r.finishAt = time.Now().Add(timeout)
					break
				}
				if timeout > 0 {
					break
				}
				r.stopped, r.users = true, map[string]int{}
				send(true)
			case cluster.CommandQuit:
				w.kill()
				return
			}
		case <-finish:
			finish = nil
			if r != nil && !r.stopped {
				r.stopped, r.users = true, map[string]int{}
				send(true)
			}
		case <-tick.C:
			if r != nil && !r.stopped {
				w.step(r)
			}
		case <-report.C:
			if !phased {
				phased = true
				report.Reset(cmp.Or(w.b.ReportEvery, time.Second))
			}
			w.mu.Lock()
			silent := w.silent
			w.mu.Unlock()
			if r != nil && !r.stopped && !silent {
				send(false)
			}
		}
	}
}

// step spawns or stops users towards the target and records one tick of requests.
func (w *fakeWorker) step(r *fakeRun) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range slices.Sorted(maps.Keys(r.users)) {
		r.users[c] = min(r.users[c], r.target[c]) // fewer users: stopped at once
	}
	r.credit += r.rate * fakeTick.Seconds()
	for r.credit >= 1 && !w.b.NoUsers {
		class, deficit := "", 0
		for _, c := range slices.Sorted(maps.Keys(r.target)) {
			if d := r.target[c] - r.users[c]; d > deficit {
				class, deficit = c, d
			}
		}
		if class == "" {
			r.credit = min(r.credit, 1)
			break
		}
		r.users[class]++
		r.credit--
		if w.spawned == nil {
			w.spawned = map[string][]string{}
		}
		w.spawned[r.id] = append(w.spawned[r.id], class)
	}
	n := 0
	for _, u := range r.users {
		n += u
	}
	if w.peak == nil {
		w.peak, w.measured, w.failed = map[string]int{}, map[string]uint64{}, map[string]uint64{}
	}
	w.peak[r.id] = max(w.peak[r.id], n)
	ep := aggregate.Endpoint{Method: "GET", Name: "/"}
	st := r.snap.Endpoints[ep]
	if st == nil {
		st = aggregate.NewStats()
		r.snap.Endpoints[ep] = st
	}
	for range n * w.b.PerTick {
		w.measured[r.id]++
		st.Requests++
		st.TotalTime += w.b.Latency
		st.Latency.Record(w.b.Latency)
		if w.b.FailEvery > 0 && w.measured[r.id]%uint64(w.b.FailEvery) == 0 {
			w.failed[r.id]++
			st.Failures++
			r.snap.AddError(aggregate.ErrorKey{Endpoint: ep, Message: "HTTP 500"}, 1)
		}
	}
}

// telemetry sends a sample from the worker, as its agent does every second.
func (w *fakeWorker) telemetry(cpu float64) {
	w.f.emit(cluster.Event{Kind: cluster.EventTelemetry, Worker: w.info,
		Telemetry: &telemetry.Sample{Host: telemetry.HostSample{CPUPercent: cpu}}})
}

// fakeRig is a controller over a fakeCluster and a store on a temp dir, serving
// until the test ends. Create it inside a synctest bubble.
type fakeRig struct {
	t   *testing.T
	f   *fakeCluster
	db  *store.DB
	ctl *controller.Controller
}

func newFakeRig(t *testing.T, opts controller.Options) *fakeRig {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "runs.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeCluster()
	rig := &fakeRig{t: t, f: f, db: db, ctl: controller.New(f, db, opts)}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- rig.ctl.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serve: %v", err)
		}
		f.close()
		db.Close()
	})
	return rig
}

// start begins a run and returns its done channel.
func (rig *fakeRig) start(cfg controller.Config) <-chan struct{} {
	rig.t.Helper()
	done, err := rig.ctl.Start(context.Background(), cfg)
	if err != nil {
		rig.t.Fatal(err)
	}
	return done
}

// outcome waits for the run to end and returns how.
func (rig *fakeRig) outcome(done <-chan struct{}) controller.Result {
	rig.t.Helper()
	<-done
	res, err := rig.ctl.Outcome(done)
	if err != nil {
		rig.t.Fatal(err)
	}
	return res
}

// events returns the kinds of a run's stored events, in order.
func (rig *fakeRig) events(runID string) []store.Event {
	rig.t.Helper()
	evs, err := rig.db.Events(runID)
	if err != nil {
		rig.t.Fatal(err)
	}
	return evs
}

// loadView reads a stored run as the dashboard shows it.
func loadView(t *testing.T, db *store.DB, id string) (*report.RunView, error) {
	t.Helper()
	d, err := db.LoadRun(id)
	if err != nil {
		return nil, err
	}
	return report.View(d)
}
