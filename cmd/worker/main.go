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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
