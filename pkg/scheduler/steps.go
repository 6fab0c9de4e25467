package scheduler

import (
	"maps"
	"slices"
)

// Step is one spawn (+1) or stop (-1) of a user of Class.
type Step struct {
	Class string
	Delta int
}

// Steps orders the changes that take a worker from current to target: all stops first, then all
// spawns, each group with its classes interleaved in proportion (3:1 targets spawn
// A A B A A A B A ..., never all A then all B). Deterministic.
//
// Within a group of s steps where class c has s_c of them, every prefix of length k holds the
// floor or the ceiling of k*s_c/s steps of c; more than that, the order keeps the largest gap
// between a class's share of a prefix and its exact share k*s_c/s as small as any order can
// (ties go to the class whose name sorts first). A class missing from a map counts as 0; counts
// are taken as they are, so applying the steps to current gives exactly target.
func Steps(current, target map[string]int) []Step {
	names := slices.Sorted(maps.Keys(current))
	for class := range target {
		if _, ok := current[class]; !ok {
			names = append(names, class)
		}
	}
	slices.Sort(names)

	var stops, spawns []int
	total := 0
	for _, class := range names {
		d := target[class] - current[class]
		stops = append(stops, max(-d, 0))
		spawns = append(spawns, max(d, 0))
		total += abs(d)
	}
	steps := make([]Step, 0, total)
	for _, c := range interleave(stops) {
		steps = append(steps, Step{Class: names[c], Delta: -1})
	}
	for _, c := range interleave(spawns) {
		steps = append(steps, Step{Class: names[c], Delta: +1})
	}
	return steps
}

// interleave returns an order of s = sum(counts) class indexes, counts[c] of class c, that
// keeps every prefix of length k as close as possible to k*counts[c]/s of each class: it finds
// the least d for which some order has |s*done_c(k) - k*counts[c]| <= d for every class and
// prefix (the chairman assignment problem), by binary search over d.
//
// Some order with d < s always exists (Tijdeman, "The chairman assignment problem", 1980: the
// gap can be kept to 1-1/(2m-2) for m classes), so every prefix holds the floor or the ceiling
// of its exact share.
func interleave(counts []int) []int {
	s := 0
	for _, n := range counts {
		s += n
	}
	if s == 0 {
		return nil
	}
	lo, hi := 0, s-1
	for lo < hi {
		if mid := lo + (hi-lo)/2; scheduleWithin(counts, s, mid) != nil {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return scheduleWithin(counts, s, lo)
}

// scheduleWithin returns an order in which |s*done_c(k) - k*counts[c]| <= d for every class c
// and prefix length k, or nil if there is none.
//
// The j-th step of class c (j from 1) may come at position k only once s*j <= k*n + d (its
// release) and must come by the first k with k*n - d > s*(j-1) (its deadline), n = counts[c].
// These are unit jobs with integer release times and deadlines on one machine: earliest
// deadline first finds an order whenever one exists.
func scheduleWithin(counts []int, s, d int) []int {
	order := make([]int, 0, s)
	done := make([]int, len(counts))
	for k := 1; k <= s; k++ {
		best, bestDeadline := -1, 0
		for c, n := range counts {
			if done[c] == n {
				continue
			}
			j := done[c] + 1
			if release := (s*j - d + n - 1) / n; release > k { // s*j-d > 0 as d < s
				continue
			}
			deadline := (s*(j-1)+d)/n + 1
			if best < 0 || deadline < bestDeadline {
				best, bestDeadline = c, deadline
			}
		}
		if best < 0 || bestDeadline < k {
			return nil
		}
		done[best]++
		order = append(order, best)
	}
	return order
}
