package scheduler

import (
	"errors"
	"fmt"
	"maps"
	"math/big"
	"reflect"
	"slices"
	"testing"
)

// fuzzBytes turns fuzz data into small numbers; past the end it reads zeros.
type fuzzBytes []byte

func (b *fuzzBytes) next() int {
	if len(*b) == 0 {
		return 0
	}
	v := (*b)[0]
	*b = (*b)[1:]
	return int(v)
}

// intn is a number in [0, n).
func (b *fuzzBytes) intn(n int) int { return b.next() % n }

// int64 is any int built from 8 bytes.
func (b *fuzzBytes) int64() int {
	v := 0
	for range 8 {
		v = v<<8 | b.next()
	}
	return v
}

func FuzzSplitClasses(f *testing.F) {
	f.Add([]byte{2, 0, 3, 0, 0, 1, 0, 100})
	f.Add([]byte{3, 0, 1, 3, 0, 0, 2, 1, 0, 5, 0, 7})
	f.Add([]byte{2, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 3, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzBytes(data)
		classes := make([]Class, in.intn(5))
		wide := in.intn(4) == 2 // 64-bit weights and users
		number := func() int {
			if wide {
				return in.int64()
			}
			return in.next() - 8 // a few negatives
		}
		for i := range classes {
			classes[i] = Class{Name: fmt.Sprintf("c%d", in.intn(6)), Weight: number()}
			if in.intn(3) == 0 {
				classes[i].FixedCount = number()
			}
		}
		users := number()
		if !wide {
			users = users*4 + in.intn(4)
		}

		counts, err := SplitClasses(classes, users)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("error %q does not match ErrInvalidRequest", err)
			}
			return
		}
		if len(counts) != len(classes) {
			t.Fatalf("%d counts for %d classes", len(counts), len(classes))
		}
		left, sum := users, 0
		total := new(big.Int)
		for i, c := range classes {
			if c.FixedCount > 0 {
				if want := min(c.FixedCount, left); counts[i] != want {
					t.Errorf("fixed class %q: %d users, want %d", c.Name, counts[i], want)
				}
				left -= counts[i]
			} else {
				total.Add(total, big.NewInt(int64(c.Weight)))
			}
			sum += counts[i]
		}
		if sum != users {
			t.Fatalf("counts %v add up to %d, want %d", counts, sum, users)
		}
		for i, c := range classes {
			if c.FixedCount > 0 || left == 0 {
				continue
			}
			// counts[i] is the floor or the ceiling of left*weight/total.
			quota := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(int64(left)), big.NewInt(int64(c.Weight))), total)
			got := new(big.Rat).SetInt64(int64(counts[i]))
			diff := new(big.Rat).Sub(got, quota)
			if diff.Cmp(big.NewRat(-1, 1)) <= 0 || diff.Cmp(big.NewRat(1, 1)) >= 0 {
				t.Errorf("class %q: %d users, quota %s", c.Name, counts[i], quota.FloatString(3))
			}
		}
	})
}

// distributeInput is a random Distribute call, small enough for bestMovement.
type distributeInput struct {
	req     Request
	workers []string
	current Assignment
}

func decodeDistribute(data []byte) distributeInput {
	in := fuzzBytes(data)
	var d distributeInput
	k := 1 + in.intn(3)
	for i := range k {
		c := Class{Name: fmt.Sprintf("c%d", i), Weight: in.intn(5)}
		if in.intn(4) == 0 {
			c.FixedCount = in.intn(20)
		}
		d.req.Classes = append(d.req.Classes, c)
	}
	d.req.Users = in.next()
	d.req.SpawnRate = 0.25 * float64(1+in.next())
	n := in.intn(5)
	for i := range n {
		d.workers = append(d.workers, fmt.Sprintf("w%d", i))
	}
	for i := len(d.workers) - 1; i > 0; i-- { // shuffle: order must not matter
		j := in.intn(i + 1)
		d.workers[i], d.workers[j] = d.workers[j], d.workers[i]
	}
	if in.intn(3) > 0 {
		d.current = Assignment{}
		for i := range n + 2 { // two of them are lost workers
			id := fmt.Sprintf("w%d", i)
			if in.intn(4) == 0 {
				continue
			}
			d.current[id] = map[string]int{}
			for _, class := range []string{"c0", "c1", "c2", "gone"} {
				if in.intn(3) > 0 {
					d.current[id][class] = in.intn(60)
				}
			}
		}
	}
	return d
}

