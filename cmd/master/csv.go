package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/store"
)

// writeCSVFiles writes Locust's --csv files of a stored run: PREFIX_stats.csv,
// PREFIX_stats_history.csv, PREFIX_failures.csv and PREFIX_exceptions.csv, with the
// dashboard's writers (pkg/report/csv.go), so both give the same figures.
func writeCSVFiles(db *store.DB, id, prefix string, fullHistory bool) error {
	d, err := db.LoadRun(id)
	if err != nil {
		return err
	}
	v, err := report.View(d)
	if err != nil {
		return err
	}
	files := []struct {
		suffix string
		write  func(io.Writer) error
	}{
		{"_stats.csv", func(w io.Writer) error { return report.WriteStatsCSV(w, v) }},
		{"_stats_history.csv", func(w io.Writer) error {
			return report.WriteStatsHistoryCSV(w, d.Run.StartedAt, d.Intervals, fullHistory)
		}},
		{"_failures.csv", func(w io.Writer) error { return report.WriteFailuresCSV(w, v) }},
		{"_exceptions.csv", func(w io.Writer) error { return report.WriteExceptionsCSV(w, v) }},
	}
	for _, file := range files {
		f, err := os.Create(prefix + file.suffix)
		if err != nil {
			return fmt.Errorf("--csv: %w", err)
		}
		if err := errors.Join(file.write(f), f.Close()); err != nil {
			return fmt.Errorf("--csv %s: %w", prefix+file.suffix, err)
		}
	}
	return nil
}
