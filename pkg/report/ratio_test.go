package report

import (
	"math"
	"testing"
)

// The ratio view's shares are the weights' own proportions: classes 3:1 share
// the users 75/25 %, tasks 3:5 share their class 3/8 and 5/8, a class that runs
// its tasks in order gives each the same share, a fixed-count class takes no
// share of the weights; running users and their shares are what the live view
// says the workers run.
func TestRatioOfWeights(t *testing.T) {
	classes := []UserClass{
		{Name: "Shopper", Weight: 3, Tasks: []TaskWeight{{"browse", 3}, {"item", 5}}},
		{Name: "Buyer", Weight: 1, Sequential: true, Tasks: []TaskWeight{{"browse", 1}, {"item", 1}, {"buy", 7}}},
		{Name: "Admin", FixedCount: 2, Weight: 9, Tasks: []TaskWeight{{"audit", 1}}},
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}

	// Before any run: configured shares only.
	r := RatioOf(classes, &Live{State: StateIdle})
	if len(r.Classes) != 3 || r.Users != 0 {
		t.Fatalf("%+v", r)
	}
	near("Shopper", r.Classes[0].Ratio, 3.0/4)
	near("Buyer", r.Classes[1].Ratio, 1.0/4)
	near("Admin (fixed)", r.Classes[2].Ratio, 0)
	near("Shopper browse", r.Classes[0].Tasks[0].Ratio, 3.0/8)
	near("Shopper item", r.Classes[0].Tasks[1].Ratio, 5.0/8)
	near("Shopper item of all", r.Classes[0].Tasks[1].TotalRatio, 3.0/4*5.0/8)
	for _, tk := range r.Classes[1].Tasks {
		near("Buyer "+tk.Name+" (in order)", tk.Ratio, 1.0/3)
	}

	// Running: 6 Shoppers, 1 Buyer of a plan of 6, 2, 2 (still spawning).
	l := &Live{State: StateRunning, TargetUsers: 10,
		ClassUsers:   map[string]int{"Shopper": 6, "Buyer": 1, "Admin": 1},
		ClassTargets: map[string]int{"Shopper": 6, "Buyer": 2, "Admin": 2}}
	r = RatioOf(classes, l)
	if r.Users != 8 || r.TargetUsers != 10 {
		t.Errorf("users %d of %d, want 8 of 10", r.Users, r.TargetUsers)
	}
	for i, want := range []struct{ target, users int }{{6, 6}, {2, 1}, {2, 1}} {
		c := r.Classes[i]
		if c.Target != want.target || c.Users != want.users {
			t.Errorf("%s: %d of %d users, want %d of %d", c.Name, c.Users, c.Target, want.users, want.target)
		}
		near(c.Name+" running share", c.UsersRatio, float64(want.users)/8)
	}
	near("Shopper item of all, running", r.Classes[0].Tasks[1].TotalRatio, 6.0/8*5.0/8)
	near("Admin audit of all, running", r.Classes[2].Tasks[0].TotalRatio, 1.0/8)
}
