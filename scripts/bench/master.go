package main

// Master capacity: the real master pieces (cluster.Server over gRPC on 127.0.0.1,
// controller, store) in a process of their own, so that its CPU is the master's
// alone, driven by simulated workers in this process. A simulated worker is a real
// gRPC client (cluster.Dial) that answers the master's commands as pkg/agent does
// and sends, every second, a heartbeat, a telemetry sample and a report whose
// snapshot holds 50 endpoints of log-normal latencies, encoded afresh for every send.
//
// What it checks and prints:
//   - master CPU over the run (getrusage of the master process) in cores;
//   - every report arrives: the master counts the reports its controller took, the
//     workers count what they sent, and the stored run's final snapshot must equal,
//     endpoint by endpoint, what the workers sent (requests, failures, bytes, total
//     time, histogram counts) — exactly;
//   - delay of each report: from the moment the worker closed its interval
//     (Snapshot.End) to the moment the controller took it off the event channel;
//   - dashboard/terminal lag: sampled every 100 ms, now minus the end of the newest
//     report already merged into the published report.Live view.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/controller"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/store"
	"github.com/stampede-load/stampede/pkg/telemetry"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// masterResult is what the master process measured; it prints it as one JSON line.
type masterResult struct {
	RunID        string  `json:"run_id"`
	Status       string  `json:"status"`
	Reason       string  `json:"reason"`
	Workers      int     `json:"workers"`
	WallS        float64 `json:"wall_s"`     // from the run's start to its end
	CPUS         float64 `json:"cpu_s"`      // master process CPU (user+sys) over WallS
	JoinCPUS     float64 `json:"join_cpu_s"` // CPU while the workers connected, before the run
	MaxRSSMiB    float64 `json:"max_rss_mib"`
	Reports      int     `json:"reports"` // reports of this run the controller took
	Late         int     `json:"late"`    // of them, delayed more than one interval
	DelayP50Ms   float64 `json:"delay_p50_ms"`
	DelayP99Ms   float64 `json:"delay_p99_ms"`
	DelayMaxMs   float64 `json:"delay_max_ms"`
	LagSamples   int     `json:"lag_samples"`
	LagP50Ms     float64 `json:"lag_p50_ms"`
	LagP99Ms     float64 `json:"lag_p99_ms"`
	LagMaxMs     float64 `json:"lag_max_ms"`
	StallMaxMs   float64 `json:"stall_max_ms"` // the longest an event waited for the controller
	StallAtS     float64 `json:"stall_at_s"`   // when, seconds since the run began
	Intervals    int     `json:"intervals"`    // stored
	IntervalsSum bool    `json:"intervals_sum_to_final"`
}

// relay hands the server's events to the controller and notes, for every report,
// when the controller took it: it observes the real server, it does not replace it.
type relay struct {
	srv *cluster.Server
	out chan cluster.Event

	mu      sync.Mutex
	taken   []handoff // in order of handoff
	delays  []time.Duration
	reports int
	stall   time.Duration // the longest the controller let an event wait
	stallAt time.Time
}

type handoff struct {
	at     time.Time // when the controller took the report
	newest time.Time // the latest Snapshot.End handed over so far
}

func (r *relay) Events() <-chan cluster.Event              { return r.out }
func (r *relay) Send(id string, cmd cluster.Command) error { return r.srv.Send(id, cmd) }
func (r *relay) forward(ctx context.Context, interval time.Duration) {
	for {
		var ev cluster.Event
		select {
		case <-ctx.Done():
			return
		case ev = <-r.srv.Events():
		}
		offered := time.Now()
		select {
		case <-ctx.Done():
			return
		case r.out <- ev:
		}
		if wait := time.Since(offered); wait > r.stall {
			r.mu.Lock()
			r.stall, r.stallAt = wait, offered
			r.mu.Unlock()
		}
		if ev.Kind != cluster.EventReport || ev.Report.Snapshot == nil {
			continue
		}
		now := time.Now()
		end := ev.Report.Snapshot.End
		r.mu.Lock()
		r.reports++
		r.delays = append(r.delays, now.Sub(end))
		newest := end
		if n := len(r.taken); n > 0 && r.taken[n-1].newest.After(newest) {
			newest = r.taken[n-1].newest
		}
		r.taken = append(r.taken, handoff{at: now, newest: newest})
		r.mu.Unlock()
	}
}

