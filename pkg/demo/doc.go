// Package demo owns the built-in "demo" scenario: a system under test and the user
// classes that load it, so `make run` shows a realistic test with nothing else running.
//
// The [Target] is a small shop API served over HTTP with JSON answers of realistic
// sizes:
//
//	GET  /                   home page, HTML, about 2 KB
//	GET  /api/items          a page of 20 items (?page=1..50), about 4 KB
//	GET  /api/items/{id}     one item, id 1..1000; 404 for any other id
//	GET  /api/search?q=TERM  up to 20 items whose name or category has TERM; 400 without q;
//	                         slow, long tail
//	POST /api/login          {"username":…}; sets the session cookie
//	POST /api/cart           {"item_id":…,"quantity":…}; 401 without a valid session
//	POST /api/checkout       401 without a valid session; the slowest; 503 at ErrorRate
//	GET  /health             {"status":"ok"}, at once
//
// Every endpoint but /health waits a log-normal delay (medians 5–60 ms, p99 3–8 times
// the median) times [TargetConfig.LatencyScale] before it answers; the wait ends early
// when the request's context does (client gone, server stopping). Delays and failures
// are drawn from a PCG seeded by [TargetConfig.Seed] and the request's arrival number,
// so one arrival order always gives the same run. [Target.Served] counts the requests
// each endpoint received, for exact end-to-end checks. [Classes] returns the Browser and
// Buyer user classes that exercise it.
//
// The package does not run load, choose the host or the user count, or record
// statistics: that is package userbehavior and its callers. It imports only
// userbehavior and the standard library.
//
// Concurrency: a Target is safe for concurrent use by any number of requests; it holds
// no lock per request (counters are atomic, each request has its own random stream,
// sessions are signed cookies, not server state) and its content is read-only after
// [NewTarget]. [Target.Start] owns the server's goroutines: they end when its context
// ends or its stop function is called, and stop waits for them. The classes' task
// functions keep their state in the User they are given.
package demo
