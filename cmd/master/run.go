package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

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
// workers, the demo target when asked for, and the controller.
type master struct {
	db       *store.DB
	ctl      *controller.Controller
	scenario userbehavior.Scenario
	classes  []*userbehavior.Class
	program  *script.Program // the scenario's script, compiled once here (nil when not a script)
	addr     string
	g        *errgroup.Group
	gctx     context.Context
	export   *export.Exporter // nil without --remote-write
	cleanup  []func()
}

func (m *master) close() {
	for i := len(m.cleanup) - 1; i >= 0; i-- {
		m.cleanup[i]()
	}
}

// bringUp validates the scenario, opens the store and brings the cluster side up.
func bringUp(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) (*master, int, error) {
	m := &master{}
	var err error
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
	m.cleanup = append(m.cleanup, func() { m.db.Close() })
	for _, id := range m.db.Interrupted() {
		fmt.Fprintf(stdout, "run %s was left running by a master that stopped: marked interrupted\n", id)
	}

	lis, err := net.Listen("tcp", cfg.listen())
	if err != nil {
		m.close()
		return nil, exitFailure, fmt.Errorf("listen for workers: %w", err)
	}
	srv := cluster.NewServer(cluster.ServerConfig{Logger: log, Version: version, HeartbeatTimeout: cfg.HeartbeatTimeout,
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
			m.close()
			return nil, exitUsage, err
		}
		gs = grpc.NewServer(append(opts, grpc.Creds(credentials.NewTLS(tc)))...)
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
	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx))
	m.g, m.gctx = g, gctx
	workersCtx, stopWorkers := context.WithCancel(gctx)
	g.Go(func() error { return gs.Serve(lis) })
	m.cleanup = append(m.cleanup, func() {
		health.Shutdown()
		stopWorkers()
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
		if err := g.Wait(); err != nil && !errors.Is(err, grpc.ErrServerStopped) && !errors.Is(err, http.ErrServerClosed) {
			log.Error("shutdown", "err", err)
		}
	})
	m.addr = lis.Addr().String()
	localAddr := m.addr
	if gs != plain && cfg.localWorkers() > 0 {
		// In-process workers talk plaintext to a loopback listener of their own.
		llis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			m.close()
			return nil, exitFailure, err
		}
		localAddr = llis.Addr().String()
		g.Go(func() error { return plain.Serve(llis) })
	}

	if m.scenario.Builtin == demo.Name && cfg.Host == "" {
		base, stop, err := demo.NewTarget(demo.TargetConfig{Seed: uint64(time.Now().UnixNano()), LatencyScale: 1}).Start(gctx, "127.0.0.1:0")
		if err != nil {
			m.close()
			return nil, exitFailure, fmt.Errorf("demo target: %w", err)
		}
		m.cleanup = append(m.cleanup, func() { stop(context.Background()) })
		m.scenario.Host = base
		fmt.Fprintf(stdout, "demo target listening on %s\n", base)
	}

	host, _ := os.Hostname()
	for i := range cfg.localWorkers() {
		info := cluster.WorkerInfo{ID: fmt.Sprintf("local-%d", i+1), Hostname: host, Version: version, Cores: runtime.NumCPU(),
			Role: cluster.RoleWorker}
		sampler := telemetry.NewSampler(telemetry.Options{NoGPU: i > 0})       // one GPU reader per process is enough
		m.cleanup = append([]func(){func() { sampler.Close() }}, m.cleanup...) // after the workers stopped
		g.Go(func() error {
			return agent.Run(workersCtx, agent.Config{Master: localAddr, Info: info, Resolve: resolve, Logger: log, Sampler: sampler,
				Token: cfg.Token, HTTP: userbehavior.HTTPConfig{Client: cfg.HTTPClient}})
		})
	}
	cl, err := m.withLocust(cfg, log, srv, stdout)
	if err != nil {
		m.close()
		return nil, exitFailure, err
	}
	copts := controller.Options{Logger: log, MinWorkers: cfg.MinWorkers,
		SaturationCPU: cfg.SaturationCPU, SchedLagLimit: cfg.SchedLagLimit}
	if m.export, err = cfg.Export.exporter(log); err != nil {
		m.close()
		return nil, exitUsage, err
	}
	if m.export != nil {
		copts.Export = m.export
		m.cleanup = append(m.cleanup, func() { flushExport(m.export, io.Discard) })
	}
	m.ctl = controller.New(cl, m.db, copts)
	return m, exitOK, nil
}

// runConfig is the controller's view of a run the flags (and the dashboard's form)
// ask for.
func (m *master) runConfig(cfg Config, scenario userbehavior.Scenario, progress io.Writer) (controller.Config, error) {
	settings, _ := json.Marshal(cfg.settings(scenario))
	rc := controller.Config{
		Scenario: scenario, Classes: schedulerClasses(m.classes), Users: cfg.Users, SpawnRate: cfg.SpawnRate,
		RunTime: cfg.RunTime, ExpectWorkers: cfg.expectWorkers(), ExpectWait: cfg.ExpectWorkersMax,
		StopWait: cfg.StopWait, Label: cfg.Label, Settings: settings, Progress: progress,
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
		code, err := dryRun(ctx, scenario, classes, cfg.DryRun, stdout)
		if hk != nil {
			if terr := hk.teardown(ctx, stdout); terr != nil {
				printHookError(stdout, terr)
				if code == exitOK && err == nil {
					return exitFailure, terr
				}
			}
		}
		return code, err
	}
	m, code, err := bringUp(ctx, cfg, log, stdout)
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
	res, err := m.ctl.Run(ctx, rc)
	var teardownErr error
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
	if err != nil {
		return exitFailure, err
	}
	flushExport(m.export, stdout) // the run's last interval reaches the receivers before the report
	r := res.Run
	fmt.Fprintf(stdout, "\nrun %s %s after %s, stored in %s\n", r.ID, r.Status, res.Duration.Round(100*time.Millisecond), cfg.DB)
	if r.Reason != "" {
		fmt.Fprintf(stdout, "  (%s)\n", r.Reason)
	}
	fmt.Fprintln(stdout)
	if err := report.WriteTable(stdout, res.Final, res.Duration); err != nil {
		return exitFailure, err
	}
	if cfg.JSON != "" {
		sum := report.NewSummary(r.ID, string(r.Status), r.Reason, r.StartedAt, r.EndedAt, cfg.Users, r.Summary.PeakUsers, res.Final)
		sum.Thresholds, sum.Passed = r.Summary.Thresholds, r.Summary.ThresholdsPassed()
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
	if r.Summary.Failures > 0 {
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
