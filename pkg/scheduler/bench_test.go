package scheduler

import (
	"fmt"
	"testing"
)

func benchmarkRequest(classes, users int) Request {
	req := Request{Users: users, SpawnRate: 100}
	for c := range classes {
		req.Classes = append(req.Classes, Class{Name: fmt.Sprintf("class%d", c), Weight: 1 + c%4})
	}
	return req
}

func benchmarkWorkers(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("worker-%04d", i)
	}
	return ids
}

// BenchmarkDistribute re-plans a running cluster after losing one worker.
func BenchmarkDistribute(b *testing.B) {
	for _, size := range []struct{ workers, classes, users int }{
		{10, 3, 1_000},
		{100, 10, 100_003},
		{1000, 20, 1_000_037},
	} {
		b.Run(fmt.Sprintf("workers=%d/classes=%d", size.workers, size.classes), func(b *testing.B) {
			req := benchmarkRequest(size.classes, size.users)
			workers := benchmarkWorkers(size.workers)
			plan, err := Distribute(req, workers, nil)
			if err != nil {
				b.Fatal(err)
			}
			running := plan.Assignment()
			for b.Loop() {
				if _, err := Distribute(req, workers[1:], running); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSteps(b *testing.B) {
	for _, users := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) {
			target := map[string]int{}
			for c := range 5 {
				target[fmt.Sprintf("class%d", c)] = users * (c + 1) / 15
			}
			for b.Loop() {
				Steps(nil, target)
			}
		})
	}
}
