// Command worker runs Stampede users for a master: it dials the master, runs the users
// it is told to, reports every second, and stops all load when the master is gone.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped in by the Makefile.
var version = "dev"

// main: the first SIGTERM (or Ctrl-C) drains the worker: its users move to the other
// workers and it exits after its final report, within --drain-timeout; a second
// signal stops it at once.
func main() {
	ctx, cancel := context.WithCancel(context.Background())
	drain := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		close(drain)
		<-sigs
		cancel()
	}()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, drain)
	cancel()
	os.Exit(code)
}
