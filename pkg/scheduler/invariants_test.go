package scheduler

import (
	"maps"
	"math"
	"slices"
	"testing"
)

// checkPlan fails t unless plan, returned by Distribute(req, workers, current), keeps every rule
// of the package documentation except minimal movement (see bestMovement for that).
func checkPlan(t *testing.T, req Request, workers []string, current Assignment, plan Plan) {
	t.Helper()
	totals, err := SplitClasses(req.Classes, req.Users)
	if err != nil {
		t.Fatalf("SplitClasses: %v", err)
	}
	for c, class := range req.Classes {
		if got := plan.Classes[class.Name]; got != totals[c] {
			t.Errorf("Plan.Classes[%q] = %d, want %d", class.Name, got, totals[c])
		}
	}
	if len(plan.Classes) != len(req.Classes) {
		t.Errorf("Plan.Classes has %d classes, want %d", len(plan.Classes), len(req.Classes))
	}
	if len(plan.Workers) != len(workers) {
		t.Errorf("Plan.Workers has %d workers, want %d", len(plan.Workers), len(workers))
	}

	n := len(workers)
	sums := make(map[string]int)
	low, high := math.MaxInt, math.MinInt
	delta := make(map[string]int)
	changed := 0
	for _, id := range workers {
		wp, ok := plan.Workers[id]
		if !ok {
			t.Fatalf("worker %q has no plan", id)
		}
		if len(wp.Users) != len(req.Classes) {
			t.Errorf("worker %q: %d classes, want %d: %v", id, len(wp.Users), len(req.Classes), wp.Users)
		}
		total := 0
		for _, class := range req.Classes {
			u, ok := wp.Users[class.Name]
			if !ok {
				t.Errorf("worker %q: class %q missing", id, class.Name)
			}
			if u < 0 {
				t.Errorf("worker %q: class %q: %d users", id, class.Name, u)
			}
			sums[class.Name] += u
			total += u
		}
		low, high = min(low, total), max(high, total)
		delta[id] = changesSlow(current[id], wp.Users)
		changed += delta[id]
	}
	if high-low > 1 {
		t.Errorf("worker totals range over [%d, %d], want a spread of at most 1", low, high)
	}
	for c, class := range req.Classes {
		if sums[class.Name] != totals[c] {
			t.Errorf("class %q: workers run %d users, want %d", class.Name, sums[class.Name], totals[c])
		}
		lo, hi := math.MaxInt, math.MinInt
		for _, id := range workers {
			u := plan.Workers[id].Users[class.Name]
			lo, hi = min(lo, u), max(hi, u)
		}
		if hi-lo > 1 {
			t.Errorf("class %q: per-worker counts range over [%d, %d], want a spread of at most 1", class.Name, lo, hi)
		}
	}

	standby := req.SpawnRate / float64(n)
	busy := 0.0
	for _, id := range workers {
		rate := plan.Workers[id].SpawnRate
		switch {
		case delta[id] == 0:
			if rate != standby {
				t.Errorf("worker %q changes nothing: rate %v, want %v", id, rate, standby)
			}
		default:
			busy += rate
			want := req.SpawnRate * float64(delta[id]) / float64(changed)
			if !nearlyEqual(rate, want) {
				t.Errorf("worker %q: %d changes of %d: rate %v, want %v", id, delta[id], changed, rate, want)
			}
		}
	}
	if changed > 0 && !nearlyEqual(busy, req.SpawnRate) {
		t.Errorf("rates of the workers with changes add up to %v, want %v", busy, req.SpawnRate)
	}
}

func nearlyEqual(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

// changesSlow is |target - current| summed over the union of classes.
func changesSlow(current, target map[string]int) int {
	n := 0
	for _, class := range unionKeys(current, target) {
		d := target[class] - current[class]
		n += max(d, -d)
	}
	return n
}

func unionKeys(a, b map[string]int) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// movement scores a plan by the goals Distribute ranks plans by, in order: keep the most users
// in place, make the fewest workers both stop and start, make the fewest workers already at
// the lower total q start a user to reach q+1.
type movement struct {
	kept    int // users kept in place: min(target, current) over request classes and live workers
	swapped int // sum over workers of min(users stopped, users started)
	grown   int // workers running exactly q users that are given q+1
}

// better reports whether m ranks above o.
func (m movement) better(o movement) bool {
	if m.kept != o.kept {
		return m.kept > o.kept
	}
	if m.swapped != o.swapped {
		return m.swapped < o.swapped
	}
	return m.grown < o.grown
}

// score is the movement of targets (worker -> class -> users) from current.
func score(req Request, workers []string, current Assignment, targets Assignment) movement {
	var m movement
	q := req.Users / len(workers)
	for _, id := range workers {
		running, keep, total := 0, 0, 0
		for _, u := range current[id] {
			running += u
		}
		for _, class := range req.Classes {
			t := targets[id][class.Name]
			keep += min(t, current[id][class.Name])
			total += t
		}
		m.kept += keep
		m.swapped += min(running-keep, total-keep)
		if running == q && total == q+1 {
			m.grown++
		}
	}
	return m
}

// bestMovement is the best score of any plan that keeps the balance rules, found by trying
// every placement of the users left after even shares. Only for tiny inputs.
func bestMovement(t *testing.T, req Request, workers []string, current Assignment) movement {
	t.Helper()
	totals, err := SplitClasses(req.Classes, req.Users)
	if err != nil {
		t.Fatalf("SplitClasses: %v", err)
	}
	n, k := len(workers), len(req.Classes)
	if n*k > 16 {
		t.Fatalf("bestMovement: %d cells is too many to try", n*k)
	}
	var best movement
	found := false
	for mask := 0; mask < 1<<(n*k); mask++ {
		extra := func(w, c int) int { return mask >> (w*k + c) & 1 }
		ok := true
		for c := range k {
			col := 0
			for w := range n {
				col += extra(w, c)
			}
			ok = ok && col == totals[c]%n
		}
		if !ok {
			continue
		}
		targets := Assignment{}
		low, high := math.MaxInt, math.MinInt
		for w, id := range workers {
			targets[id] = map[string]int{}
			total := 0
			for c, class := range req.Classes {
				targets[id][class.Name] = totals[c]/n + extra(w, c)
				total += targets[id][class.Name]
			}
			low, high = min(low, total), max(high, total)
		}
		if high-low > 1 {
			continue
		}
		if m := score(req, workers, current, targets); !found || m.better(best) {
			best, found = m, true
		}
	}
	if !found {
		t.Fatalf("bestMovement: no balanced plan exists")
	}
	return best
}
