// Package aggregate owns Stampede's numbers: latency histograms, per-endpoint
// statistics, interval and cumulative merging, percentiles, error grouping,
// and the compact binary encoding of all of these.
//
// # What it owns
//
//   - Histogram: an HdrHistogram of latencies in microseconds, 1 µs to 1 h, 3
//     significant digits, with exactly the buckets and percentiles of
//     github.com/HdrHistogram/hdrhistogram-go (the tests hold it to the
//     library). Merging is lossless, so a percentile of histograms merged from
//     many workers is the percentile of all their samples, not an average.
//   - Stats: one endpoint's counters (requests, failures, bytes, exact total
//     time) and its Histogram.
//   - Snapshot: the Stats of every endpoint and the grouped errors
//     (ErrorKey → count, capped by MaxErrorKinds) between Start and End.
//     Snapshot.Merge builds interval statistics (reports of all workers for
//     one interval) and cumulative ones (all intervals) alike. Distinct
//     endpoints are capped at MaxEndpoints (dynamic URLs nobody grouped under a
//     name): the rest count under their method's OtherEndpoints row, and
//     Capped says so.
//   - Recorder and Collector: the worker's hot path. Each simulated user owns
//     a Recorder that buffers samples without locks; the Collector merges
//     their batches into the current interval and Swap hands the interval over
//     once per report tick.
//   - MarshalBinary / UnmarshalBinary for Histogram and Snapshot: a versioned,
//     canonical, compact format (a typical endpoint interval of 1000 samples
//     is under 2 KB). Decoding treats its input as hostile: it never panics,
//     allocates no more than the input can justify, and rejects anything
//     malformed with an error wrapping ErrMalformed.
//
// # What it does not own
//
// No network, no storage, no clocks (callers pass the time), no logging, and
// no imports of Stampede's other packages: proto conversion lives at the
// gRPC edge (pkg/cluster), persistence in store, display in report and web.
//
// # Concurrency
//
//   - Histogram, Stats and Snapshot are values: not safe for concurrent
//     mutation; concurrent read-only use is safe while nothing mutates them.
//   - Recorder belongs to one goroutine: Record and Flush must not be called
//     concurrently on the same Recorder. Record takes no lock, sends on no
//     channel and does not allocate; the Collector's lock is taken once per
//     batch (BatchSize samples, or the first sample FlushAge old, or Flush).
//   - Collector is safe for concurrent use: any number of Recorders flush into
//     it while another goroutine calls Swap. A Snapshot returned by Swap
//     belongs to the caller.
//
// # Typical use
//
// On a worker:
//
//	c := aggregate.NewCollector(time.Now())
//	// per user goroutine:
//	r := c.NewRecorder()
//	r.Record(aggregate.Sample{Endpoint: ep, Latency: d, Bytes: n, Err: msg}, time.Now())
//	r.Flush() // before sleeping and when stopping
//	// on the report tick:
//	payload, _ := c.Swap(time.Now()).MarshalBinary()
//
// On the master:
//
//	var report aggregate.Snapshot
//	if err := report.UnmarshalBinary(payload); err != nil { ... }
//	interval.Merge(&report)
//	cumulative.Merge(&report)
//	p99 := cumulative.Endpoints[ep].Latency.Percentile(99)
package aggregate
