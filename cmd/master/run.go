package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/stampede-load/stampede/cmd/internal/lifecycle"
	"github.com/stampede-load/stampede/pkg/agent"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/controller"
	"github.com/stampede-load/stampede/pkg/demo"
	"github.com/stampede-load/stampede/pkg/export"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/scenarios"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/store"
	"github.com/stampede-load/stampede/pkg/telemetry"
	"github.com/stampede-load/stampede/pkg/userbehavior"
	"github.com/stampede-load/stampede/pkg/userbehavior/script"
)

// master is what both modes share: the store, the workers' gRPC listener, local
// workers, the demo target when asked for, and the controller. Its components run
// in one group (see lifecycle); the store outlives them.
type master struct {
	db       *store.DB
	ctl      *controller.Controller
	scenario userbehavior.Scenario
	classes  []*userbehavior.Class
	program  *script.Program // the scenario's script, compiled once here (nil when not a script)
	addr     string
	life     lifecycle.Group
	export   *export.Exporter // nil without --remote-write
}

// close ends the master whose components never ran (its mode's setup failed) or
// have all returned: it stops each (releasing their listeners) and closes the store.
func (m *master) close() {
	m.life.Close()
	if m.db != nil {
		m.db.Close()
	}
}

// bringUp validates the scenario, opens the store and makes the cluster side's
// components: nothing runs until the mode runs m.life.
func bringUp(cfg Config, log *slog.Logger, stdout io.Writer) (m *master, code int, err error) {
	m = &master{}
	m.scenario, err = cfg.scenario()
	if err != nil {
		return nil, exitUsage, err
	}
	// Validate on the master, before any load: a bad script stops here. A dashboard
	// without --host gets the plain user's URL from its start form.
	if q := m.scenario.Quick; q != nil && q.URL == "" && !cfg.Headless {
		m.classes = []*userbehavior.Class{{Name: userbehavior.QuickClassName, Weight: 1}}
	} else {
		res, err := scenarios.Load(m.scenario, scenarios.Placement{Index: 0, Count: 1})
		if err != nil {
			return nil, exitUsage, err
		}
		m.classes, m.program = res.Classes, res.Program
	}
	if cfg.Headless {
		if err := cfg.Load.refuseWithShape(&cfg, m.program); err != nil {
			return nil, exitUsage, err
		}
	}
	if m.classes, err = cfg.locustClasses(m.classes); err != nil {
		return nil, exitUsage, err
	}
	m.db, err = store.Open(cfg.DB, store.Options{Logger: log})
	if err != nil {
		return nil, exitFailure, fmt.Errorf("open store: %w", err)
	}
	defer func() {
		if err != nil {
			m.close()
		}
	}()
	for _, id := range m.db.Interrupted() {
		fmt.Fprintf(stdout, "run %s was left running by a master that stopped: marked interrupted\n", id)
	}
	if err := addPprof(&m.life, cfg.PprofListen, log); err != nil {
		return nil, exitFailure, err
	}
	srv, localAddr, code, err := m.addGRPC(cfg, log)
	if err != nil {
		return nil, code, err
	}
	if m.scenario.Builtin == demo.Name && cfg.Host == "" {
		base, stop, err := demo.NewTarget(demo.TargetConfig{Seed: uint64(time.Now().UnixNano()), LatencyScale: 1}).Start(context.Background(), "127.0.0.1:0")
		if err != nil {
			return nil, exitFailure, fmt.Errorf("demo target: %w", err)
		}
		var stopErr error
		run, stopped := lifecycle.UntilStopped()
		m.life.Add(lifecycle.Component{Name: "demo target", Stage: stageLast,
			Run:  func() error { err := run(); return errors.Join(err, stopErr) },
			Stop: func() { stopErr = stop(context.Background()); stopped() }})
		m.scenario.Host = base
		fmt.Fprintf(stdout, "demo target listening on %s\n", base)
	}
	m.addLocalWorkers(cfg, log, localAddr)
	cl, err := m.withLocust(cfg, log, srv, stdout)
	if err != nil {
		return nil, exitFailure, err
	}
	copts := controller.Options{Logger: log, MinWorkers: cfg.MinWorkers,
		SaturationCPU: cfg.SaturationCPU, SchedLagLimit: cfg.SchedLagLimit}
	if m.export, err = cfg.Export.exporter(log); err != nil {
		return nil, exitUsage, err
	}
	if m.export != nil {
		copts.Export = m.export
		run, stopped := lifecycle.UntilStopped()
		m.life.Add(lifecycle.Component{Name: "remote-write", Stage: stageLast, Run: run,
			Stop: func() { flushExport(m.export, io.Discard); stopped() }})
	}
	m.ctl = controller.New(cl, m.db, copts)
	return m, exitOK, nil
}

