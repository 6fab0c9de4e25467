// Package report turns a run's final snapshot into what people and CI read: the
// terminal table (per endpoint and aggregated), the failures table, and the JSON
// summary written by --json.
//
// It does not compute statistics (package aggregate does) or read the store.
//
// Concurrency: pure functions over values they are given, except Decimated, whose
// Add and Points belong to one goroutine; the slices Points returns may be read by
// any number of goroutines, as later Adds never change them.
package report