// newestBefore is the end of the newest report the controller took at or before t:
// a Live view published at t holds it (the loop merges before it publishes).
func (r *relay) newestBefore(t time.Time) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, _ := slices.BinarySearchFunc(r.taken, t, func(h handoff, t time.Time) int {
		if h.at.After(t) {
			return 1
		}
		return -1
	})
	if i == 0 {
		return time.Time{}, false
	}
	return r.taken[i-1].newest, true
}

// masterSide is the measured master process: it listens, prints LISTEN addr, runs
// one run over -workers simulated workers for -duration and prints RESULT json.
func masterSide(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("master-side", flag.ContinueOnError)
	workers := fs.Int("workers", 1000, "workers to wait for")
	duration := fs.Duration("duration", time.Minute, "run time")
	dir := fs.String("dir", "", "directory of the store")
	profile := fs.String("cpuprofile", "", "write the master's CPU profile here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	db, err := store.Open(filepath.Join(*dir, "runs.db"), store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := cluster.NewServer(cluster.ServerConfig{Version: "bench", MaxWorkers: *workers, Logger: log})
	// The options of cmd/master's listener.
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(64<<20),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 5 * time.Second, Timeout: 3 * time.Second}),
		grpc.MaxConcurrentStreams(16))
	defer serveCluster(srv, gs, lis)()

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rl := &relay{srv: srv, out: make(chan cluster.Event)}
	relayed := make(chan struct{})
	go func() {
		defer close(relayed)
		rl.forward(rctx, time.Second)
	}()
	defer func() {
		cancel()
		<-relayed
	}()
	ctl := controller.New(rl, db, controller.Options{Logger: log})

	// Lag sampler and CPU at the run's start: the controller's Live view says when it began.
	var lags []time.Duration
	var began time.Time
	var cpuAtStart time.Duration
	type cpuSample struct {
		at  time.Time
		cpu time.Duration
	}
	cpus := []cpuSample{{time.Now(), cpuTime()}}
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case now := <-t.C:
				cpus = append(cpus, cpuSample{now, cpuTime()})
				l := ctl.Live()
				if l.State != report.StateRunning {
					continue
				}
				if began.IsZero() {
					// The view shows the run a publish after it began: the window
					// starts at the last reading before the run did.
					began, cpuAtStart = cpus[0].at, cpus[0].cpu
					for _, c := range cpus {
						if c.at.After(l.StartedAt) {
							break
						}
						began, cpuAtStart = c.at, c.cpu
					}
				}
				// Reports start a second after the run; the lag is measured once they flow.
				if now.Sub(l.StartedAt) < 2*time.Second {
					continue
				}
				if newest, ok := rl.newestBefore(l.UpdatedAt); ok {
					lags = append(lags, now.Sub(newest))
				}
			}
		}
	}()
	fmt.Fprintf(stdout, "LISTEN %s\n", lis.Addr())
	res, err := ctl.Run(ctx, controller.Config{
		Scenario:      userbehavior.Scenario{Builtin: "simulated"},
		Classes:       []scheduler.Class{{Name: "Sim", Weight: 1}},
		Users:         *workers,
		SpawnRate:     float64(*workers),
		RunTime:       *duration,
		ExpectWorkers: *workers,
		ExpectWait:    3 * time.Minute,
		Progress:      io.Discard, // the terminal's progress lines are part of the work
		QuitWorkers:   true,
	})
	end := time.Now()
	cpuAtEnd := cpuTime()
	cancel()
	<-sampled
	<-relayed
	// Nobody reads the events now: drop them, so that no stream stalls on them
	// while the workers leave.
	drained := make(chan struct{})
	defer close(drained)
	go func() {
		for {
			select {
			case <-srv.Events():
			case <-drained:
				return
			}
		}
	}()
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	out := masterResult{RunID: res.Run.ID, Status: string(res.Run.Status), Reason: res.Run.Reason, Workers: *workers,
		WallS: end.Sub(began).Seconds(), CPUS: (cpuAtEnd - cpuAtStart).Seconds(), JoinCPUS: cpuAtStart.Seconds(),
		MaxRSSMiB: maxRSSMiB()}
	rl.mu.Lock()
	out.Reports = len(rl.delays)
	for _, d := range rl.delays {
		if d > time.Second {
			out.Late++
		}
	}
	out.DelayP50Ms, out.DelayP99Ms, out.DelayMaxMs = quantilesMs(rl.delays)
	out.StallMaxMs, out.StallAtS = float64(rl.stall)/float64(time.Millisecond), rl.stallAt.Sub(res.Run.StartedAt).Seconds()
	rl.mu.Unlock()
	out.LagSamples = len(lags)
	out.LagP50Ms, out.LagP99Ms, out.LagMaxMs = quantilesMs(lags)

	ivs, err := db.Intervals(res.Run.ID)
	if err != nil {
		return err
	}
	out.Intervals = len(ivs)
	sum := aggregate.NewSnapshot(time.Time{})
	for _, iv := range ivs {
		sum.Merge(iv.Snapshot)
	}
	final, err := db.Final(res.Run.ID)
	if err != nil {
		return err
	}
	out.IntervalsSum = sameCounts(sum, final) == nil
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "RESULT %s\n", b)
	return nil
}