// addGRPC listens for workers and makes the gRPC server(s): one on --listen (with
// TLS when asked for), and with TLS a plaintext one on a loopback port of its own
// for the in-process workers, whose address it returns.
func (m *master) addGRPC(cfg Config, log *slog.Logger) (srv *cluster.Server, localAddr string, code int, err error) {
	srv = cluster.NewServer(cluster.ServerConfig{Logger: log, Version: version, HeartbeatTimeout: cfg.HeartbeatTimeout,
		Token: cfg.Token, MaxWorkers: cfg.MaxWorkers})
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(64 << 20),
		// A peer that pings more often than this is misbehaving and is cut off.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		// The master pings idle transports too, so a dead peer's connection is found.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 5 * time.Second, Timeout: cfg.HeartbeatTimeout}),
		grpc.MaxConcurrentStreams(16),
	}
	plain := grpc.NewServer(opts...) // loopback only: local workers (and all workers without TLS)
	gs := plain
	if cfg.TLSCert != "" {
		tc, err := cluster.ServerTLS(cfg.TLSCert, cfg.TLSKey, cfg.TLSCA)
		if err != nil {
			return nil, "", exitUsage, err
		}
		gs = grpc.NewServer(append(opts, grpc.Creds(credentials.NewTLS(tc)))...)
	}
	lis, err := net.Listen("tcp", cfg.listen())
	if err != nil {
		return nil, "", exitFailure, fmt.Errorf("listen for workers: %w", err)
	}
	listeners := []net.Listener{lis}
	m.addr = lis.Addr().String()
	localAddr = m.addr
	var llis net.Listener
	if gs != plain && cfg.localWorkers() > 0 {
		// In-process workers talk plaintext to a loopback listener of their own.
		if llis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			lis.Close()
			return nil, "", exitFailure, err
		}
		listeners = append(listeners, llis)
		localAddr = llis.Addr().String()
	}
	health := grpchealth.NewServer()
	servers := []*grpc.Server{gs}
	if gs != plain {
		servers = append(servers, plain)
	}
	for _, g := range servers {
		srv.RegisterOn(g)
		healthpb.RegisterHealthServer(g, health)
	}
	stop := sync.OnceFunc(func() {
		health.Shutdown()
		// Let queued commands (the workers' quit) reach the workers; a worker that
		// does not hang up in time is cut off.
		stopped := make(chan struct{})
		go func() {
			for _, g := range servers {
				g.GracefulStop()
			}
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(3 * time.Second):
			srv.Close()
			for _, g := range servers {
				g.Stop()
			}
			<-stopped
		}
		srv.Close()
		srv.Wait()
		for _, l := range listeners { // those a Serve never took
			l.Close()
		}
	})
	m.life.Add(lifecycle.Component{Name: "worker listener", Stage: stageGRPC, Run: serveGRPC(gs, lis), Stop: stop})
	if llis != nil {
		m.life.Add(lifecycle.Component{Name: "local workers' listener", Stage: stageGRPC, Run: serveGRPC(plain, llis), Stop: stop})
	}
	return srv, localAddr, exitOK, nil
}

