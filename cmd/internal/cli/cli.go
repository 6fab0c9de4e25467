// Package cli is what the master's and the worker's command lines share: exit codes
// carried by errors, one-line error reports, the help layout with flags grouped by
// topic, environment and config-file loading over cobra, and the Markdown reference
// (docs/cli.md) generated from the command trees.
//
// It owns no flag and no command of its own; cmd/master and cmd/worker build their
// trees and hand them to Execute. Concurrency: plain functions over the commands
// they are given; one Execute per tree at a time.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stampede-load/stampede/pkg/flagenv"
)

// Exit codes every command shares; a run's verdict adds its own (cmd/master).
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// EnvPrefix starts the environment variable of every flag: --spawn-rate is
// STAMPEDE_SPAWN_RATE.
const EnvPrefix = "STAMPEDE_"

// ExitError carries an exit code out of a command's RunE. Err nil exits quietly
// with Code (a run's verdict, printed already).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Exit returns an error that makes Execute exit with code, printing err when it is
// not nil; code 0 with a nil err is no error at all.
func Exit(code int, err error) error {
	if code == ExitOK && err == nil {
		return nil
	}
	return &ExitError{Code: code, Err: err}
}

// Failure is an error of the work itself (exit 1): a store that does not open, a run
// not found, a file not written.
func Failure(err error) error { return Exit(ExitFailure, err) }

// Usage is an error of what the user typed (exit 2). A RunE's plain error counts as
// one too, as cobra's own (unknown flag, wrong number of arguments) do.
func Usage(err error) error { return Exit(ExitUsage, err) }

// Execute runs the command line args on root and returns the process exit code. An
// error is printed once, on one line of stderr, prefixed with the command's path
// ("master report: ..."); cobra's own printing of errors and usage is silenced.
//
// Before any command runs, the flags its command line left unset are filled from the
// config file (when the command has --config) and the STAMPEDE_* environment
// (getenv), so every command follows defaults < file < environment < flags.
func Execute(ctx context.Context, root *cobra.Command, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	root.SilenceErrors, root.SilenceUsage = true, true
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := flagenv.Apply(cmd.Flags(), getenv, EnvPrefix, "config"); err != nil {
			return Usage(err)
		}
		return nil
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(flagenv.LongDashes(args, longFlags(root)))
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitUsage
	var ee *ExitError
	if errors.As(err, &ee) {
		code, err = ee.Code, ee.Err
	}
	if err != nil {
		if cmd == nil {
			cmd = root
		}
		fmt.Fprintf(stderr, "%s: %s\n", cmd.CommandPath(), OneLine(err))
	}
	return code
}

// OneLine joins the lines of an error (errors.Join gives one per problem) with "; ".
func OneLine(err error) string {
	var parts []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

// longFlags reports whether a name is a long flag of any command of the tree (the
// help flag included), for flagenv.LongDashes.
func longFlags(root *cobra.Command) func(string) bool {
	names := map[string]bool{"help": true}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.LocalFlags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) { names[f.Name] = true })
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return func(n string) bool { return names[n] }
}

// ExactArgs is cobra.ExactArgs with the command's usage line in its error.
func ExactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("want %d argument(s), got %d: usage: %s", n, len(args), cmd.UseLine())
		}
		return nil
	}
}

// MinArgs is cobra.MinimumNArgs with the command's usage line in its error.
func MinArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return fmt.Errorf("want at least %d argument(s), got %d: usage: %s", n, len(args), cmd.UseLine())
		}
		return nil
	}
}

// RunE is the RunE of a command that validates its configuration (a usage error,
// exit 2) and then works until done, returning its exit code and what went wrong.
func RunE(validate func() error, work func(ctx context.Context) (int, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		if err := validate(); err != nil {
			return Usage(err)
		}
		return Exit(work(cmd.Context()))
	}
}