// cpuTime is the CPU (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func maxRSSMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // KiB on Linux
}

// quantilesMs is the median, 99th percentile and maximum of ds in milliseconds.
func quantilesMs(ds []time.Duration) (p50, p99, maxMs float64) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := min(len(s)-1, int(math.Ceil(q*float64(len(s))))-1)
		return float64(s[max(0, i)]) / float64(time.Millisecond)
	}
	return at(0.50), at(0.99), float64(s[len(s)-1]) / float64(time.Millisecond)
}

// sameCounts says how two snapshots differ in what a worker counts: per endpoint
// requests, failures, bytes, total time and latency histogram; errors by key.
func sameCounts(got, want *aggregate.Snapshot) error {
	var errs []error
	for ep, w := range want.Endpoints {
		g := got.Endpoints[ep]
		if g == nil {
			errs = append(errs, fmt.Errorf("%s %s: missing", ep.Method, ep.Name))
			continue
		}
		if g.Requests != w.Requests || g.Failures != w.Failures || g.Bytes != w.Bytes || g.TotalTime != w.TotalTime {
			errs = append(errs, fmt.Errorf("%s %s: requests/failures/bytes/time %d/%d/%d/%v, want %d/%d/%d/%v", ep.Method, ep.Name,
				g.Requests, g.Failures, g.Bytes, g.TotalTime, w.Requests, w.Failures, w.Bytes, w.TotalTime))
		}
		if !g.Latency.Equal(w.Latency) {
			errs = append(errs, fmt.Errorf("%s %s: latency histogram differs (%d vs %d samples)", ep.Method, ep.Name,
				g.Latency.Count(), w.Latency.Count()))
		}
	}
	if len(got.Endpoints) != len(want.Endpoints) {
		errs = append(errs, fmt.Errorf("%d endpoints, want %d", len(got.Endpoints), len(want.Endpoints)))
	}
	for k, n := range want.Errors {
		if got.Errors[k] != n {
			errs = append(errs, fmt.Errorf("error %q on %s: %d, want %d", k.Message, k.Name, got.Errors[k], n))
		}
	}
	return errors.Join(errs...)
}

// templates are the reports a simulated worker sends, in turn: endpoints ×
// samples of log-normal latencies (median 20 ms), 1 % failures, fixed seed.
func templates(n, endpoints, samples int) []*aggregate.Snapshot {
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]*aggregate.Snapshot, n)
	for k := range out {
		col := aggregate.NewCollector(t0)
		rec := col.NewRecorder()
		for e := range endpoints {
			ep := aggregate.Endpoint{Method: "GET", Name: fmt.Sprintf("/api/endpoint/%02d", e)}
			for range samples {
				lat := time.Duration(float64(20*time.Millisecond) * math.Exp(0.8*rng.NormFloat64()))
				s := aggregate.Sample{Endpoint: ep, Latency: max(lat, time.Microsecond), Bytes: 512 + int64(rng.IntN(512))}
				if rng.IntN(100) == 0 {
					s.Err = "HTTP 500 Internal Server Error"
				}
				rec.Record(s, t0)
			}
		}
		rec.Flush()
		out[k] = col.Swap(t0.Add(time.Second))
	}
	return out
}

// simWorker is one simulated worker: a real gRPC client of the master.
type simWorker struct {
	id   string
	tmpl []*aggregate.Snapshot // shared, read-only
	sent []uint64              // reports sent per template
	next int
}

