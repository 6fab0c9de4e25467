// Package controller is the master's run controller: it waits for workers, plans
// users over them with package scheduler, sends every worker its absolute target,
// re-plans when a worker joins, leaves or is lost, merges the workers' reports into
// 1 s intervals and a cumulative snapshot, stores both (package store), prints
// progress, and ends the run by collecting every worker's final report so the totals
// are exact.
//
// It does not speak protobuf (package cluster does) and does not format reports.
//
// A run (run.go) holds its parts: the plan (plan.go: replan and the open-model
// arrival plan), the interval accounting (intervals.go: the open interval, the totals,
// the rate window), the report-number ledger (ledger.go: a report counted once, a
// skipped one said), and the dashboard's live view and timeline (live.go).
//
// Concurrency: Run owns all run state in one goroutine — the one that called it — and
// consumes cluster events from there; it starts no goroutine of its own.
package controller
