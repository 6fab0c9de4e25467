package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/stampede-load/stampede/pkg/agent"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/scenarios"
	"github.com/stampede-load/stampede/pkg/telemetry"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// run is the whole worker: it returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "version" {
		fmt.Fprintf(stdout, "stampede worker %s (%s)\n", version, runtime.Version())
		return 0
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return 2
	}
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
	err = agent.Run(ctx, agent.Config{Master: cfg.Master, Info: info, Logger: log, Sampler: loggedSampler{sampler, log},
		Resolve: func(sc userbehavior.Scenario, index, count int) ([]*userbehavior.Class, error) {
			return scenarios.Resolve(sc, scenarios.Placement{Index: index, Count: count})
		},
		SilenceTimeout: cfg.SilenceTimeout, StopTimeout: cfg.StopTimeout})
	if err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return 1
	}
	return 0
}

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
