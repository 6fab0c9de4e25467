// Command bench measures what `make bench` reports beside the Go micro-benchmarks:
// the master's merge capacity, the spawn curve, long-run stability, and one table
// that gathers every figure of a run.
//
//	go run ./scripts/bench master [-workers 1000 -duration 60s]  # master capacity
//	go run ./scripts/bench spawn  [-users 10000 -rate 500]        # spawn accuracy
//	go run ./scripts/bench soak   [-duration 30m]                 # stability of the built binaries
//	go run ./scripts/bench table  [-repeats 3]                     # everything, one table
//
// Every subcommand takes -smoke: a run of about a second that checks the program
// still works (make test runs them). Load goes to 127.0.0.1 only and every run is
// bounded in time. Figures are printed, never enforced: a command fails only when
// it could not measure (the full table notes a section it could not run and goes
// on; its -smoke fails) or when a report was lost or the stored run differs from
// what was sent (a bug, not a figure). Method and results: docs/benchmarks.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

const usage = "usage: bench master|spawn|soak|table [flags] (-h for each)"

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "master":
		return masterCommand(ctx, args[1:], stdout)
	case "master-side": // the measured master process, started by "master"
		return masterSide(ctx, args[1:], stdout)
	case "spawn":
		return spawnCommand(ctx, args[1:], stdout)
	case "soak":
		return soakCommand(ctx, args[1:], stdout)
	case "table":
		return tableCommand(ctx, args[1:], stdout)
	}
	return fmt.Errorf("unknown subcommand %q; %s", args[0], usage)
}
