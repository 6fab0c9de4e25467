package scheduler

import (
	"fmt"
	"testing"
)

func TestExhaustLost(t *testing.T) {
	bad := 0
	checked := 0
	for k := 1; k <= 3; k++ {
		for n1 := 2; n1 <= 5; n1++ {
			n := n1 - 1
			totals := make([]int, k)
			var rec func(i int)
			rec = func(i int) {
				if i == k {
					// enumerate old balanced plans on n1 workers
					forBalanced(totals, n1, func(old [][]int) {
						for lost := 0; lost < n1; lost++ {
							checked++
							surv := [][]int{}
							for w := range n1 {
								if w != lost {
									surv = append(surv, old[w])
								}
							}
							found := false
							forBalanced(totals, n, func(nw [][]int) {
								if found {
									return
								}
								for w := range n {
									for c := range k {
										if nw[w][c] < surv[w][c] {
											return
										}
									}
								}
								found = true
							})
							if !found {
								bad++
								if bad < 5 {
									fmt.Println("counterexample", totals, old, "lost", lost)
								}
							}
						}
					})
					return
				}
				for v := 0; v <= 9; v++ {
					totals[i] = v
					rec(i + 1)
				}
			}
			rec(0)
		}
	}
	fmt.Println("checked", checked, "bad", bad)
}

// forBalanced calls f with every matrix [worker][class] keeping the balance rules.
func forBalanced(totals []int, n int, f func([][]int)) {
	k := len(totals)
	for mask := 0; mask < 1<<(n*k); mask++ {
		ok := true
		for c := range k {
			col := 0
			for w := range n {
				col += mask >> (w*k + c) & 1
			}
			if col != totals[c]%n {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		m := make([][]int, n)
		lo, hi := 1<<30, -1
		for w := range n {
			m[w] = make([]int, k)
			s := 0
			for c := range k {
				m[w][c] = totals[c]/n + mask>>(w*k+c)&1
				s += m[w][c]
			}
			lo, hi = min(lo, s), max(hi, s)
		}
		if hi-lo <= 1 {
			f(m)
		}
	}
}
