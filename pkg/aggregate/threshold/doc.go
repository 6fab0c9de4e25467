// Package threshold parses and evaluates the pass/fail criteria of a run (the --threshold
// flag, repeatable, and thresholds in scripts), and reports verdicts as a terminal summary and
// as JUnit XML.
//
// # Expressions
//
//	metric[{filter}] op value[;abort[=grace]]
//
// Request metrics, over all endpoints or those the filter selects:
//
//	p95 p99 p99.9 ...  latency percentile (pNN, 0 < NN <= 100)    p95<100ms  p99{name=/login}<300ms
//	avg med min max    mean (exact), median, lowest, highest      avg<50ms   max<2s
//	error_rate         failures / requests                       error_rate<1%
//	failures requests  counts                                     failures==0  requests>=1000
//	rps                requests / elapsed seconds                 rps>200  rps{name=/login}>10
//
// Without a method filter a request metric covers the requests themselves: rows that time a
// part of a request (TTFB, CONNECT, TLS, SERVER, TTFC, ICL, TTFT, ITL) count only when the
// filter names their method, as the Aggregated row leaves them out.
//
// Model requests (u.llm): ttft.<stat> and itl.<stat>, stat one of pNN, avg, med, min, max, are
// that figure of the TTFT or ITL rows (ttft.p95{name=chat}<500ms is p95{name=chat,method=TTFT});
// tokens_in, tokens_out (counts) and output_tokens_per_s (a rate), over the run or one row with
// {name=...}; goodput (requests that met their slo= per second) and goodput_ratio (a
// percentage of the requests judged), over the run.
//
// Run metrics (no filter): users (users running), dropped (iterations dropped because no user
// was free): users>=50, dropped==0.
//
// Telemetry, as report.TelemetryNames names it: <role>.<host>.<series>, role agent or worker,
// host a host id or * (every host of the role; each must pass, and the verdict reports the
// worst). Series: cpu, process_cpu, gpu.util (percent), mem, mem_total (bytes), sched_lag_ms (a
// latency). Over the run a series is reduced to its mean, or with a function to its min(...),
// max(...), avg(...) or last(...) reading. <series>_slope is the least-squares slope of the
// series over time, per /s or /min: agent.api.cpu<80%, max(agent.api.cpu)<90%,
// agent.api.mem<16GiB, agent.api.mem_slope<1MiB/min, worker.*.cpu<85%.
//
// Filters: {name=/login}, {method=POST}, {method=POST,name=/api/x}. They match an endpoint's
// Name and Method exactly (no globs). A value holding , } or " or surrounding spaces is written
// in double quotes: {name="/search?q=a,b"}.
//
// Operators: < <= > >= == !=.
//
// Values and units. Each metric takes the units of its kind; anything else is an error:
//
//   - latencies: ns, us, µs, ms, s, m, h; always with a unit (p95<100 is an error);
//   - percentages (error_rate, cpu, process_cpu, gpu.util): %; a fraction is not accepted
//     (error_rate<0.01 is an error: write error_rate<1%), except a bare 0;
//   - memory: B, KiB, MiB, GiB, TiB (1024) and KB, MB, GB, TB (1000); a bare 0 is allowed;
//   - counts (failures, requests, users, dropped): a plain number;
//   - rps: a plain number, or with /s;
//   - slopes: the series' unit per /s or per /min (1MiB/min, 0.5%/min, 2ms/s), or a bare 0;
//     only slopes may be negative.
//
// Baselines: baseline[*factor] is the same metric measured on the baseline run (a stored run
// the caller loads): p95<=baseline*1.10, rps>=baseline*0.95. A telemetry baseline needs a named
// host, not *.
//
// Options: ;abort stops the run as soon as the threshold fails; ;abort=30s only once 30 s have
// passed since the run started (k6's delayAbortEval): before that the failure is reported but
// does not abort. A threshold with no data never aborts.
//
// # Evaluation
//
// [Threshold.Eval] works on an [Input]: the cumulative Snapshot merged over all workers, the
// elapsed time, users, dropped iterations and a [Telemetry] source. Percentiles come from the
// merged HdrHistogram (aggregate.Histogram.Percentile) of all requests, failed ones included;
// avg is the exact mean (Stats.Mean). A metric without data fails with [Result.Err] set:
// no requests (latency, error_rate), a filter that matches no endpoint, rps before any time
// has elapsed, a missing series, a baseline that lacks the metric. Counts are data even when 0.
//
// Canonical units of Threshold.Value and Result.Observed: nanoseconds, a fraction (1% = 0.01),
// bytes, per second (rps, slopes), plain counts.
//
// # Reports
//
// [Summary] writes the block the terminal shows at the end of a run; [WriteJUnit] writes one
// JUnit testcase per threshold so CI systems list them.
//
// # What it does not own
//
// Flags, reading scripts, loading the baseline run, stopping the run or exit codes: the caller
// (the master's run controller and cmd/master) does these. The package imports only
// pkg/aggregate and the standard library.
//
// # Concurrency
//
// Thresholds and Results are values; every function is pure and safe for concurrent use as
// long as the Input's Snapshot and Telemetry are not mutated during Eval.
package threshold
