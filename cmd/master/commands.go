package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/stampede-load/stampede/cmd/internal/cli"
	"github.com/stampede-load/stampede/pkg/store"
	"github.com/stampede-load/stampede/pkg/userbehavior/script"
)

// run is the whole master: it returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return cli.Execute(ctx, newRootCommand(stdout, stderr), args, getenv, stdout, stderr)
}

// newRootCommand is the master's command tree: the root runs a load test (headless)
// or serves the dashboard; the sub-commands read what is stored.
func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	cfg := defaultConfig()
	root := &cobra.Command{
		Use:   "master [flags]",
		Short: "Run Stampede load tests: plan users over workers, merge what they measure, store every run",
		Long: `master runs a load test: it spreads simulated users over workers (in-process ones, or
remote workers that dial in), merges what they measure, prints it and stores the run.
Without --headless it serves the web dashboard, where runs are started and watched.`,
		Example: `  master --headless -u 50 -r 10 -t 1m -H http://127.0.0.1:8080/
  master --headless -f examples/shop/main.star -H http://127.0.0.1:8080 -t 5m --threshold 'p95<300ms'
  master --demo
  master runs list`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(cfg.Validate, func(ctx context.Context) (int, error) { return runLoad(ctx, cfg, stdout, stderr) }),
	}
	registerFlags(root.Flags(), &cfg)
	cli.SetHelp(root)
	if err := cli.SetGroups(root, flagGroups); err != nil {
		panic(err) // a flag left out of the help: TestHelpGroupsEveryFlag fails first
	}
	root.AddCommand(newRunsCommand(stdout), newReportCommand(stdout), newCheckCommand(stdout),
		newConvertCommand(stdout), newVersionCommand(stdout))
	return root
}

// runLoad runs a headless test, a dry run or the dashboard.
func runLoad(ctx context.Context, cfg Config, stdout, stderr io.Writer) (int, error) {
	level, _ := parseLevel(cfg.LogLevel)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if cfg.Headless || cfg.DryRun > 0 {
		return headless(ctx, cfg, log, stdout)
	}
	return dashboard(ctx, cfg, log, stdout)
}

func newVersionCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the master's version",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Fprintf(stdout, "stampede master %s (%s)\n", version, runtime.Version())
		},
	}
}

// newRunsCommand is `master runs list|show|compare`: what the store holds.
func newRunsCommand(stdout io.Writer) *cobra.Command {
	var dbPath string
	runs := &cobra.Command{
		Use:   "runs",
		Short: "List, show and compare stored runs",
		Example: `  master runs list --db stampede.db
  master runs show 20261207-231303-69c1
  master runs compare BASELINE RUN --format markdown --fail-on-regression`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown command %q: want list, show or compare", args[0])
			}
			return errors.New("want a command: list, show, compare, label or delete (master runs --help)")
		},
	}
	runs.PersistentFlags().StringVar(&dbPath, "db", "stampede.db", "bbolt file that stores every run")

	list := &cobra.Command{
		Use:   "list [flags]",
		Short: "List the stored runs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(dbPath, func(db *store.DB) error { return listRuns(db, stdout) })
		},
	}
	show := &cobra.Command{
		Use:   "show RUN_ID [flags]",
		Short: "Show a stored run: its settings, table, thresholds and events",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(dbPath, func(db *store.DB) error { return showRun(db, args[0], stdout) })
		},
	}
	var (
		format           string
		tolerance        float64
		failOnRegression bool
	)
	compare := &cobra.Command{
		Use:   "compare BASELINE RUN... [flags]",
		Short: "Compare runs with a baseline, endpoint by endpoint",
		Example: `  master runs compare 20261207-231303-69c1 20261208-101500-a3f2 --format markdown
  master runs compare "$BASELINE" "$RUN" --tolerance 5 --fail-on-regression`,
		Args: cli.MinArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" && format != "markdown" {
				return fmt.Errorf("--format %q: want table, json or markdown", format)
			}
			if !(tolerance >= 0) {
				return fmt.Errorf("--tolerance must be >= 0, got %v", tolerance)
			}
			var regressions int
			err := withStore(dbPath, func(db *store.DB) (err error) {
				regressions, err = compareRuns(db, args, tolerance, format, stdout)
				return err
			})
			if err == nil && regressions > 0 && failOnRegression {
				return cli.Exit(exitFailure, nil)
			}
			return err
		},
	}
	compare.Flags().StringVar(&format, "format", "table", "table, json or markdown")
	compare.Flags().Float64Var(&tolerance, "tolerance", 10, "percent a figure may worsen before it is a regression")
	compare.Flags().BoolVar(&failOnRegression, "fail-on-regression", false, "exit 1 when any endpoint regressed")
	var notes string
	label := &cobra.Command{
		Use:     "label RUN_ID LABEL [flags]",
		Short:   "Set a stored run's label (and, with --notes, its notes)",
		Example: `  master runs label 20261207-231303-69c1 baseline --notes "before the cache change"`,
		Args:    cli.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withWritableStore(dbPath, func(db *store.DB) error {
				r, err := db.Run(args[0])
				if err != nil {
					return err
				}
				if !cmd.Flags().Changed("notes") {
					notes = r.Notes
				}
				return db.SetLabel(args[0], args[1], notes)
			})
		},
	}
	label.Flags().StringVar(&notes, "notes", "", "the run's notes (kept when not given)")
	del := &cobra.Command{
		Use:     "delete RUN_ID... [flags]",
		Short:   "Delete stored runs, their series and events",
		Example: `  master runs delete 20261207-231303-69c1`,
		Args:    cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withWritableStore(dbPath, func(db *store.DB) error {
				for _, id := range args {
					if _, err := db.Run(id); err != nil { // all or none: every id is checked first
						return err
					}
				}
				for _, id := range args {
					if err := db.DeleteRun(id); err != nil {
						return err
					}
					fmt.Fprintf(stdout, "deleted %s\n", id)
				}
				return nil
			})
		},
	}
	runs.AddCommand(list, show, compare, label, del)
	return runs
}