// send sends the next template as this interval's report.
func (w *simWorker) send(s *cluster.Session, rep cluster.Report, now time.Time) error {
	k := w.next % len(w.tmpl)
	w.next++
	snap := *w.tmpl[k] // a shallow copy: the maps are only read while encoding
	snap.Start, snap.End = now.Add(-time.Second), now
	rep.Snapshot = &snap
	if err := s.SendReport(rep); err != nil {
		return err
	}
	w.sent[k]++
	return nil
}

// run connects, calls dialled, and serves the master until it says quit.
func (w *simWorker) run(ctx context.Context, addr string, phase time.Duration, dialled func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := cluster.Dial(ctx, addr, cluster.WorkerInfo{ID: w.id, Hostname: "sim-" + w.id, Version: "bench",
		Cores: 2, MemoryBytes: 4 << 30, Role: cluster.RoleWorker}, "")
	dialled()
	if err != nil {
		return fmt.Errorf("worker %s: %w", w.id, err)
	}
	defer s.Close()
	type recv struct {
		c   cluster.Command
		err error
	}
	cmds := make(chan recv, 16)
	read := make(chan struct{})
	go func() {
		defer close(read)
		for {
			c, err := s.Recv()
			select {
			case cmds <- recv{c, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		cancel()
		s.Close()
		<-read
	}()
	// Workers' ticks are not aligned: each starts at its own phase of the second.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	if t := time.NewTimer(phase); true {
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		tick.Reset(time.Second)
	}
	// Once the worker's final report is sent, the master may end the stream at
	// any time (it stored the run and is going): that is not a failure.
	finished := false
	// A send fails with EOF when the master ended the stream; its reason comes to
	// the reader.
	why := func(what string, err error) error {
		if finished {
			return nil
		}
		t := time.NewTimer(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case r := <-cmds:
				if r.err != nil {
					return fmt.Errorf("worker %s: %s: %w (%v)", w.id, what, err, r.err)
				}
				if r.c.Kind == cluster.CommandQuit {
					return nil // the run is over and stored; the master went first
				}
				continue
			case <-t.C:
			}
			return fmt.Errorf("worker %s: %s: %w", w.id, what, err)
		}
	}
	var runID string
	var plan, seq uint64
	var users map[string]int
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-cmds:
			if r.err != nil {
				if finished {
					return nil
				}
				return fmt.Errorf("worker %s: %w", w.id, r.err)
			}
			switch r.c.Kind {
			case cluster.CommandStart:
				if runID != r.c.RunID {
					runID, seq = r.c.RunID, 0
				}
				plan, users = r.c.PlanVersion, r.c.Users
			case cluster.CommandStop:
				if r.c.RunID != runID {
					continue
				}
				seq++
				if err := w.send(s, cluster.Report{RunID: runID, Seq: seq, PlanVersion: plan, Final: true, Users: map[string]int{}}, time.Now()); err != nil {
					return why("final report", err)
				}
				runID, finished = "", true
			case cluster.CommandQuit:
				return nil
			}
		case now := <-tick.C:
			n := 0
			for _, u := range users {
				n += u
			}
			if err := s.SendHeartbeat(n); err != nil {
				return why("heartbeat", err)
			}
			if err := s.SendTelemetry(simSample(now)); err != nil {
				return why("telemetry", err)
			}
			if runID != "" {
				seq++
				if err := w.send(s, cluster.Report{RunID: runID, Seq: seq, PlanVersion: plan, Users: users}, now); err != nil {
					return why("report", err)
				}
			}
		}
	}
}

// simSample is a worker's telemetry sample of a plausible 2-core host.
func simSample(now time.Time) telemetry.Sample {
	return telemetry.Sample{At: now, Interval: time.Second,
		Host: telemetry.HostSample{Cores: 2, CPUPercent: 35, PerCore: []float64{30, 40}, Load1: 0.7,
			MemTotal: 4 << 30, MemAvailable: 3 << 30, MemUsed: 1 << 30},
		Process: telemetry.ProcessSample{CPUPercent: 60, GOMAXPROCS: 2, RSS: 60 << 20, HeapBytes: 20 << 20, Goroutines: 120}}
}

type masterConfig struct {
	workers, endpoints, samples int
	duration                    time.Duration
	profile, pin                string
}

