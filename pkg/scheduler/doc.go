// Package scheduler plans where a load test's users run.
//
// It owns pure, deterministic planning:
//
//   - the user-class split: [SplitClasses] turns a user count into exact per-class counts
//     (fixed counts first, then weights by the largest-remainder method);
//   - the cluster plan: [Distribute] gives every live worker an absolute per-class target and
//     a spawn rate, so the cluster-wide totals and the cluster-wide spawn rate are exactly what
//     was asked for, while moving as few users as the balance rules allow when workers join,
//     leave or die, or when the run is edited;
//   - the order of changes on one worker: [Steps] interleaves classes in proportion, stops
//     first, then spawns;
//   - load shapes: [Stages], a value (users, or an arrival rate) as a function of the time
//     elapsed since the run started, from [ParseStages], [Preset] or [Constant].
//
// It does not own time, transport or state: it never sleeps, spawns goroutines, talks to
// workers, reads clocks or remembers earlier plans. The caller (the master's run controller)
// keeps what each worker runs, calls [Distribute] again whenever anything changes, sends each
// worker its [WorkerPlan], and the worker paces [Steps] at its SpawnRate. It imports only the
// standard library.
//
// # Balance rules
//
// For n workers and a class with total C, every worker runs C/n or C/n+1 users of that class
// (integer division), and every worker's total is T/n or T/n+1 for T users in all. Both rules
// always hold together. Within them, the plan keeps the users each worker already runs: it
// maximises the users left in place, so it minimises the users stopped and started; a worker
// stops a user only when no balanced plan lets every worker keep what it runs. Among plans that
// move equally few users it prefers the one where the fewest workers both stop and start, then
// the one that makes no worker start users it need not. Users of a worker that is not in the
// worker list (a lost worker) are re-homed on the survivors.
//
// # Spawn rate
//
// Let delta(w) be the users worker w must stop or start to reach its target, and D the sum of
// delta over all workers. When D > 0 a worker with delta(w) > 0 gets
// SpawnRate*delta(w)/D, so these rates add up to the requested rate and every worker
// finishes its changes at the same moment. A worker with nothing to change gets a standby rate
// of SpawnRate/n, used only if it is later told to change without a new plan; it adds no load.
// When D == 0 every worker gets SpawnRate/n.
//
// # Load shapes
//
// A shape is a list of stages "duration:target" ("30s:100,2m:100,30s:0"): the value starts at 0
// and moves linearly to each stage's target over its duration; a stage of duration 0 is a jump.
// Presets ([Preset]) build the test kinds from a peak and a total duration: spike (a jump from
// a 10% base to the peak and back), stairs (five equal steps up) and soak (ramp over 10%, hold,
// ramp down over 5%). Functions take the elapsed time and return values: the caller owns the
// clock.
//
// For users, the controller calls [Stages.UsersAt] on every tick and passes the target and
// spawn rate to [Distribute]; when it reports done, the run ends.
//
// For arrival rates (iterations per second, cluster-wide), [Stages.Iterations] is the exact
// integral of the rate and [Stages.Due] the instant iteration k (0-based) is due: the first
// nanosecond by which the integral reaches k+1. Worker i of n runs the iterations with
// k % n == i, so the cluster runs floor(Iterations(end)) of them, each once, and every worker's
// share is within 1 of the others'. A constant rate R for D is Constant(R, D).
//
// # Errors
//
// Invalid input is reported all at once with [errors.Join]; every problem matches
// [ErrInvalidRequest] with [errors.Is]. An empty worker list matches [ErrNoWorkers]. A bad shape
// names the stage and what is wrong with it (`stage 2 "30:100": duration "30" needs a unit,
// such as 30s`).
//
// # Concurrency
//
// Every function is pure: it reads its arguments, never changes them, returns fresh values
// and keeps no package-level state. All of it is safe for concurrent use. The same inputs give
// the same output whatever the order of the worker list and of map iteration.
package scheduler
