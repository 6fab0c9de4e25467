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
package agent