// masterCommand runs the master process and the simulated workers, then checks the
// stored run against what the workers sent.
func masterCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("master", flag.ContinueOnError)
	var cfg masterConfig
	fs.IntVar(&cfg.workers, "workers", 1000, "simulated workers")
	fs.DurationVar(&cfg.duration, "duration", time.Minute, "run time")
	fs.IntVar(&cfg.endpoints, "endpoints", 50, "endpoints per report")
	fs.IntVar(&cfg.samples, "samples", 20, "samples per endpoint per report (20: 1,000 requests/s per worker)")
	fs.StringVar(&cfg.profile, "cpuprofile", "", "write the master process's CPU profile here")
	fs.StringVar(&cfg.pin, "pin", "", "run the master process on these CPUs (taskset -c LIST), the workers on the others")
	smoke := fs.Bool("smoke", false, "a quick check that the benchmark works: 10 workers, 3 s")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *smoke {
		cfg.workers, cfg.duration = 10, 3*time.Second
	}
	if cfg.workers < 1 || cfg.duration < time.Second || cfg.endpoints < 1 || cfg.samples < 1 {
		return errors.New("want -workers >= 1, -duration >= 1s, -endpoints >= 1, -samples >= 1")
	}
	res, err := measureMaster(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	printMaster(stdout, cfg, res)
	if !res.Exact {
		return errors.New("the stored run is not what the workers sent: a report was lost or merged wrong")
	}
	return nil
}

// masterFigures is one master capacity run, as the table uses it.
type masterFigures struct {
	masterResult
	Sent   uint64 // reports the workers sent
	Exact  bool   // the stored run equals what was sent
	Detail string // how it differs when it does not
}