// serveGRPC serves g on lis until g stops.
func serveGRPC(g *grpc.Server, lis net.Listener) func() error {
	return func() error {
		if err := g.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return err
		}
		return nil
	}
}

// addLocalWorkers makes the in-process workers, which dial addr.
func (m *master) addLocalWorkers(cfg Config, log *slog.Logger, addr string) {
	if cfg.localWorkers() == 0 {
		return
	}
	host, _ := os.Hostname()
	ctx, cancel := context.WithCancel(context.Background())
	stopWorkers := func() { cancel() } // one for them all: each stops every worker
	for i := range cfg.localWorkers() {
		info := cluster.WorkerInfo{ID: fmt.Sprintf("local-%d", i+1), Hostname: host, Version: version, Cores: runtime.NumCPU(),
			Role: cluster.RoleWorker}
		m.life.Add(lifecycle.Component{Name: info.ID, Stage: stageWorkers,
			Run: func() error {
				sampler := telemetry.NewSampler(telemetry.Options{NoGPU: i > 0}) // one GPU reader per process is enough
				defer sampler.Close()                                            // after the worker stopped
				err := agent.Run(ctx, agent.Config{Master: addr, Info: info, Resolve: resolve, Logger: log, Sampler: sampler,
					Token: cfg.Token, HTTP: userbehavior.HTTPConfig{Client: cfg.HTTPClient}})
				if err != nil {
					return err
				}
				<-ctx.Done() // told to quit by the master: the others go on until the master stops
				return nil
			},
			Stop: stopWorkers})
	}
}

// runConfig is the controller's view of a run the flags (and the dashboard's form)
// ask for.
func (m *master) runConfig(cfg Config, scenario userbehavior.Scenario, progress io.Writer) (controller.Config, error) {
	settings, _ := json.Marshal(cfg.settings(scenario))
	rc := controller.Config{
		Scenario: scenario, Classes: schedulerClasses(m.classes), Users: cfg.Users, SpawnRate: cfg.SpawnRate,
		RunTime: cfg.RunTime, ExpectWorkers: cfg.expectWorkers(), ExpectWait: cfg.ExpectWorkersMax,
		StopWait: cfg.StopWait, StopTimeout: cfg.StopTimeout, Label: cfg.Label, Settings: settings, Progress: progress,
	}
	err := cfg.Load.apply(&cfg, &rc, m.db, m.program)
	return rc, err
}

