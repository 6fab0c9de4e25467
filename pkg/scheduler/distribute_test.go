package scheduler

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// users builds a class -> users map from alternating names and counts.
func users(pairs ...any) map[string]int {
	m := make(map[string]int, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		m[pairs[i].(string)] = pairs[i+1].(int)
	}
	return m
}

func TestDistribute(t *testing.T) {
	oneClass := []Class{{Name: "a", Weight: 1}}
	threeToOne := []Class{{Name: "a", Weight: 3}, {Name: "b", Weight: 1}}
	evenAB := []Class{{Name: "a", Weight: 1}, {Name: "b", Weight: 1}}

	tests := []struct {
		name    string
		req     Request
		workers []string
		current Assignment
		want    map[string]WorkerPlan // nil: check the rules only
		// noStops: no live worker stops a user of a class it keeps in the request.
		noStops bool
		// noSpawnsOn: these workers start no user.
		noSpawnsOn []string
	}{
		{
			name:    "fresh: 100 users at 20/s over 2 workers",
			req:     Request{Classes: oneClass, Users: 100, SpawnRate: 20},
			workers: []string{"w1", "w2"},
			want: map[string]WorkerPlan{
				"w1": {Users: users("a", 50), SpawnRate: 10},
				"w2": {Users: users("a", 50), SpawnRate: 10},
			},
		},
		{
			name:    "fresh: weights 3:1 give 75/25 over 2 workers",
			req:     Request{Classes: threeToOne, Users: 100, SpawnRate: 20},
			workers: []string{"w2", "w1"},
			want: map[string]WorkerPlan{
				"w1": {Users: users("a", 38, "b", 12), SpawnRate: 10},
				"w2": {Users: users("a", 37, "b", 13), SpawnRate: 10},
			},
		},
		{
			name: "fresh: fixed count first, rest by weight",
			req: Request{
				Classes:   []Class{{Name: "admin", FixedCount: 3}, {Name: "shopper", Weight: 1}},
				Users:     10,
				SpawnRate: 4,
			},
			workers: []string{"w1", "w2"},
			want: map[string]WorkerPlan{
				"w1": {Users: users("admin", 2, "shopper", 3), SpawnRate: 2},
				"w2": {Users: users("admin", 1, "shopper", 4), SpawnRate: 2},
			},
		},
		{
			name:    "fresh: fewer users than workers",
			req:     Request{Classes: evenAB, Users: 2, SpawnRate: 1},
			workers: []string{"w1", "w2", "w3"},
			want: map[string]WorkerPlan{
				"w1": {Users: users("a", 1, "b", 0), SpawnRate: 0.5},
				"w2": {Users: users("a", 0, "b", 1), SpawnRate: 0.5},
				"w3": {Users: users("a", 0, "b", 0), SpawnRate: 1.0 / 3},
			},
		},
		{
			name:    "lost worker: the survivor takes its 50 users at the full rate",
			req:     Request{Classes: oneClass, Users: 100, SpawnRate: 20},
			workers: []string{"w1"},
			current: Assignment{"w1": users("a", 50), "w2": users("a", 50)},
			want: map[string]WorkerPlan{
				"w1": {Users: users("a", 100), SpawnRate: 20},
			},
		},
		{
			name:    "lost worker: its users are re-homed where they fit, survivors stop nothing",
			req:     Request{Classes: []Class{{Name: "a", Weight: 2}, {Name: "b", Weight: 1}}, Users: 3, SpawnRate: 3},
			workers: []string{"w1", "w2"},
			current: Assignment{"w1": users("a", 1), "w2": users("b", 1), "w3": users("a", 1)},
			want: map[string]WorkerPlan{
				"w1": {Users: users("a", 1, "b", 0), SpawnRate: 1.5}, // nothing to do: standby
				"w2": {Users: users("a", 1, "b", 1), SpawnRate: 3},
			},
			noStops: true,
		},
		{
			name:    "lost worker: three of four survive",
			req:     Request{Classes: evenAB, Users: 14, SpawnRate: 7},
			workers: []string{"w2", "w3", "w4"},
			current: Assignment{
				"w1": users("a", 2, "b", 2),
				"w2": users("a", 2, "b", 2),
				"w3": users("a", 2, "b", 1),
				"w4": users("a", 1, "b", 2),
			},
			noStops: true,
		},
		{
			name: "lost worker: per-class balance makes a survivor stop one",
			req: Request{
				Classes:   []Class{{Name: "a", Weight: 1}, {Name: "b", Weight: 1}, {Name: "c", Weight: 2}},
				Users:     4,
				SpawnRate: 4,
			},
			workers: []string{"w1", "w2"},
			current: Assignment{"w0": users("c", 1), "w1": users("c", 1), "w2": users("a", 1, "b", 1)},
			// Both must run one c, so w2 can keep only one of a and b.
			want: map[string]WorkerPlan{
				"w1": {Users: users("a", 0, "b", 1, "c", 1), SpawnRate: 4.0 / 3},
				"w2": {Users: users("a", 1, "b", 0, "c", 1), SpawnRate: 8.0 / 3},
			},
		},
		{
			name:    "joining worker: the others give up only what balances",
			req:     Request{Classes: threeToOne, Users: 100, SpawnRate: 20},
			workers: []string{"w1", "w2", "w3"},
			current: Assignment{"w1": users("a", 38, "b", 12), "w2": users("a", 37, "b", 13)},
			want: map[string]WorkerPlan{
				"w1": {Users: users("a", 25, "b", 9), SpawnRate: 20.0 * 16 / 66},
				"w2": {Users: users("a", 25, "b", 8), SpawnRate: 20.0 * 17 / 66},
				"w3": {Users: users("a", 25, "b", 8), SpawnRate: 10},
			},
			noSpawnsOn: []string{"w1", "w2"},
		},
		{
			name: "joining worker: per-class balance makes an old worker start one",
			req: Request{
				Classes:   []Class{{Name: "a", Weight: 1}, {Name: "b", FixedCount: 9}, {Name: "c", Weight: 1}},
				Users:     15,
				SpawnRate: 5,
			},
			workers: []string{"w0", "w1", "w2", "w3", "w4"},
			current: Assignment{
				"w0": users("a", 1, "b", 2, "c", 1),
				"w1": users("a", 1, "b", 2, "c", 1),
				"w2": users("a", 1, "b", 2, "c", 1),
				"w3": users("b", 3),
			},
			// Every worker must run 3 users with at most 2 of b, so w3 needs an a or a c.
			want: map[string]WorkerPlan{
				"w0": {Users: users("a", 0, "b", 2, "c", 1), SpawnRate: 0.625},
				"w1": {Users: users("a", 1, "b", 2, "c", 0), SpawnRate: 0.625},
				"w2": {Users: users("a", 1, "b", 2, "c", 0), SpawnRate: 0.625},
				"w3": {Users: users("a", 0, "b", 2, "c", 1), SpawnRate: 1.25},
				"w4": {Users: users("a", 1, "b", 1, "c", 1), SpawnRate: 1.875},
			},
		},
		{
			name:    "joining worker: old workers shrink rather than swap",
			req:     Request{Classes: []Class{{Name: "a", Weight: 1}, {Name: "b", FixedCount: 9}, {Name: "c", Weight: 1}}, Users: 14, SpawnRate: 5},
			workers: []string{"w0", "w1", "w2", "w3", "w4"},
			current: Assignment{
				"w0": users("a", 1, "b", 2, "c", 1),
				"w1": users("a", 1, "b", 2, "c", 1),
				"w2": users("a", 1, "b", 2),
				"w3": users("b", 3),
			},
			// w3 could keep 3 users only by swapping a b for an a or a c; it keeps 2 and
			// the new worker takes 3.
			noSpawnsOn: []string{"w0", "w1", "w2", "w3"},
		},
		{
			name:    "more users: the odd one goes to the worker that starts users anyway",
			req:     Request{Classes: oneClass, Users: 4, SpawnRate: 3},
			workers: []string{"w1", "w2", "w3"},
			current: Assignment{"w1": users("a", 1), "w2": users("a", 1)},
			want: map[string]WorkerPlan{
				"w1": {Users: users("a", 1), SpawnRate: 1},
				"w2": {Users: users("a", 1), SpawnRate: 1},
				"w3": {Users: users("a", 2), SpawnRate: 3},
			},
		},
		{
			name:    "balanced current is kept as it is",
			req:     Request{Classes: evenAB, Users: 2, SpawnRate: 2},
			workers: []string{"w1", "w2"},
			current: Assignment{"w1": users("b", 1), "w2": users("a", 1)},
			want: map[string]WorkerPlan{
				"w1": {Users: users("a", 0, "b", 1), SpawnRate: 1},
				"w2": {Users: users("a", 1, "b", 0), SpawnRate: 1},
			},
		},
		{
			name:    "more users: workers keep theirs and grow",
			req:     Request{Classes: threeToOne, Users: 200, SpawnRate: 10},
			workers: []string{"w1", "w2"},
			current: Assignment{"w1": users("a", 38, "b", 12), "w2": users("a", 37, "b", 13)},
			want: map[string]WorkerPlan{
				"w1": {Users: users("a", 75, "b", 25), SpawnRate: 5},
				"w2": {Users: users("a", 75, "b", 25), SpawnRate: 5},
			},
			noStops: true,
		},
		{
			name:    "removed class is stopped and counts as change",
			req:     Request{Classes: oneClass, Users: 10, SpawnRate: 5},
			workers: []string{"w1"},
			current: Assignment{"w1": users("a", 5, "old", 5)},
			want: map[string]WorkerPlan{
				"w1": {Users: users("a", 10), SpawnRate: 5},
			},
		},
		{
			name:    "zero users stops everything",
			req:     Request{Classes: oneClass, Users: 0, SpawnRate: 10},
			workers: []string{"w1", "w2"},
			current: Assignment{"w1": users("a", 30), "w2": users("a", 10)},
			want: map[string]WorkerPlan{
				"w1": {Users: users("a", 0), SpawnRate: 7.5},
				"w2": {Users: users("a", 0), SpawnRate: 2.5},
			},
		},
		{
			name:    "current of unknown workers and classes only",
			req:     Request{Classes: evenAB, Users: 4, SpawnRate: 4},
			workers: []string{"w1", "w2"},
			current: Assignment{"gone": users("a", 7), "w1": nil},
			want: map[string]WorkerPlan{
				"w1": {Users: users("a", 1, "b", 1), SpawnRate: 2},
				"w2": {Users: users("a", 1, "b", 1), SpawnRate: 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := Distribute(tt.req, tt.workers, tt.current)
			if err != nil {
				t.Fatalf("Distribute: %v", err)
			}
			checkPlan(t, tt.req, tt.workers, tt.current, plan)
			if tt.want != nil && !plansEqual(plan.Workers, tt.want) {
				t.Errorf("Distribute workers:\n got %v\nwant %v", plan.Workers, tt.want)
			}
			if len(tt.workers)*len(tt.req.Classes) <= 16 {
				got := score(tt.req, tt.workers, tt.current, plan.Assignment())
				if best := bestMovement(t, tt.req, tt.workers, tt.current); got != best {
					t.Errorf("plan movement %+v, best is %+v", got, best)
				}
			}
			for _, id := range tt.workers {
				for _, class := range tt.req.Classes {
					target, have := plan.Workers[id].Users[class.Name], tt.current[id][class.Name]
					if tt.noStops && target < have {
						t.Errorf("worker %q stops %d users of %q", id, have-target, class.Name)
					}
					if slices.Contains(tt.noSpawnsOn, id) && target > have {
						t.Errorf("worker %q starts %d users of %q", id, target-have, class.Name)
					}
				}
			}
			reversed := slices.Clone(tt.workers)
			slices.Reverse(reversed)
			again, err := Distribute(tt.req, reversed, tt.current)
			if err != nil || !reflect.DeepEqual(again, plan) {
				t.Errorf("Distribute with reversed workers = %v, %v; want %v", again, err, plan)
			}
		})
	}
}

// plansEqual compares worker plans, rates within rounding.
func plansEqual(got, want map[string]WorkerPlan) bool {
	if len(got) != len(want) {
		return false
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok || !reflect.DeepEqual(g.Users, w.Users) || !nearlyEqual(g.SpawnRate, w.SpawnRate) {
			return false
		}
	}
	return true
}

func TestDistributeErrors(t *testing.T) {
	valid := Request{Classes: []Class{{Name: "a", Weight: 1}}, Users: 10, SpawnRate: 1}
	tests := []struct {
		name     string
		req      Request
		workers  []string
		current  Assignment
		sentinel []error
		want     []string // substrings, one per line of the error, in order
	}{
		{
			name:     "no workers",
			req:      valid,
			sentinel: []error{ErrNoWorkers},
			want:     []string{"no workers"},
		},
		{
			name:     "zero spawn rate",
			req:      Request{Classes: valid.Classes, Users: 1, SpawnRate: 0},
			workers:  []string{"w1"},
			sentinel: []error{ErrInvalidRequest},
			want:     []string{"spawn rate 0"},
		},
		{
			name:     "negative spawn rate",
			req:      Request{Classes: valid.Classes, Users: 1, SpawnRate: -2},
			workers:  []string{"w1"},
			sentinel: []error{ErrInvalidRequest},
			want:     []string{"spawn rate -2"},
		},
		{
			name:     "NaN spawn rate",
			req:      Request{Classes: valid.Classes, Users: 1, SpawnRate: math.NaN()},
			workers:  []string{"w1"},
			sentinel: []error{ErrInvalidRequest},
			want:     []string{"spawn rate NaN"},
		},
		{
			name:     "infinite spawn rate",
			req:      Request{Classes: valid.Classes, Users: 1, SpawnRate: math.Inf(1)},
			workers:  []string{"w1"},
			sentinel: []error{ErrInvalidRequest},
			want:     []string{"spawn rate +Inf"},
		},
		{
			name:     "negative users",
			req:      Request{Classes: valid.Classes, Users: -1, SpawnRate: 1},
			workers:  []string{"w1"},
			sentinel: []error{ErrInvalidRequest},
			want:     []string{"users -1"},
		},
		{
			name:     "bad classes",
			req:      Request{Users: 1, SpawnRate: 1},
			workers:  []string{"w1"},
			sentinel: []error{ErrInvalidRequest},
			want:     []string{"no user classes"},
		},
		{
			name:     "empty and duplicate worker ids",
			req:      valid,
			workers:  []string{"w1", "", "w1"},
			sentinel: []error{ErrInvalidRequest},
			want:     []string{"empty worker id", `duplicate worker id "w1"`},
		},
		{
			name:     "negative current count",
			req:      valid,
			workers:  []string{"w1"},
			current:  Assignment{"w1": users("a", -3)},
			sentinel: []error{ErrInvalidRequest},
			want:     []string{`worker "w1" runs -3 users of class "a"`},
		},
		{
			name:     "all at once",
			req:      Request{Classes: []Class{{Name: "a", Weight: -1}}, Users: -1, SpawnRate: 0},
			current:  Assignment{"w9": users("x", -1)},
			sentinel: []error{ErrInvalidRequest, ErrNoWorkers},
			want:     []string{"users -1", `class "a": weight -1`, "spawn rate 0", "no workers", `worker "w9" runs -1`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := Distribute(tt.req, tt.workers, tt.current)
			if err == nil {
				t.Fatalf("Distribute = %v, want error", plan)
			}
			for _, s := range tt.sentinel {
				if !errors.Is(err, s) {
					t.Errorf("error %q does not match %v", err, s)
				}
			}
			if !errors.Is(err, ErrNoWorkers) && len(tt.workers) == 0 {
				t.Errorf("error %q does not match ErrNoWorkers", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("error has %d lines, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, want := range tt.want {
				if !strings.Contains(lines[i], want) {
					t.Errorf("error line %d = %q, want it to contain %q", i, lines[i], want)
				}
			}
		})
	}
}

func TestPlanAssignment(t *testing.T) {
	req := Request{Classes: []Class{{Name: "a", Weight: 3}, {Name: "b", Weight: 1}}, Users: 8, SpawnRate: 1}
	plan, err := Distribute(req, []string{"w1", "w2"}, nil)
	if err != nil {
		t.Fatalf("Distribute: %v", err)
	}
	a := plan.Assignment()
	want := Assignment{"w1": users("a", 3, "b", 1), "w2": users("a", 3, "b", 1)}
	if !reflect.DeepEqual(a, want) {
		t.Fatalf("Assignment = %v, want %v", a, want)
	}
	a["w1"]["a"] = 99
	if plan.Workers["w1"].Users["a"] != 3 {
		t.Errorf("changing the Assignment changed the plan")
	}
	next, err := Distribute(req, []string{"w1", "w2"}, plan.Assignment())
	if err != nil {
		t.Fatalf("Distribute again: %v", err)
	}
	if !reflect.DeepEqual(next.Assignment(), plan.Assignment()) {
		t.Errorf("planning again from the plan moved users: %v, want %v", next.Assignment(), plan.Assignment())
	}
}