func measureMaster(ctx context.Context, cfg masterConfig, progress io.Writer) (masterFigures, error) {
	var fig masterFigures
	dir, err := os.MkdirTemp("", "bench-master-")
	if err != nil {
		return fig, err
	}
	defer os.RemoveAll(dir)
	exe, err := os.Executable()
	if err != nil {
		return fig, err
	}
	limit := cfg.duration + 5*time.Minute // joining, stopping, and a slow machine
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	argv := []string{exe, "master-side", "-workers", fmt.Sprint(cfg.workers), "-duration", cfg.duration.String(), "-dir", dir}
	if cfg.profile != "" {
		argv = append(argv, "-cpuprofile", cfg.profile)
	}
	if cfg.pin != "" {
		argv = append([]string{"taskset", "-c", cfg.pin}, argv...)
	}
	cmd := exec.CommandContext(cctx, argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return fig, err
	}
	if err := cmd.Start(); err != nil {
		return fig, err
	}
	lines := bufio.NewScanner(pipe)
	var addr string
	for lines.Scan() {
		if a, ok := strings.CutPrefix(lines.Text(), "LISTEN "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		cmd.Wait()
		return fig, errors.New("the master process did not start")
	}
	fmt.Fprintf(progress, "master capacity: %d simulated workers, %d endpoints x %d samples per report, %v, master at %s\n",
		cfg.workers, cfg.endpoints, cfg.samples, cfg.duration, addr)

	tmpl := templates(8, cfg.endpoints, cfg.samples)
	workers := make([]*simWorker, cfg.workers)
	wctx, stopWorkers := context.WithCancel(cctx)
	defer stopWorkers()
	g, gctx := errgroup.WithContext(wctx)
	dials := make(chan struct{}, 32) // connect a few at a time
	rng := rand.New(rand.NewPCG(3, 4))
	var failMu sync.Mutex
	var failed []error // a worker that fails does not stop the others: the run shows what it cost
	for i := range workers {
		w := &simWorker{id: fmt.Sprintf("sim-%04d", i), tmpl: tmpl, sent: make([]uint64, len(tmpl)), next: i}
		workers[i] = w
		phase := time.Duration(rng.Int64N(int64(time.Second)))
		g.Go(func() error {
			select {
			case dials <- struct{}{}:
			case <-gctx.Done():
				return nil
			}
			var once sync.Once
			release := func() { once.Do(func() { <-dials }) }
			defer release()
			if err := w.run(gctx, addr, phase, release); err != nil {
				failMu.Lock()
				failed = append(failed, err)
				failMu.Unlock()
			}
			return nil
		})
	}
	var result string
	for lines.Scan() {
		if r, ok := strings.CutPrefix(lines.Text(), "RESULT "); ok {
			result = r
		}
	}
	werr := cmd.Wait()
	// The master told every worker to quit; any still there go now.
	stopWorkers()
	gerr := g.Wait()
	if werr != nil {
		return fig, fmt.Errorf("master process: %w", werr)
	}
	if result == "" {
		return fig, errors.New("the master process printed no result")
	}
	if gerr != nil {
		return fig, fmt.Errorf("simulated worker: %w", gerr)
	}
	if len(failed) > 0 {
		fig.Detail = fmt.Sprintf("%d simulated workers failed, the first: %v; ", len(failed), failed[0])
	}
	if err := json.Unmarshal([]byte(result), &fig.masterResult); err != nil {
		return fig, err
	}

	// What the workers sent, template by template.
	counts := make([]uint64, len(tmpl))
	for _, w := range workers {
		for k, n := range w.sent {
			counts[k] += n
			fig.Sent += n
		}
	}
	db, err := store.Open(filepath.Join(dir, "runs.db"), store.Options{})
	if err != nil {
		return fig, err
	}
	defer db.Close()
	final, err := db.Final(fig.RunID)
	if err != nil {
		return fig, err
	}
	want := aggregate.NewSnapshot(time.Time{})
	for k, n := range counts {
		for range n {
			want.Merge(tmpl[k])
		}
	}
	derr := sameCounts(final, want)
	fig.Exact = derr == nil && fig.Sent == uint64(fig.Reports) && len(failed) == 0 && fig.IntervalsSum
	if derr != nil {
		fig.Detail += derr.Error()
	}
	if fig.Sent != uint64(fig.Reports) {
		fig.Detail += fmt.Sprintf("; workers sent %d reports, the controller took %d", fig.Sent, fig.Reports)
	}
	if !fig.IntervalsSum {
		fig.Detail += "; the stored intervals do not sum to the final snapshot"
	}
	return fig, nil
}

func printMaster(w io.Writer, cfg masterConfig, f masterFigures) {
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "NOT MET"
	}
	cores := f.CPUS / f.WallS
	fmt.Fprintf(w, "\nMaster capacity: %d workers x %d endpoints, %v (run %s, %s)\n", f.Workers, cfg.endpoints, cfg.duration, f.RunID, f.Status)
	fmt.Fprintf(w, "  master CPU             %.2f cores (%.1f CPU-s over %.1f s; %.1f CPU-s while workers joined)   target <= 1 core: %s\n",
		cores, f.CPUS, f.WallS, f.JoinCPUS, verdict(cores <= 1))
	fmt.Fprintf(w, "  master max RSS         %.0f MiB\n", f.MaxRSSMiB)
	fmt.Fprintf(w, "  reports                %d sent, %d taken by the controller; stored run equals what was sent: %v%s\n",
		f.Sent, f.Reports, f.Exact, map[bool]string{true: "", false: " (" + f.Detail + ")"}[f.Exact])
	fmt.Fprintf(w, "  report delay           p50 %.0f ms  p99 %.0f ms  max %.0f ms; %d beyond one interval   target 0: %s\n",
		f.DelayP50Ms, f.DelayP99Ms, f.DelayMaxMs, f.Late, verdict(f.Late == 0))
	fmt.Fprintf(w, "  dashboard/terminal lag p50 %.0f ms  p99 %.0f ms  max %.0f ms over %d samples   target <= 2 s: %s\n",
		f.LagP50Ms, f.LagP99Ms, f.LagMaxMs, f.LagSamples, verdict(f.LagMaxMs <= 2000))
	fmt.Fprintf(w, "  controller stall       an event waited at most %.0f ms for the controller (at %+.1f s of the run)\n", f.StallMaxMs, f.StallAtS)
	fmt.Fprintf(w, "  stored intervals       %d; they sum to the final snapshot: %v\n", f.Intervals, f.IntervalsSum)
}

// serveCluster serves the cluster server srv over gs on lis, and returns what
// stops it all and waits for it.
func serveCluster(srv *cluster.Server, gs *grpc.Server, lis net.Listener) (stop func()) {
	srv.RegisterOn(gs)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	return func() {
		srv.Close()
		gs.Stop()
		<-served
		srv.Wait()
	}
}