// headless runs one load test from the command line.
func headless(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) (int, error) {
	if cfg.DryRun > 0 {
		scenario, err := cfg.scenario()
		if err != nil {
			return exitUsage, err
		}
		hk, err := newHooks(scenario)
		if err != nil {
			return exitUsage, err
		}
		if hk != nil { // the dry run's users read u.setup too, and teardown cleans up after them
			if scenario, err = hk.setup(ctx, stdout); err != nil {
				printHookError(stdout, err)
				return exitFailure, err
			}
		}
		classes, err := scenarios.Resolve(scenario, scenarios.Placement{Index: 0, Count: 1})
		if err != nil {
			return exitUsage, err
		}
		// The dry run (and its teardown) and the pprof server, in one group.
		var life lifecycle.Group
		if err := addPprof(&life, cfg.PprofListen, log); err != nil {
			return exitFailure, err
		}
		dctx, cancel := context.WithCancel(ctx)
		code := exitOK
		life.Add(lifecycle.Component{Stage: stageRun, Stop: cancel, Run: func() (err error) {
			code, err = dryRun(dctx, scenario, classes, cfg.DryRun, cfg.ExitCodeOnError, stdout)
			if hk != nil {
				if terr := hk.teardown(ctx, stdout); terr != nil {
					printHookError(stdout, terr)
					if code == exitOK && err == nil {
						code, err = exitFailure, terr
					}
				}
			}
			return err
		}})
		return code, life.Run()
	}
	m, code, err := bringUp(cfg, log, stdout)
	if err != nil {
		return code, err
	}
	defer m.close()
	fmt.Fprintf(stdout, "master listening for workers on %s; waiting for %d\n", m.addr, cfg.expectWorkers())
	var progress io.Writer = stdout
	if cfg.OnlySummary {
		progress = nil
	}
	hk, err := newHooks(m.scenario)
	if err != nil {
		return exitUsage, err
	}
	scenario := m.scenario
	if hk != nil {
		if scenario, err = hk.setup(ctx, stdout); err != nil {
			// No user has started: the run is stored as failed, with the traceback.
			printHookError(stdout, err)
			if id, serr := storeSetupFailure(m.db, cfg.Label, err.(*hookError)); serr == nil {
				fmt.Fprintf(stdout, "run %s failed in setup, stored in %s\n", id, cfg.DB)
			}
			return exitFailure, err
		}
	}
	rc, err := m.runConfig(cfg, scenario, progress)
	if err != nil {
		return exitUsage, err
	}
	rc.QuitWorkers = true
	// The run (and its teardown) first among the master's components: its end (or
	// a signal, through ctx) stops the others, in their order.
	rctx, stopRun := context.WithCancelCause(ctx)
	var res controller.Result
	var teardownErr error
	m.life.Add(lifecycle.Component{Stage: stageRun, Stop: func() { stopRun(errors.New("the master is stopping")) },
		Run: func() (err error) {
			res, err = m.ctl.Run(rctx, rc)
			if hk != nil {
				// Once, after the last user stopped: also when the run failed or was stopped.
				if teardownErr = hk.teardown(ctx, stdout); teardownErr != nil {
					printHookError(stdout, teardownErr)
					if err == nil {
						var he *hookError
						errors.As(teardownErr, &he)
						detail := he.Error()
						if he.traceback != "" {
							detail += "\n" + he.traceback
						}
						m.db.AppendEvent(res.Run.ID, store.Event{At: time.Now(), Kind: store.EventTeardownFailed, Detail: detail})
					}
				}
			}
			return err
		}})
	if err := m.life.Run(); err != nil {
		return exitFailure, err
	}
	flushExport(m.export, stdout) // the run's last interval reaches the receivers before the report
	r := res.Run
	fmt.Fprintf(stdout, "\nrun %s %s after %s, stored in %s\n", r.ID, r.Status, res.Duration.Round(100*time.Millisecond), cfg.DB)
	if r.Reason != "" {
		fmt.Fprintf(stdout, "  (%s)\n", r.Reason)
	}
	if n := r.Summary.Cancelled; n > 0 {
		fmt.Fprintf(stdout, "  %d requests in flight were cancelled at stop (not failures; --stop-timeout %v)\n", n, cfg.StopTimeout)
	}
	fmt.Fprintln(stdout)
	if err := report.WriteTable(stdout, res.Final, res.Duration); err != nil {
		return exitFailure, err
	}
	if cfg.JSON != "" {
		sum := report.NewSummary(r.ID, string(r.Status), r.Reason, r.StartedAt, r.EndedAt, cfg.Users, r.Summary.PeakUsers, res.Final)
		sum.Thresholds, sum.Passed = r.Summary.Thresholds, r.Summary.ThresholdsPassed()
		report.LinkTraces(sum.Slowest, cfg.HTTP.TraceURL)
		if err := writeJSONFile(cfg.JSON, sum); err != nil {
			return exitFailure, err
		}
	}
	if cfg.CSV != "" {
		if err := writeCSVFiles(m.db, r.ID, cfg.CSV, cfg.CSVFullHistory); err != nil {
			return exitFailure, err
		}
		fmt.Fprintf(stdout, "CSV files written to %s_*.csv\n", cfg.CSV)
	}
	if cfg.HTML != "" {
		if err := writeReportFile(m.db, r.ID, cfg.HTML); err != nil {
			return exitFailure, err
		}
		fmt.Fprintf(stdout, "HTML report written to %s\n", cfg.HTML)
	}
	code, err = cfg.Load.verdict(stdout, res)
	if err != nil {
		return code, err
	}
	if teardownErr != nil && code == exitOK {
		return exitFailure, teardownErr
	}
	if ctx.Err() != nil {
		// Stopped by a signal (Ctrl-C, or a CI job's timeout): what was measured is
		// stored and printed, but the run did not finish, and the exit code says so.
		return exitAborted, errors.New("the run was stopped before its end")
	}
	if code != exitOK {
		return code, nil
	}
	if len(res.Problems) > 0 {
		return exitIncomplete, nil // printed by the controller, stored as the run's reason
	}
	if r.Summary.Failures > 0 || len(res.Final.Exceptions) > 0 {
		return cfg.ExitCodeOnError, nil
	}
	return exitOK, nil
}

