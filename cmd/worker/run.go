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
	info := cluster.WorkerInfo{ID: cfg.workerID(), Hostname: host, Version: version,
		Cores: runtime.NumCPU(), MemoryBytes: telemetry.TotalMemory()}
	err = agent.Run(ctx, agent.Config{Master: cfg.Master, Info: info, Logger: log,
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