func FuzzDistribute(f *testing.F) {
	f.Add([]byte{1, 3, 0, 1, 0, 100, 79, 2, 0, 1, 0})
	f.Add([]byte{2, 3, 0, 1, 0, 0, 3, 100, 19, 3, 1, 0, 1, 1, 1, 1, 50, 1, 12, 1, 0, 1, 0, 1, 38, 1, 0, 1, 13, 0})
	f.Add([]byte{0, 1, 0, 0, 3, 5, 2, 9, 3, 4, 1, 2, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		d := decodeDistribute(data)
		plan, err := Distribute(d.req, d.workers, d.current)
		if len(d.workers) == 0 {
			if !errors.Is(err, ErrNoWorkers) {
				t.Fatalf("no workers: error %v, want ErrNoWorkers", err)
			}
			return
		}
		if _, splitErr := SplitClasses(d.req.Classes, d.req.Users); splitErr != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("SplitClasses fails (%v) but Distribute gives %v", splitErr, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Distribute: %v", err)
		}
		checkPlan(t, d.req, d.workers, d.current, plan)
		if n, k := len(d.workers), len(d.req.Classes); n*k <= 12 {
			if got, best := score(d.req, d.workers, d.current, plan.Assignment()), bestMovement(t, d.req, d.workers, d.current); got != best {
				t.Errorf("plan movement %+v, best is %+v", got, best)
			}
		}

		// Same input in another order and a copied map: the same plan.
		sorted := slices.Sorted(slices.Values(d.workers))
		copied := make(Assignment, len(d.current))
		for id, m := range d.current {
			copied[id] = maps.Clone(m)
		}
		if again, err := Distribute(d.req, sorted, copied); err != nil || !reflect.DeepEqual(again, plan) {
			t.Fatalf("Distribute again = %v, %v; want %v", again, err, plan)
		}

		// Once the workers run the plan, a worker is lost, or one joins: the new plans keep the
		// rules and move as few users as any balanced plan can. (Moving none is not always
		// possible: per-class balance can make a survivor stop a user, or an old worker start
		// one, as in the table tests.)
		running := plan.Assignment()
		changed := [][]string{append(slices.Clone(sorted), "w-new")}
		if len(sorted) > 1 {
			changed = append(changed, sorted[1:])
		}
		for _, workers := range changed {
			after, err := Distribute(d.req, workers, running)
			if err != nil {
				t.Fatalf("Distribute over %v: %v", workers, err)
			}
			checkPlan(t, d.req, workers, running, after)
			if len(workers)*len(d.req.Classes) <= 12 {
				got := score(d.req, workers, running, after.Assignment())
				if best := bestMovement(t, d.req, workers, running); got != best {
					t.Errorf("over %v: plan movement %+v, best is %+v", workers, got, best)
				}
			}
		}
	})
}

func FuzzSteps(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 6, 2, 0, 0})
	f.Add([]byte{3, 0, 1, 0, 1, 2, 2, 0})
	f.Add([]byte{9, 1, 30, 7, 0, 5, 2, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzBytes(data)
		current, target := map[string]int{}, map[string]int{}
		for _, class := range []string{"a", "b", "c", "d"} {
			if v := in.next(); v < 200 {
				current[class] = v % 40
			}
			if v := in.next(); v < 200 {
				target[class] = v % 40
			}
		}
		steps := Steps(current, target)
		checkSteps(t, current, target, steps)
		if again := Steps(maps.Clone(current), maps.Clone(target)); !reflect.DeepEqual(again, steps) {
			t.Fatalf("Steps again = %v, want %v", again, steps)
		}
		// For short groups, no order keeps closer to proportion.
		for _, delta := range []int{-1, +1} {
			var group []Step
			counts := map[string]int{}
			for _, s := range steps {
				if s.Delta == delta {
					group = append(group, s)
					counts[s.Class]++
				}
			}
			if len(group) > 0 && len(group) <= 9 {
				if got, best := largestGap(group), bestGap(counts); got != best {
					t.Errorf("delta %+d: largest gap %d, best order has %d: %v", delta, got, best, group)
				}
			}
		}
	})
}
