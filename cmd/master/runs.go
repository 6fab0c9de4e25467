package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/store"
)

// loadView reads a stored run and makes it ready to show.
func loadView(db *store.DB, id string) (*report.RunView, error) {
	d, err := db.LoadRun(id)
	if err != nil {
		return nil, err
	}
	return report.View(d)
}

func compareRuns(db *store.DB, ids []string, tolerance float64, format string, w io.Writer) (int, error) {
	views := make([]*report.RunView, 0, len(ids))
	for _, id := range ids {
		v, err := loadView(db, id)
		if err != nil {
			return 0, err
		}
		views = append(views, v)
	}
	c := report.Compare(views, tolerance)
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return c.Regressions, enc.Encode(c)
	}
	for i, r := range c.Runs {
		fmt.Fprintf(w, "#%d %s  %s  %s\n", i+1, r.ID, r.Status, r.Label)
	}
	fmt.Fprintln(w)
	return c.Regressions, report.WriteComparison(w, c, format)
}

func listRuns(db *store.DB, w io.Writer) error {
	runs, err := db.Runs()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tSTARTED\tDURATION\tPEAK USERS\tREQUESTS\tFAIL %\tRPS\tP95\tLABEL")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%.1f\t%s\t%s\n", r.ID, r.Status,
			r.StartedAt.Local().Format("2006-01-02 15:04:05"), duration(r), r.Summary.PeakUsers,
			r.Summary.Requests, failPct(r.Summary), r.Summary.RPS, report.Millis(r.Summary.P95), r.Label)
	}
	return tw.Flush()
}

func showRun(db *store.DB, id string, w io.Writer) error {
	r, err := db.Run(id)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "run      %s\nstatus   %s\n", r.ID, r.Status)
	if r.Reason != "" {
		fmt.Fprintf(w, "reason   %s\n", r.Reason)
	}
	fmt.Fprintf(w, "started  %s\nduration %s\nlabel    %s\n", r.StartedAt.Local().Format(time.RFC3339), duration(r), r.Label)
	if r.Notes != "" {
		fmt.Fprintf(w, "notes    %s\n", r.Notes)
	}
	if s := r.Summary.Since; !s.IsZero() && s.After(r.StartedAt) {
		fmt.Fprintf(w, "totals   since the statistics reset at +%s\n", s.Sub(r.StartedAt).Round(time.Millisecond))
	}
	fmt.Fprintf(w, "config   %s\n\n", string(r.Config))
	snap, err := db.Final(id)
	if errors.Is(err, store.ErrRunNotFound) {
		// No final snapshot (the run was interrupted): what its intervals hold.
		snap, err = mergeIntervals(db, id)
	}
	if err != nil {
		return err
	}
	d := r.EndedAt.Sub(r.StartedAt)
	if err := report.WriteTable(w, snap, d); err != nil {
		return err
	}
	if ts := r.Summary.Thresholds; len(ts) > 0 {
		fmt.Fprintln(w, "\nThresholds:")
		for _, v := range ts {
			verdict, detail := "PASS", "observed "+v.Observed+", limit "+v.Limit
			if !v.Pass {
				verdict = "FAIL"
			}
			if v.Err != "" {
				detail = v.Err
			}
			fmt.Fprintf(w, "  %s  %s  %s\n", verdict, v.Expr, detail)
		}
	}
	events, err := db.Events(id)
	if err != nil {
		return err
	}
	if len(events) > 0 {
		fmt.Fprintln(w, "\nEvents:")
		for _, e := range events {
			fmt.Fprintf(w, "  +%-8s %-14s %-20s %s\n", e.At.Sub(r.StartedAt).Round(100*time.Millisecond), e.Kind, e.Worker, e.Detail)
		}
	}
	return nil
}

func mergeIntervals(db *store.DB, id string) (*aggregate.Snapshot, error) {
	ivs, err := db.Intervals(id)
	if err != nil {
		return nil, err
	}
	out := aggregate.NewSnapshot(time.Time{})
	for _, iv := range ivs {
		out.Merge(iv.Snapshot)
	}
	return out, nil
}

func duration(r store.Run) string {
	if r.EndedAt.IsZero() {
		return "-"
	}
	return r.EndedAt.Sub(r.StartedAt).Round(time.Second).String()
}

func failPct(s store.Summary) string {
	if s.Requests == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", 100*float64(s.Failures)/float64(s.Requests))
}
