package scheduler

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// ErrInvalidRequest is matched (with [errors.Is]) by every problem found in the input of
// [SplitClasses] and [Distribute]: callers map it to "bad request".
var ErrInvalidRequest = errors.New("invalid request")

// invalidf formats one input problem so that it matches [ErrInvalidRequest].
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidRequest}, args...)...)
}

// Class is a user class as the planner sees it.
type Class struct {
	Name       string
	Weight     int // relative share of the users left after fixed counts; >= 0
	FixedCount int // exact number of users of this class, taken first; >= 0 (0 = use weight)
}

// SplitClasses divides users among classes: fixed counts first (in class order), then the rest by
// weight with the largest-remainder method (ties broken by class order) so the sum is exact.
// Weights 3:1 over 100 users gives 75/25. If fixed counts exceed users, the fixed classes are filled
// in order until users run out. Errors (joined with errors.Join, all at once): no classes, duplicate or empty names,
// negative weight/fixed count, users < 0, users left for weighted classes but all weights zero.
//
// A class with FixedCount > 0 takes exactly that many users (or what is left) and its Weight is
// ignored; only classes with FixedCount == 0 share the rest by weight. Each weighted class gets
// the floor or the ceiling of its exact quota users*weight/sum(weights). The result is in class
// order.
func SplitClasses(classes []Class, users int) ([]int, error) {
	var errs []error
	if len(classes) == 0 {
		errs = append(errs, invalidf("no user classes"))
	}
	if err := checkUsers(users); err != nil {
		errs = append(errs, err)
	}
	first := make(map[string]int, len(classes))
	for i, c := range classes {
		if c.Name == "" {
			errs = append(errs, invalidf("class %d: empty name", i))
		} else if j, ok := first[c.Name]; ok {
			errs = append(errs, invalidf("class %d: duplicate name %q (also class %d)", i, c.Name, j))
		} else {
			first[c.Name] = i
		}
		if c.Weight < 0 {
			errs = append(errs, invalidf("class %q: weight %d: must be >= 0", c.Name, c.Weight))
		}
		if c.FixedCount < 0 {
			errs = append(errs, invalidf("class %q: fixed count %d: must be >= 0", c.Name, c.FixedCount))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	counts := make([]int, len(classes))
	left := users
	for i, c := range classes {
		if c.FixedCount > 0 {
			counts[i] = min(c.FixedCount, left)
			left -= counts[i]
		}
	}
	if left == 0 {
		return counts, nil
	}

	var totalWeight uint64
	for _, c := range classes {
		if c.FixedCount == 0 {
			totalWeight += uint64(c.Weight) // each <= MaxInt, so this cannot wrap before the check
			if totalWeight > math.MaxInt {
				return nil, invalidf("sum of class weights overflows int")
			}
		}
	}
	if totalWeight == 0 {
		return nil, invalidf("%d users left after fixed counts, but no class without a fixed count has a positive weight", left)
	}
	largestRemainder(classes, counts, uint64(left), totalWeight)
	return counts, nil
}

// largestRemainder adds left users to the weighted classes (FixedCount == 0) of counts: each
// gets the floor of left*weight/totalWeight, and the users still left go one each to the
// largest remainders, ties to the earlier class.
func largestRemainder(classes []Class, counts []int, left, totalWeight uint64) {
	type remainder struct {
		class int
		rem   uint64
	}
	rems := make([]remainder, 0, len(classes))
	var given uint64
	for i, c := range classes {
		if c.FixedCount != 0 {
			continue
		}
		// left*weight fits in 128 bits and the quotient in 64 (weight <= totalWeight).
		hi, lo := bits.Mul64(left, uint64(c.Weight))
		q, r := bits.Div64(hi, lo, totalWeight)
		counts[i] += int(q)
		given += q
		rems = append(rems, remainder{class: i, rem: r})
	}
	// The remainders add up to (left-given)*totalWeight and each is < totalWeight, so more
	// than left-given of them are positive: a zero-weight class never gets a user.
	slices.SortStableFunc(rems, func(a, b remainder) int { return cmp.Compare(b.rem, a.rem) })
	for _, r := range rems[:left-given] {
		counts[r.class]++
	}
}