func writeJSONFile(path string, s report.Summary) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	if err := report.WriteJSON(f, s); err != nil {
		f.Close()
		return fmt.Errorf("--json: %w", err)
	}
	return f.Close()
}

// scenario turns the flags into what users do.
func (c *Config) scenario() (userbehavior.Scenario, error) {
	opts, err := c.HTTP.options()
	if err != nil {
		return userbehavior.Scenario{}, err
	}
	if c.Demo {
		return userbehavior.Scenario{Host: c.Host, Builtin: demo.Name, HTTP: opts}, nil
	}
	if c.GRPCMethod != "" {
		return c.grpcScenario(opts)
	}
	if c.Script != "" {
		sc, err := scriptScenario(c.Script, c.Host, c.Vars, c.Tags, c.ExcludeTags)
		sc.HTTP = opts
		return sc, err
	}
	wait, err := userbehavior.ParseWait(c.Wait)
	if err != nil {
		return userbehavior.Scenario{}, err
	}
	header, err := c.header()
	if err != nil {
		return userbehavior.Scenario{}, err
	}
	body, err := c.body()
	if err != nil {
		return userbehavior.Scenario{}, err
	}
	return userbehavior.Scenario{Host: c.Host, HTTP: opts, Quick: &userbehavior.QuickSpec{
		Method: c.Method, URL: c.Host, Header: header, Body: body, Wait: wait}}, nil
}

// settings is the run's configuration as stored with it.
func (c *Config) settings(s userbehavior.Scenario) map[string]any {
	m := map[string]any{"users": c.Users, "spawn_rate": c.SpawnRate, "run_time": c.RunTime.String(),
		"host": s.Host, "expect_workers": c.expectWorkers(), "master_version": version}
	if c.HTTP.TraceURL != "" {
		m["trace_url"] = c.HTTP.TraceURL // the views link slow requests' trace ids with it (report.TraceURLOf)
	}
	if c.GRPCMethod != "" {
		m["scenario"] = "plain gRPC"
		m["method"], m["proto"], m["wait"] = c.GRPCMethod, c.Proto, c.Wait
	} else if s.Quick != nil {
		m["scenario"] = "plain HTTP"
		m["method"], m["url"], m["wait"] = s.Quick.Method, s.Quick.URL, s.Quick.Wait.String()
	} else if s.Script != nil {
		m["scenario"] = "script " + s.Script.Main
		m["vars"], m["tags"], m["exclude_tags"] = s.Script.Vars, s.Script.Tags, s.Script.ExcludeTags
	} else {
		m["scenario"] = s.Builtin
	}
	return m
}

func schedulerClasses(cs []*userbehavior.Class) []scheduler.Class {
	out := make([]scheduler.Class, len(cs))
	for i, c := range cs {
		out[i] = scheduler.Class{Name: c.Name, Weight: c.Weight, FixedCount: c.FixedCount}
	}
	return out
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}
