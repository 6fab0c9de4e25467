package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/stampede-load/stampede/pkg/aggregate/threshold"
	"github.com/stampede-load/stampede/pkg/controller"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/store"
	"github.com/stampede-load/stampede/pkg/userbehavior/script"
)

// Exit codes of a run's verdict (beside exitOK, exitFailure and exitUsage).
const (
	exitThresholds = 3 // the run completed and a threshold failed
	exitAborted    = 4 // the run was stopped before its end: a threshold's abort, or a signal
	exitIncomplete = 5 // the run sent no request, or a worker died or left with an error during it
)

// Executors: how load is generated.
const (
	executorUsers       = "ramping-users"         // closed model: a number of users, each looping
	executorConstant    = "constant-arrival-rate" // open model: a fixed rate of iterations
	executorRampingRate = "ramping-arrival-rate"  // open model: a rate that follows stages
)

// defaultMaxPool caps an open-model pool when --max-users is not given: a stalled
// target then holds at most this many requests in flight.
const defaultMaxPool = 1000

// loadFlags are the load-shape and verdict flags.
type loadFlags struct {
	Executor   string
	Rate       float64
	Stages     string
	Shape      string
	MaxUsers   int
	Thresholds headerList // repeatable, not comma-split: filters hold commas
	Baseline   string
	JUnit      string
}

func (l *loadFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&l.Executor, "executor", l.Executor, "ramping-users (closed model), constant-arrival-rate or ramping-arrival-rate (open model); default from --rate/--stages")
	fs.Float64Var(&l.Rate, "rate", l.Rate, "open model: iterations per second, cluster-wide (constant-arrival-rate; the peak with --shape)")
	fs.StringVar(&l.Stages, "stages", l.Stages, "load shape \"30s:100,2m:100,30s:0\": users, or iterations/s with --executor ramping-arrival-rate")
	fs.StringVar(&l.Shape, "shape", l.Shape, "preset load shape over --run-time: spike, stairs or soak (peak: --users, or --rate in the open model)")
	fs.IntVar(&l.MaxUsers, "max-users", l.MaxUsers, "open model: the pool of users may grow to this many (default max(--users, 1000))")
	fs.Var(&l.Thresholds, "threshold", "pass/fail criterion such as p95<300ms, error_rate<1%, p99{name=/login}<1s;abort (repeatable)")
	fs.StringVar(&l.Baseline, "baseline", l.Baseline, "stored run (id, or last-passed) that thresholds like p95<=baseline*1.10 compare with")
	fs.StringVar(&l.JUnit, "junit", l.JUnit, "headless: write one JUnit testcase per threshold to this file")
}

// executor returns the executor asked for, explicitly or by the flags given.
func (l *loadFlags) executor() string {
	switch {
	case l.Executor != "":
		return l.Executor
	case l.Rate > 0 && l.Stages == "":
		return executorConstant
	}
	return executorUsers
}

func (l *loadFlags) open() bool { return l.executor() != executorUsers }

// validate checks the load flags against the rest of the configuration.
func (l *loadFlags) validate(c *Config) []error {
	var errs []error
	switch l.executor() {
	case executorUsers, executorConstant, executorRampingRate:
	default:
		errs = append(errs, fmt.Errorf("--executor %q: want %s, %s or %s", l.Executor, executorUsers, executorConstant, executorRampingRate))
		return errs
	}
	if l.Rate < 0 || l.Rate > 1e7 {
		errs = append(errs, fmt.Errorf("--rate must be 0..10000000, got %v", l.Rate))
	}
	if l.Stages != "" && l.Shape != "" {
		errs = append(errs, errors.New("--stages and --shape exclude each other"))
	}
	if _, err := l.stages(c); err != nil {
		errs = append(errs, err)
	}
	if l.MaxUsers < 0 || l.MaxUsers > controller.MaxUsers {
		errs = append(errs, fmt.Errorf("--max-users must be 0..%d, got %d", controller.MaxUsers, l.MaxUsers))
	}
	if _, err := threshold.ParseAll(l.Thresholds); err != nil {
		errs = append(errs, fmt.Errorf("--threshold: %w", err))
	}
	if l.JUnit != "" && len(l.Thresholds) == 0 {
		errs = append(errs, errors.New("--junit writes one testcase per threshold: give --threshold"))
	}
	return errs
}

