// Command master runs Stampede load tests: it plans users over workers (remote ones
// that dial in, or in-process ones), merges what they measure, prints and stores the
// run. `master runs list` and `master runs show ID` read past runs.
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
