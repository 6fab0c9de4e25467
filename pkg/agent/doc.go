// Package agent is the worker's loop: it dials the master with backoff, says hello,
// runs users as the master commands (spawning and stopping them at the commanded rate
// with a userbehavior.Runner), reports every interval, and stops all load at once when
// it loses the master — by a broken stream or by SilenceTimeout without a word — then
// tries to reconnect.
//
// It does not plan cluster-wide (the master does, with package scheduler) and does not
// know protobuf (package cluster converts).
//
// Concurrency: Run owns every goroutine it starts (the stream reader, the spawn pacer,
// the graceful stopper, and through the Runner the users) and returns only after all
// have ended.
//
// Time: the loop reads the time only through package time (tickers, timers,
// time.Now) and speaks to its master through a small link, over gRPC a
// *cluster.Session. Its tests run it whole in testing/synctest bubbles against an
// in-memory master and target (fake_test.go), so pacing, the silence brake and the
// drain are asserted to the nanosecond of the bubble's clock, whatever the load.
package agent
