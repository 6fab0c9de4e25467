package scheduler

import (
	"math"
	"time"
)

// Arrival rates. When Stages shapes an arrival rate r(t) (iterations per second, cluster-wide),
// iteration k (0-based) is due at the first instant by which the shape has accumulated k+1
// iterations:
//
//	Iterations(t) = ∫₀ᵗ r(x) dx
//	Due(k)        = the smallest t, in whole nanoseconds, with Iterations(t) >= k+1
//
// So at a constant 10/s the iterations are due at 100 ms, 200 ms, ...; by any t up to the end of
// the shape exactly Count(t) = floor(Iterations(t)) iterations are due; and the whole run has
// floor(Iterations(Duration())) of them. Iterations is computed stage by stage in a form that
// never decreases with t even in floating point, so Due is non-decreasing in k.
//
// A cluster of n workers splits the iterations by index: worker i (0 <= i < n) runs the k with
// k % n == i, that is Due(i), Due(i+n), Due(i+2n), ... until Due reports false. Each worker then
// runs floor(Iterations(end))/n iterations or one more, and together they run each exactly once;
// a worker that joins or leaves changes n for the iterations not yet due (the caller's concern).

// Iterations returns the exact integral of the rate from 0 to elapsed: the number of iterations
// (fractional) the shape asks for up to elapsed. It is 0 before 0 and stays at its final value
// after the end of the shape.
func (s Stages) Iterations(elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	var start time.Duration
	total, from := 0.0, 0.0
	for _, st := range s {
		if st.Duration > 0 {
			r := newRamp(from, st.Target, st.Duration)
			if elapsed < start+st.Duration {
				return total + r.at(elapsed-start)
			}
			total += r.full
		}
		start += st.Duration
		from = st.Target
	}
	return total
}

// Count returns the number of iterations due by elapsed: floor(Iterations(elapsed)).
func (s Stages) Count(elapsed time.Duration) int64 {
	it := s.Iterations(elapsed)
	if it >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(it)
}

// Due returns when iteration k (0-based) is due: the smallest elapsed time, in whole
// nanoseconds, with Iterations(elapsed) >= k+1. ok is false when the shape ends before that
// (or k < 0).
func (s Stages) Due(k int64) (due time.Duration, ok bool) {
	if k < 0 {
		return 0, false
	}
	need := float64(k) + 1
	var start time.Duration
	total, from := 0.0, 0.0
	for _, st := range s {
		if st.Duration > 0 {
			r := newRamp(from, st.Target, st.Duration)
			if total+r.full >= need {
				return start + r.solve(total, need), true
			}
			total += r.full
		}
		start += st.Duration
		from = st.Target
	}
	return 0, false
}

// ramp is one stage of an arrival-rate shape: the rate goes linearly from a to b over d.
//
// Its integral is evaluated so that it never decreases as tau grows, even with rounding: every
// term is a product or sum of non-negative, non-decreasing factors (rounding is monotone). A
// rising or flat stage integrates from its start; a falling one is full minus the integral of
// its last d-tau, which is made of non-negative terms too.
type ramp struct {
	a, b    float64
	d       time.Duration
	ds      float64 // d in seconds
	lin, sq float64 // the integral over u seconds is lin*u + sq*u*u (from the start, or from the end when falling)
	falling bool
	full    float64 // the integral over the whole stage
}

func newRamp(a, b float64, d time.Duration) ramp {
	r := ramp{a: a, b: b, d: d, ds: d.Seconds(), falling: b < a}
	if r.falling {
		r.lin, r.sq = b, (a-b)/(2*r.ds)
	} else {
		r.lin, r.sq = a, (b-a)/(2*r.ds)
	}
	r.full = r.poly(d)
	return r
}

// poly is lin*u + sq*u*u for u, non-decreasing in u.
func (r ramp) poly(u time.Duration) float64 {
	us := u.Seconds()
	return r.lin*us + (r.sq*us)*us
}

// at is the integral of the rate over the first tau of the stage (0 <= tau <= d).
func (r ramp) at(tau time.Duration) float64 {
	if r.falling {
		return r.full - r.poly(r.d-tau)
	}
	return r.poly(tau)
}

// solve returns the smallest tau in (0, d] with total+at(tau) >= need, given total < need <=
// total+full. It starts from the closed-form root and then searches the nanosecond grid, so the
// answer is exact for the floating-point integral.
func (r ramp) solve(total, need float64) time.Duration {
	ok := func(tau time.Duration) bool { return total+r.at(tau) >= need }
	// Closed form: a*x + c*x*x = rem with c = (b-a)/(2d), x in seconds; the stable root.
	rem := need - total
	c := (r.b - r.a) / (2 * r.ds)
	disc := math.Max(r.a*r.a+4*c*rem, 0)
	guess := r.d
	if den := r.a + math.Sqrt(disc); den > 0 {
		if x := 2 * rem / den * 1e9; x < float64(r.d) {
			guess = time.Duration(math.Ceil(math.Max(x, 0)))
		}
	}
	// Bracket (lo, hi] around the guess with steps that double, then bisect: lo fails, hi holds.
	lo, hi := time.Duration(0), r.d
	if guess > 0 && guess < r.d {
		if ok(guess) {
			hi = guess
			for step := time.Duration(1); ; step *= 2 {
				if guess-step <= lo {
					break
				}
				if !ok(guess - step) {
					lo = guess - step
					break
				}
				hi = guess - step
			}
		} else {
			lo = guess
			for step := time.Duration(1); ; step *= 2 {
				if guess+step >= hi {
					break
				}
				if ok(guess + step) {
					hi = guess + step
					break
				}
				lo = guess + step
			}
		}
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if ok(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}
