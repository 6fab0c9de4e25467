package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/scenarios"
	"github.com/stampede-load/stampede/pkg/userbehavior"
	"github.com/stampede-load/stampede/pkg/userbehavior/script"
)

// resolve gives in-process workers their classes, like a remote worker would.
func resolve(sc userbehavior.Scenario, index, count int) ([]*userbehavior.Class, error) {
	return scenarios.Resolve(sc, scenarios.Placement{Index: index, Count: count})
}

// scriptScenario reads a script and the files beside it.
func scriptScenario(path, host string, vars, tags, exclude []string) (userbehavior.Scenario, error) {
	b, err := script.LoadDir(path)
	if err != nil {
		return userbehavior.Scenario{}, err
	}
	m := map[string]string{}
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return userbehavior.Scenario{Host: host, Script: &userbehavior.ScriptSpec{
		Main: b.Main, Files: b.Files, Vars: m, Tags: tags, ExcludeTags: exclude}}, nil
}

// checkScript validates a script and prints its classes (`master check`).
func checkScript(path string, vars, tags, exclude []string, stdout io.Writer) error {
	sc, err := scriptScenario(path, "", vars, tags, exclude)
	if err != nil {
		return err
	}
	res, err := scenarios.Load(sc, scenarios.Placement{Index: 0, Count: 1})
	if err != nil {
		return err
	}
	classes := res.Classes
	fmt.Fprintf(stdout, "%s: ok, %d user classes\n", path, len(classes))
	for _, c := range classes {
		fmt.Fprintf(stdout, "  %s\n", describeClass(c))
	}
	noteOrder(stdout, classes)
	if res.Program.HasShape() {
		fmt.Fprintln(stdout, "shape(): the script sets the users and ends the run: a headless run refuses -u and -t beside it")
	}
	return nil
}

// orderNote tells a Locust user that a tasks list is not what it is in Locust.
const orderNote = "note: tasks=[...] (or sequence(...)) runs the tasks in order, round and round; a Locust tasks list picks at random: write {a: 1, b: 1} for that"

// noteOrder prints orderNote when a class runs its tasks in order.
func noteOrder(w io.Writer, classes []*userbehavior.Class) {
	for _, c := range classes {
		if c.Sequential && len(c.Tasks) > 1 {
			fmt.Fprintf(w, "%s\n", orderNote)
			return
		}
	}
}

func describeClass(c *userbehavior.Class) string {
	share := fmt.Sprintf("weight %d", c.Weight)
	if c.FixedCount > 0 {
		share = fmt.Sprintf("fixed count %d", c.FixedCount)
	}
	names := make([]string, len(c.Tasks))
	for i, t := range c.Tasks {
		names[i] = t.Name
		if !c.Sequential {
			names[i] += fmt.Sprintf(" (%d)", t.Weight)
		}
	}
	order := "weighted"
	if c.Sequential {
		order = "in order"
	}
	return fmt.Sprintf("%s: %s, wait %s, tasks %s: %s", c.Name, share, c.Wait.String(), order, strings.Join(names, ", "))
}

// dryRun runs every task of every class n times, once each in order, and prints what
// was recorded. Nothing is stored.
func dryRun(ctx context.Context, sc userbehavior.Scenario, classes []*userbehavior.Class, n, onError int, stdout io.Writer) (int, error) {
	start := time.Now()
	col := aggregate.NewCollector(start)
	runner, err := userbehavior.NewRunner(userbehavior.RunnerConfig{Classes: classes, Host: sc.Host, Collector: col,
		Run: userbehavior.RunInfo{ID: "dry-run", WorkerCount: 1}})
	if err != nil {
		return exitUsage, err
	}
	noteOrder(stdout, runner.Classes())
	for _, c := range runner.Classes() {
		fmt.Fprintf(stdout, "dry run: %s x%d\n", describeClass(c), n)
		for range n {
			if err := runner.RunOnce(ctx, c.Name); err != nil {
				return exitFailure, err
			}
		}
	}
	snap := col.Swap(time.Now())
	fmt.Fprintln(stdout)
	if err := report.WriteTable(stdout, snap, time.Since(start)); err != nil {
		return exitFailure, err
	}
	if snap.Total().Failures > 0 || len(snap.Exceptions) > 0 {
		return onError, nil // --exit-code-on-error
	}
	return exitOK, nil
}
