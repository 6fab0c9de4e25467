package scheduler

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
)

// ErrNoWorkers is returned by [Distribute] when the worker list is empty.
var ErrNoWorkers = errors.New("no workers")

// Request is what the user asked for, cluster-wide.
type Request struct {
	Classes   []Class
	Users     int
	SpawnRate float64 // users per second, cluster-wide; > 0
}

// Assignment is how many users of each class each worker runs (worker id -> class name -> users).
type Assignment map[string]map[string]int

// WorkerPlan is one worker's absolute target.
type WorkerPlan struct {
	Users     map[string]int // class -> users (every class of the request present, 0 allowed)
	SpawnRate float64        // users/s this worker spawns or stops at
}

// Plan is the cluster-wide plan.
type Plan struct {
	Classes map[string]int        // global per-class totals (== SplitClasses)
	Workers map[string]WorkerPlan // one entry per worker given
}

// Assignment returns the plan's targets as an Assignment (a fresh copy), ready to be passed as
// current to the next [Distribute] once the workers have reached them.
func (p Plan) Assignment() Assignment {
	a := make(Assignment, len(p.Workers))
	for id, w := range p.Workers {
		a[id] = maps.Clone(w.Users)
	}
	return a
}

// Validate reports, all at once, what Distribute would refuse in req whatever the
// workers: its classes and user count (as SplitClasses) and its spawn rate.
func (req Request) Validate() error {
	_, err := SplitClasses(req.Classes, req.Users)
	return errors.Join(err, checkSpawnRate(req.SpawnRate))
}

// ValidateLoad reports, all at once, what planning refuses in a user count and a
// spawn rate alone: an edit of a run whose classes were validated when it began.
func ValidateLoad(users int, spawnRate float64) error {
	return errors.Join(checkUsers(users), checkSpawnRate(spawnRate))
}

func checkSpawnRate(r float64) error {
	if math.IsNaN(r) || math.IsInf(r, 0) || r <= 0 {
		return invalidf("spawn rate %v: must be a finite number > 0", r)
	}
	return nil
}

func checkUsers(users int) error {
	if users < 0 {
		return invalidf("users %d: must be >= 0", users)
	}
	return nil
}

