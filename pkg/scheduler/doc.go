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
//     first, then spawns.
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
// # Errors
//
// Invalid input is reported all at once with [errors.Join]; every problem matches
// [ErrInvalidRequest] with [errors.Is]. An empty worker list matches [ErrNoWorkers].
//
// # Concurrency
//
// Every function is pure: it reads its arguments, never changes them, returns fresh values
// and keeps no package-level state. All of it is safe for concurrent use. The same inputs give
// the same output whatever the order of the worker list and of map iteration.
package scheduler
