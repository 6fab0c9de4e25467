// Package export pushes a run's merged figures to where teams already look:
// Prometheus remote-write (protocol 1.0, with native histograms), one series set
// for the whole cluster.
//
// It owns the conversion of merged HdrHistograms into Prometheus native
// histograms (native.go), the cumulative series of a run (series.go) and the
// bounded, retrying push to each receiver (remote.go). It does not merge reports
// (package controller does and hands every closed interval over) and does not
// read flags (cmd/master does).
//
// Concurrency: Interval is called by the controller's loop and only adds the
// interval into the run's cumulative state under a mutex, never waiting on the
// network. Each receiver has one goroutine that builds nothing and only sends
// queued requests; a bounded queue drops the oldest request when a receiver is
// slow or down (counted, warned once). Start runs the goroutines until Close,
// which flushes what is queued within its context's deadline.
package export