// newReportCommand is `master report RUN_ID -o FILE`.
func newReportCommand(stdout io.Writer) *cobra.Command {
	var dbPath, out string
	cmd := &cobra.Command{
		Use:     "report RUN_ID [flags]",
		Short:   "Write a stored run's self-contained HTML report",
		Example: "  master report 20261207-231303-69c1 -o report.html",
		Args:    cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			path := out
			if path == "" {
				path = "stampede-" + id + ".html"
			}
			return withStore(dbPath, func(db *store.DB) error {
				if err := writeReportFile(db, id, path); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "report of run %s written to %s\n", id, path)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&dbPath, "db", "stampede.db", "bbolt file that stores every run")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output file (default stampede-RUN_ID.html)")
	return cmd
}

// newCheckCommand is `master check SCRIPT`: validate a script, print its classes.
func newCheckCommand(stdout io.Writer) *cobra.Command {
	var vars, tags, exclude listFlag
	cmd := &cobra.Command{
		Use:     "check SCRIPT [flags]",
		Short:   "Check a behaviour script without running it: every error with file:line:col, or its user classes",
		Example: "  master check examples/shop/main.star --var BASE=/api",
		Args:    cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := checkScript(args[0], vars, tags, exclude, stdout)
			var problems script.Errors
			if errors.As(err, &problems) && len(problems) > 1 {
				// One problem a line, so a ported locustfile's hints read as a list.
				for _, p := range problems {
					fmt.Fprintln(cmd.ErrOrStderr(), p)
				}
				return cli.Failure(fmt.Errorf("%d problems", len(problems)))
			}
			if err != nil {
				return cli.Failure(err)
			}
			return nil
		},
	}
	cmd.Flags().Var(&vars, "var", "KEY=VALUE the script reads with env() (repeatable)")
	cmd.Flags().VarP(&tags, "tags", "T", "only tasks with one of these tags")
	cmd.Flags().VarP(&exclude, "exclude-tags", "E", "leave out tasks with any of these tags")
	return cmd
}

// withStore opens the store read-only for fn; what fails there is a failure (exit 1),
// not a usage error.
func withStore(path string, fn func(db *store.DB) error) error {
	return openStore(path, store.Options{ReadOnly: true}, fn)
}

// withWritableStore is withStore for the commands that change the store; the
// store must exist (a typo in --db creates nothing).
func withWritableStore(path string, fn func(db *store.DB) error) error {
	if _, err := os.Stat(path); err != nil {
		return cli.Failure(fmt.Errorf("open store: %w", err))
	}
	return openStore(path, store.Options{}, fn)
}

func openStore(path string, opts store.Options, fn func(db *store.DB) error) error {
	db, err := store.Open(path, opts)
	if err != nil {
		return cli.Failure(err) // store.Open says "open store: ..."
	}
	defer db.Close()
	if err := fn(db); err != nil {
		return cli.Failure(err)
	}
	return nil
}