// stages is the run's shape: of users (closed model) or of the arrival rate (open
// model); nil when the run has none (a closed-model run of --users).
func (l *loadFlags) stages(c *Config) (scheduler.Stages, error) {
	open := l.open()
	switch {
	case l.Stages != "":
		st, err := scheduler.ParseStages(l.Stages)
		if err != nil {
			return nil, fmt.Errorf("--stages: %w", err)
		}
		if l.executor() == executorConstant {
			return nil, errors.New("--stages shapes a ramping executor: use --executor ramping-arrival-rate (or leave --executor out for users)")
		}
		return st, nil
	case l.Shape != "":
		peak := c.Users
		if open {
			peak = int(l.Rate + 0.5)
		}
		if c.RunTime <= 0 {
			return nil, fmt.Errorf("--shape %s lasts --run-time: give one", l.Shape)
		}
		st, err := scheduler.Preset(l.Shape, peak, c.RunTime)
		if err != nil {
			return nil, fmt.Errorf("--shape: %w", err)
		}
		return st, nil
	case l.executor() == executorRampingRate:
		return nil, errors.New("--executor ramping-arrival-rate needs --stages or --shape")
	case open:
		if l.Rate <= 0 {
			return nil, errors.New("--executor constant-arrival-rate needs --rate")
		}
		if c.RunTime <= 0 {
			return nil, errors.New("an arrival rate needs --run-time")
		}
		return scheduler.Constant(l.Rate, c.RunTime), nil
	}
	return nil, nil
}

// apply puts the shape and the thresholds into the controller's configuration; prog
// is the run's script as the master compiled it (nil when the scenario is not one).
func (l *loadFlags) apply(c *Config, rc *controller.Config, db *store.DB, prog *script.Program) error {
	st, err := l.stages(c)
	if err != nil {
		return err
	}
	if l.open() {
		rc.Arrival = st
		if l.Stages == "" {
			// --run-time is the shape's length here: the run ends with the shape,
			// a little after it (controller.Config.Arrival), so no iteration is cut.
			rc.RunTime = 0
		}
		rc.MaxPool = l.MaxUsers
		if rc.MaxPool == 0 {
			rc.MaxPool = max(c.Users, defaultMaxPool)
		}
	} else {
		rc.Stages = st
	}
	exprs := []string(l.Thresholds)
	if prog != nil {
		// The script's own thresholds and shape(), read on the master.
		exprs = append(exprs, prog.Thresholds()...)
		if prog.HasShape() && st == nil && !l.open() {
			rc.Shape = prog.Shape
		}
	}
	if rc.Thresholds, err = threshold.ParseAll(exprs); err != nil {
		return fmt.Errorf("thresholds: %w", err)
	}
	if l.Baseline != "" {
		in, id, err := loadBaseline(db, l.Baseline)
		if err != nil {
			return err
		}
		rc.Baseline = &in
		if rc.Progress != nil {
			fmt.Fprintf(rc.Progress, "thresholds compare with the baseline run %s\n", id)
		}
	}
	return nil
}

// errShapeFlags refuses -u and -t beside a script's shape(), as Locust refuses them
// with a LoadShape: one of the two would be ignored.
var errShapeFlags = errors.New("the script's shape() sets the users and ends the run: leave out -u/--users and -t/--run-time (or give --stages, --shape or --rate, which replace shape())")

// refuseWithShape returns errShapeFlags when the script's shape() would drive the
// run (no --stages, --shape or open model) and -u or -t was given too; prog is the
// compiled script (nil when there is none).
func (l *loadFlags) refuseWithShape(c *Config, prog *script.Program) error {
	if prog == nil || !prog.HasShape() || (!c.UsersGiven && c.RunTime == 0) || l.Stages != "" || l.Shape != "" || l.open() {
		return nil
	}
	return errShapeFlags
}

// loadBaseline reads the stored run thresholds compare with: an id, or
// "last-passed", the newest completed run whose thresholds (if any) all passed.
func loadBaseline(db *store.DB, which string) (threshold.Input, string, error) {
	id := which
	if which == "last-passed" {
		runs, err := db.Runs()
		if err != nil {
			return threshold.Input{}, "", err
		}
		id = ""
		for _, r := range runs {
			if r.Status == store.StatusCompleted && r.Summary.ThresholdsPassed() {
				id = r.ID
				break
			}
		}
		if id == "" {
			return threshold.Input{}, "", errors.New("--baseline last-passed: no completed run has passed its thresholds yet")
		}
	}
	view, err := loadView(db, id)
	if err != nil {
		return threshold.Input{}, "", fmt.Errorf("--baseline: %w", err)
	}
	return report.BaselineInput(view), id, nil
}

// verdict prints the thresholds' summary, writes the JUnit file and returns the exit
// code the run's outcome calls for (0 when nothing is wrong).
func (l *loadFlags) verdict(w io.Writer, res controller.Result) (int, error) {
	if len(res.Thresholds) > 0 {
		fmt.Fprintln(w, "\nThresholds:")
		if err := threshold.Summary(w, res.Thresholds); err != nil {
			return exitFailure, err
		}
	}
	if l.JUnit != "" {
		f, err := os.Create(l.JUnit)
		if err != nil {
			return exitFailure, fmt.Errorf("--junit: %w", err)
		}
		err = threshold.WriteJUnit(f, "stampede "+res.Run.ID, res.Thresholds, res.Duration)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return exitFailure, fmt.Errorf("--junit: %w", err)
		}
		fmt.Fprintf(w, "JUnit report written to %s\n", l.JUnit)
	}
	switch {
	case res.Aborted:
		return exitAborted, nil
	case !threshold.Passed(res.Thresholds):
		return exitThresholds, nil
	}
	return exitOK, nil
}
