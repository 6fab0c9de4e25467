// Package script runs user behaviour written in Starlark, the Python dialect of
// go.starlark.net: Stampede's answer to Locust's locustfiles. A script declares user
// classes; Compile turns a bundle of scripts and data files into userbehavior.Classes
// that a userbehavior.Runner runs like Go-defined ones.
//
// # What it owns, what it does not
//
// It owns the script language: the bundle (LoadDir, MaxBundleBytes), compiling and
// validating it (Compile, Errors), the built-ins scripts call, and the per-user
// script state. It does not send requests itself (userbehavior.HTTPClient does), does
// not pick tasks or wait (userbehavior.Runner does), and does not ship bundles (the
// master and workers do).
//
// # Concurrency
//
// Compile runs the top level of every module once; the module globals are then
// frozen, and a Program is shared by all users of a worker and safe for concurrent
// use. Each user gets, in Class.Setup, its own session and user value (kept in
// userbehavior.User.State), used only by the user's goroutine; a task call borrows a
// Starlark thread from the Program's pool for the call only. Feeders (data.csv) are
// shared and hand out rows atomically. Nothing on the per-request path takes a lock or
// registers anything with the user's context: a call looks at its context every
// 10,000 Starlark steps.
//
// # A first script
//
// A script is a Starlark file that defines task functions and assigns user classes
// to globals; the global's name is the class name:
//
//	def browse(u):
//	    r = u.http.get("/api/items", params={"page": "2"}, name="/api/items")
//	    check(r.status == 200, "item list failed")
//
//	def item(u):
//	    u.http.get("/api/items/%d" % random.randint(1, 1000), name="/api/items/[id]")
//
//	Shop = user(tasks={browse: 3, item: 5}, wait=between(0.5, 2))
//
// Each user of Shop picks browse or item at random, 3 to 5, and waits 0.5 to 2 s
// between tasks. Run it with `master --script shop.star --host http://target`;
// `master check shop.star` only validates it and `--dry-run 1` runs every task once.
//
// # User classes
//
//	Name = user(tasks=..., weight=1, fixed_count=0, wait=None, on_start=None, on_stop=None)
//
// tasks is a dict {task: weight} (picked at random by weight, weights >= 1) or a
// list [task, ...] or sequence(task, ...) (run in order, round and round: unlike
// Locust's tasks list, which picks at random; write {a: 1, b: 1} for that). A task is a function of one
// parameter, the user, or task(fn, tags=[...], name="...") to tag or rename it.
// weight is the class's share of the users (>= 1); fixed_count > 0 asks for exactly
// that many users of the class instead. on_start and on_stop run once per user,
// before its first task and after its last. user() takes keyword arguments only.
//
// Waits: between(min, max), constant(s), constant_pacing(s) (a task starts every s
// seconds, whatever it took), constant_throughput(n) (n tasks per second per user),
// and none, none() or wait=None: no wait. Durations are seconds (int or float) or
// time.duration values (2 * time.second).
//
// Tags select tasks for a run, as Locust's --tags and --exclude-tags do:
//
//	Api = user(tasks={
//	    task(browse, tags=["read"]): 3,
//	    task(buy, tags=["write", "slow"]): 1,
//	})
//
// With Options.Tags only tasks having one of those tags run (untagged tasks do not);
// a task with one of Options.ExcludeTags never runs. A class left without tasks is
// dropped; when every class is, Compile fails.
//
// # The user
//
// Tasks get u: u.id (unique on the worker), u.class_name, u.vars (a dict
// of this user's own state, kept across tasks: tokens, ids) and u.http, the user's
// HTTP session (its own cookie jar). Where it runs: u.worker_index (0-based) of
// u.worker_count workers of the run, u.run_id, and u.user_count, the users its
// worker runs now (Locust's runner.user_count on a worker).
//
// # HTTP
//
//	r = u.http.get(url, params=None, headers=None, name=None, timeout=None,
//	               expect=None, allow_redirects=True, json=None, data=None)
//
// and post, put, patch, delete, head, options the same; u.http.request(method, url,
// ...) for any method. url is absolute or a path resolved against the run's host.
// name groups dynamic URLs in one statistics row ("/item/[id]"); json= sends a value
// as JSON, data= a string, bytes, or a dict as a form; timeout is in seconds; expect
// is the accepted status or list (tuple, range) of statuses (by default any status
// < 400). Header names in headers= are case-insensitive: names that differ only in
// case send all their values, in the dict's order.
//
// The response r has r.status (also r.status_code), r.ok, r.error (the failure
// message or None), r.text, r.json(), r.headers (a dict with canonical keys:
// "Content-Type"), r.header(name) (any case), r.size (body bytes), r.elapsed and
// r.ttfb (seconds, total and to the response headers). Cookies stay in the user's
// session.
//
// A response is recorded when the user's next request starts or the task ends. Until
// then its verdict can change: r.fail("sold out") fails a 200, r.succeed() accepts an
// expected 404, and check(cond, "message") fails the last response when cond is false:
//
//	def buy(u):
//	    r = u.http.post("/api/checkout", json={"id": 1}, expect=[200, 409])
//	    if r.status == 409:
//	        r.fail("sold out")
//	    check("order" in r.json(), "no order in the reply")
//
// check returns cond as a bool; with no response pending it records a failed row
// (kind CHECK, named by the message). Checks are not counted when they pass.
//
// # Model servers
//
// u.llm.chat(messages, model=, max_tokens=, stream=True, extra=, name=, timeout=,
// path=, headers=, expect=, slo=) and u.llm.completion(prompt, ...) call an
// OpenAI-compatible server at the run's host. Besides the request (its whole time),
// a streamed answer records TTFT (time to the first chunk with content) and ITL (one
// sample per output token after the first chunk) under the request's name, and every
// answer counts tokens_in and tokens_out; with slo= ({"ttft": "500ms", "itl.p99":
// "60ms", "e2e": "10s", "tps": 20}) a request that succeeded and met every objective
// counts as goodput. The result has the response's attributes and text, tokens_in,
// tokens_out, ttft, tps, finish_reason, counted and met_slo. See
// docs/model-serving.md.
//
// # Streaming
//
// u.http.stream(method, url, sse=False, ...) takes the arguments of request.
// Iterating it sends the request and yields the body as it arrives: each chunk read,
// or with sse=True the data of each server-sent event. Besides the request, time to
// first chunk is recorded as kind TTFC and every gap between chunks as kind ICL
// (inter-chunk latency), under the request's name. A chunk may carry several tokens:
// for a model server's time to first token and per-token latency use u.llm. After the loop, s.response is the response; leaving the loop early (break)
// closes the stream and still counts as a success when the status was accepted.
//
//	s = u.http.stream("POST", "/v1/completions", json={"prompt": "hi"}, sse=True)
//	for event in s:
//	    if event == "[DONE]":
//	        break
//	check(s.response.status == 200, "completion failed")
//
// # Measurements other than HTTP
//
//	record("db_query", 0.012, ok=True, error="", kind="CUSTOM")   # one sample, seconds
//	t = timer("compute")          # Starlark has no `with`: stop it yourself
//	...
//	t.stop()                      # or t.stop(ok=False, error="bad result"); returns seconds
//	count("cache_hit")            # count(name, n=1): a counter merged across the cluster
//
// A timer not stopped when its task ends is recorded as a failure.
//
// # Errors
//
// Starlark has no exceptions. A runtime error in a task (or fail("message"), which
// raises one on purpose) ends the task; the runner counts it in the exceptions view
// with its traceback, and the user goes on with its next task. A task call may take
// Options.StepBudget Starlark steps (a runaway `while True: pass` is stopped) and
// Options.TaskTimeout of wall time; stopping the user cancels its task: a request or
// sleep in progress at once, Starlark code within 10,000 steps. The
// top level of the bundle runs within one StepBudget too, at Compile.
//
// # Data and helpers
//
//	items = data.csv("items.csv", mode="unique")   # top level only; path relative to the script
//	row = items.next()                             # in a task: a dict of column to string
//
// mode="unique" hands each row out once across the whole cluster (each worker gets
// rows i with i % Options.Slice.Count == Options.Slice.Index) and then fails the
// task with "feeder items.csv exhausted", or, with items.next(default=None), returns
// the default; items.remaining() is how many rows this worker has left.
// mode="cycle" goes round the worker's rows (all rows when its slice is empty). Rows are shared and read-only: dict(row) copies.
//
// Also: env("NAME", default) reads --var NAME=VALUE (no default: an error when
// unset); uuid(); sleep(seconds) (ends when the user stops); stop_run(reason) (the
// master stops the whole run and stores the reason; a dry run counts it); random.random(),
// randint(a, b), uniform(a, b), choice(seq), shuffle(list), drawn from the user's own
// generator; json.encode/decode/indent; time.now(), time.parse_duration and the rest
// of go.starlark.net/lib/time; math. print() output is discarded.
//
// # Modules
//
// load("lib.star", "login") loads another file of the bundle, by a path relative to
// the loading file; it cannot leave the bundle, and a cycle is an error. Each module
// runs once, at Compile.
//
// # Run settings
//
// The main file may also declare, at its top level, what the master reads before the
// run (workers ignore them):
//
//	thresholds = ["p95<300ms", "error_rate<1%"]   # added to --threshold
//
//	def shape(elapsed):          # seconds since the run began, asked each second
//	    if elapsed < 60:
//	        return (int(elapsed) * 10, 10)   # (users, spawn rate); or just users
//	    return None                          # the run ends
//
// shape() drives a closed-model run unless --stages, --shape or --rate is given.
//
// # The dialect
//
// Starlark as go.starlark.net defines it, with while loops, if/for/while at the top
// level, and set(). A global is assigned once per module (two def of the same name
// are an error), and recursion is an error rather than a stack overflow. Module
// globals are frozen after Compile: tasks keep mutable state in u.vars or in local
// variables, never in globals (a task that appends to a global list fails with
// "cannot append to frozen list").
//
// # Validation
//
// Compile reports every problem as "file:line:col: message" before anything runs:
// syntax and undefined names, loads of missing files, non-UTF-8 files, bundles over
// MaxBundleBytes, bad waits (between(5, 1)), weights <= 0, classes without tasks,
// tasks that are not functions of one parameter, unknown arguments of user(), literal
// arguments of the wrong type to http methods (u.http.get(42)), and no user classes.
package script