// Distribute assigns the request to workers. workers: ids of live workers (any order; planning
// sorts them so the result does not depend on order). current: what each worker runs now (may be nil,
// may name workers not in the list — e.g. a lost worker — whose users must be re-homed).
//
// Per-class totals equal [SplitClasses]; per-worker totals differ by at most 1, and so does each
// class's count across workers. Within those rules the plan moves as few users as possible
// (see the package documentation, also for how spawn rates are set). Classes in current that
// the request no longer has are stopped: they count in the worker's changes but are absent
// from its target. Worker ids must be non-empty and distinct; counts in current must be >= 0.
func Distribute(req Request, workers []string, current Assignment) (Plan, error) {
	var errs []error
	totals, err := SplitClasses(req.Classes, req.Users)
	if err != nil {
		errs = append(errs, err)
	}
	if err := checkSpawnRate(req.SpawnRate); err != nil {
		errs = append(errs, err)
	}
	ids := slices.Sorted(slices.Values(workers))
	if len(ids) == 0 {
		errs = append(errs, ErrNoWorkers)
	}
	for i, id := range ids {
		if id == "" {
			errs = append(errs, invalidf("empty worker id"))
		} else if i > 0 && ids[i-1] == id {
			errs = append(errs, invalidf("duplicate worker id %q", id))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(current)) {
		for _, class := range slices.Sorted(maps.Keys(current[id])) {
			if n := current[id][class]; n < 0 {
				errs = append(errs, invalidf("worker %q runs %d users of class %q: must be >= 0", id, n, class))
			}
		}
	}
	if len(errs) > 0 {
		return Plan{}, errors.Join(errs...)
	}

	targets, err := balance(req.Classes, totals, ids, current)
	if err != nil {
		return Plan{}, err
	}

	plan := Plan{
		Classes: make(map[string]int, len(req.Classes)),
		Workers: make(map[string]WorkerPlan, len(ids)),
	}
	for c, class := range req.Classes {
		plan.Classes[class.Name] = totals[c]
	}
	deltas := make([]int, len(ids))
	sum := 0
	for w, id := range ids {
		deltas[w] = changes(current[id], targets[w])
		sum += deltas[w]
	}
	standby := req.SpawnRate / float64(len(ids))
	for w, id := range ids {
		rate := standby
		if deltas[w] > 0 {
			rate = req.SpawnRate * float64(deltas[w]) / float64(sum)
		}
		plan.Workers[id] = WorkerPlan{Users: targets[w], SpawnRate: rate}
	}
	return plan, nil
}

// changes is the number of users to stop or start to go from current to target.
func changes(current, target map[string]int) int {
	n := 0
	for class, have := range current {
		n += abs(target[class] - have)
	}
	for class, want := range target {
		if _, ok := current[class]; !ok {
			n += want
		}
	}
	return n
}

func sumUsers(m map[string]int) int {
	n := 0
	for _, u := range m {
		n += u
	}
	return n
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// balance returns, for each worker of ids (sorted), its per-class targets.
//
// Every worker gets base = total/n users of each class; the total%n users of a class left over
// ("extras") go one each to distinct workers, and every worker gets E/n or E/n+1 extras in all,
// E being the sum of extras, so per-class and per-worker counts differ by at most one, and a
// worker's total is q or q+1, q = users/n. Which workers take the extras is a min-cost flow
// with these goals, each one only breaking ties of the ones before:
//
//  1. Keep the most users in place (so move the fewest): an extra of class c on a worker that
//     runs more than base users of c now keeps one of them.
//  2. Make the fewest workers both stop and start users. A worker running C users (all classes)
//     that keeps K of them stops C-K and starts T-K for a target of T; it does both
//     min(C,T)-K times, which, K being fixed by goal 1, grows only when a worker with C >= q+1
//     gets the q+1 target.
//  3. Make no worker start users it need not: the q+1 target goes to a worker with C < q
//     (which starts users anyway) before one with C == q.
func balance(classes []Class, totals []int, ids []string, current Assignment) ([]map[string]int, error) {
	n, k := len(ids), len(classes)
	base := make([]int, k)
	extras := make([]int, k)
	sumExtras := 0
	for c := range classes {
		base[c] = totals[c] / n
		extras[c] = totals[c] % n
		sumExtras += extras[c]
	}

	// Nodes: source, sink, overflow pool, classes, workers. Each worker must take
	// sumExtras/n extras (edge to the sink) and may take one more through the pool, which
	// lets exactly sumExtras%n of them do so: a full flow meets both bounds. Costs weigh the
	// goals so that each outweighs all of the ones after it: goal 3 costs 1 per worker, at
	// most more in all; goal 2 costs more+1 per worker; goal 1 earns (more+1)^2 per user.
	each, more := sumExtras/n, sumExtras%n
	q := 0
	for c := range classes {
		q += base[c]
	}
	q += each
	growCost, swapCost, keepCost := 1, more+1, (more+1)*(more+1)
	const source, sink, pool = 0, 1, 2
	classNode := func(c int) int { return 3 + c }
	workerNode := func(w int) int { return 3 + k + w }
	g := newFlowNetwork(3 + k + n)
	edges := make([][]edgeRef, k)
	for c := range classes {
		if extras[c] == 0 {
			continue
		}
		g.addEdge(source, classNode(c), extras[c], 0)
		edges[c] = make([]edgeRef, n)
		for w, id := range ids {
			cost := 0
			if current[id][classes[c].Name] > base[c] {
				cost = -keepCost
			}
			edges[c][w] = g.addEdge(classNode(c), workerNode(w), 1, cost)
		}
	}
	for w, id := range ids {
		if each > 0 {
			g.addEdge(workerNode(w), sink, each, 0)
		}
		if more > 0 {
			cost := 0
			switch running := sumUsers(current[id]); {
			case running > q:
				cost = swapCost
			case running == q:
				cost = growCost
			}
			g.addEdge(workerNode(w), pool, 1, cost)
		}
	}
	if more > 0 {
		g.addEdge(pool, sink, more, 0)
	}
	if placed := g.minCostMaxFlow(source, sink); placed != sumExtras {
		// Cannot happen: dealing the users round-robin is always a full flow.
		return nil, fmt.Errorf("internal error: placed %d of %d users left after even shares", placed, sumExtras)
	}

	targets := make([]map[string]int, n)
	for w := range ids {
		targets[w] = make(map[string]int, k)
		for c, class := range classes {
			targets[w][class.Name] = base[c]
			if extras[c] > 0 {
				targets[w][class.Name] += g.flow(edges[c][w])
			}
		}
	}
	return targets, nil
}
