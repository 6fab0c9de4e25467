// Package report holds every view of a run: what people, browsers and CI read. The
// terminal table (per endpoint and aggregated) and the failures, the JSON summary
// written by --json, the live view the dashboard shows and pushes, a stored run
// ready to show (View), compare, the CSVs (Locust's stats, failures and exceptions
// columns, and the per-interval history), the self-contained HTML report
// (WriteHTML, with the assets package web gives it), and the thresholds' verdicts.
//
// It is views, not queries: it does not compute statistics (package aggregate does)
// and never reads the store. A stored run is read by store.DB.LoadRun and shown by
// View; the per-interval chart point is PointOf, for the live run and stored ones
// alike. pkg/layering_test.go fails if this package names store.DB.
//
// Concurrency: pure functions over values they are given, except Decimated, whose
// Add and Points belong to one goroutine; the slices Points returns may be read by
// any number of goroutines, as later Adds never change them.
package report
