package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/stampede-load/stampede/cmd/internal/cli"
	"github.com/stampede-load/stampede/cmd/internal/lifecycle"
	"github.com/stampede-load/stampede/pkg/agent"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/scenarios"
	"github.com/stampede-load/stampede/pkg/telemetry"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// run is the whole worker: it returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, drain <-chan struct{}) int {
	return cli.Execute(ctx, newRootCommand(stdout, stderr, drain), args, getenv, stdout, stderr)
}

// newRootCommand is the worker's command tree: the root works for a master until it
// is told to quit, drained or loses the master.
func newRootCommand(stdout, stderr io.Writer, drain <-chan struct{}) *cobra.Command {
	cfg := defaultConfig()
	root := &cobra.Command{
		Use:   "worker [flags]",
		Short: "Run Stampede users for a master",
		Long: `worker dials the master, runs the users it is told to, reports every second, and
stops all load when the master is gone. With --agent it runs on the system under test
and sends only host and GPU telemetry.`,
		Example: `  worker --master 127.0.0.1:5557
  STAMPEDE_TOKEN=s3cret worker --master master.example:5557 --tls-ca ca.crt`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(cfg.Validate, func(ctx context.Context) (int, error) { return work(ctx, cfg, stderr, drain) }),
	}
	registerFlags(root.Flags(), &cfg)
	cli.SetHelp(root)
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the worker's version",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Fprintf(stdout, "stampede worker %s (%s)\n", version, runtime.Version())
		},
	})
	return root
}

// work runs the worker until the master lets it go: its exit code, and what went
// wrong (usage 2: a flag the checks could not catch; 1: the master refused it).
func work(ctx context.Context, cfg Config, stderr io.Writer, drain <-chan struct{}) (int, error) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	host, _ := os.Hostname()
	role := cluster.RoleWorker
	if cfg.Agent {
		role = cluster.RoleAgent
	}
	info := cluster.WorkerInfo{ID: cfg.workerID(), Hostname: host, Version: version,
		Cores: runtime.NumCPU(), MemoryBytes: telemetry.TotalMemory(), Role: role}
	sampler := telemetry.NewSampler(telemetry.Options{NoGPU: cfg.NoGPU})
	defer sampler.Close()
	var dial []grpc.DialOption
	var tc *tls.Config
	if cfg.TLSCA != "" || cfg.TLSCert != "" {
		name := cfg.TLSServerName
		if name == "" {
			name, _, _ = net.SplitHostPort(cfg.Master)
		}
		var err error
		if tc, err = cluster.ClientTLS(cfg.TLSCA, cfg.TLSCert, cfg.TLSKey, name); err != nil {
			return cli.ExitUsage, err
		}
	}
	// The worker's components in one group, stopped in this order: the work
	// itself (its end, or a signal through ctx, stops the rest), the drain's
	// deadline, the health server.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	refused := &refusal{cancel: cancel}
	if tc != nil {
		dial = append(dial, grpc.WithTransportCredentials(watchedCreds{credentials.NewTLS(tc), refused}))
	}
	var g lifecycle.Group
	maxMemory, _ := cfg.maxMemory() // checked by Validate
	var connected atomic.Bool
	if cfg.HealthListen != "" {
		c, err := healthServer(cfg.HealthListen, &connected)
		if err != nil {
			return cli.ExitFailure, err
		}
		g.Add(c)
	}
	g.Add(lifecycle.Component{Stage: stageWork, Stop: cancel, Run: func() error {
		var samples agent.Sampler = loggedSampler{sampler, log}
		if sc, _ := cfg.scraper(); sc != nil { // checked by Validate
			samples = &scrapingSampler{Sampler: samples, s: sc, log: log, said: map[string]bool{}}
		}
		return agent.Run(ctx, agent.Config{Master: cfg.Master, Info: info, Logger: log, Sampler: samples,
			Token: cfg.Token, DialOptions: dial, Drain: drain, OnConnection: connected.Store,
			Resolve: func(sc userbehavior.Scenario, index, count int) ([]*userbehavior.Class, error) {
				return scenarios.Resolve(sc, scenarios.Placement{Index: index, Count: count})
			},
			SilenceTimeout: cfg.SilenceTimeout, StopTimeout: cfg.StopTimeout, HTTP: userbehavior.HTTPConfig{Client: cfg.HTTPClient},
			MaxMemory: maxMemory})
	}})
	// Draining is bounded: past --drain-timeout this component returns, which
	// stops the work at once.
	stopDrain := make(chan struct{})
	g.Add(lifecycle.Component{Stage: stageDrain, Stop: func() { close(stopDrain) }, Run: func() error {
		select {
		case <-drain:
			log.Info("draining: asking the master to move this worker's users", "timeout", cfg.DrainTimeout)
			t := time.NewTimer(cfg.DrainTimeout)
			defer t.Stop()
			select {
			case <-t.C:
				log.Warn("drain timed out: stopping now")
			case <-stopDrain:
			}
		case <-stopDrain:
		}
		return nil
	}})
	err := g.Run()
	if rerr := refused.Err(); rerr != nil {
		return cli.ExitFailure, fmt.Errorf("the master refused this worker's TLS (check --tls-ca, --tls-cert and the master's --tls-ca): %w", rerr)
	}
	if err != nil {
		return cli.ExitFailure, err
	}
	return cli.ExitOK, nil
}

// The worker's components stop in these stages (lifecycle.Group runs them in one
// group); the telemetry sampler is made before them and closed after them.
const (
	stageWork   = iota // the work for the master (agent.Run)
	stageDrain         // the drain's deadline
	stageHealth        // the health server, last: it answers until the worker is gone
)

// loggedSampler logs what the sampler has to say (for example "no GPU") once.
type loggedSampler struct {
	s   *telemetry.Sampler
	log *slog.Logger
}

func (l loggedSampler) Sample(now time.Time) telemetry.Sample {
	t := l.s.Sample(now)
	for _, n := range l.s.Notices() {
		l.log.Info("telemetry", "key", n.Key, "notice", n.Message)
	}
	return t
}

// healthServer answers the orchestrator's probes: /healthz (the process is alive)
// and /readyz (connected to a master).
func healthServer(addr string, connected *atomic.Bool) (lifecycle.Component, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return lifecycle.Component{}, fmt.Errorf("--health-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !connected.Load() {
			http.Error(w, "not connected to a master", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return lifecycle.Component{Name: "--health-listen", Stage: stageHealth,
		Run: func() error {
			if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
		Stop: func() {
			srv.Close()
			lis.Close() // when Serve never took it
		}}, nil
}

// scrapingSampler adds the system under test's own metrics (--scrape) to every
// sample; what goes wrong is logged once per message.
type scrapingSampler struct {
	agent.Sampler
	s    *telemetry.Scraper
	log  *slog.Logger
	said map[string]bool // only touched by Sample, which one goroutine calls
}

func (x *scrapingSampler) Sample(now time.Time) telemetry.Sample {
	t := x.Sampler.Sample(now)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	series, errs := x.s.Scrape(ctx, now)
	for _, err := range errs {
		if msg := err.Error(); !x.said[msg] {
			x.said[msg] = true
			x.log.Warn("telemetry", "scrape", msg)
		}
	}
	if len(series) > 0 {
		t.Server = series
	}
	return t
}
