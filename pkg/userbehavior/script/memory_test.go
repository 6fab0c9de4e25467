package script

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// BenchmarkIdleUserMemory is the memory one idle user costs a worker: the growth of
// HeapInuse+StackInuse from 1,000 to 5,000 users that each did GET / and now wait
// between(1, 2) seconds, per added user (B/user), for a scripted user and the same
// user in Go, in the same run. The RSS slope from 1,000 to 20,000 users (issue 3:
// <= 6 KiB per scripted user) is measured by scripts/usermem.
//
//	go test -run '^$' -bench IdleUserMemory -benchtime 1x ./pkg/userbehavior/script
func BenchmarkIdleUserMemory(b *testing.B) {
	b.Run("scripted", func(b *testing.B) {
		p := mustCompile(b, Options{}, "main.star", `
def home(u):
    u.http.get("/")

Idle = user(tasks=[home], wait=between(1, 2))
`)
		c := *p.Classes()[0]
		benchIdleUsers(b, &c)
	})
	b.Run("go", func(b *testing.B) {
		benchIdleUsers(b, &userbehavior.Class{Name: "Idle", Weight: 1,
			Wait: userbehavior.Wait{Kind: userbehavior.WaitBetween, Min: time.Second, Max: 2 * time.Second},
			Tasks: []userbehavior.Task{{Name: "home", Weight: 1, Fn: func(ctx context.Context, u *userbehavior.User) error {
				u.HTTP.Get(ctx, "/")
				return nil
			}}}})
	})
}

// benchIdleUsers reports the bytes per idle user of class c (a copy it may change)
// between 1,000 and 5,000 users.
func benchIdleUsers(b *testing.B, c *userbehavior.Class) {
	const lo, hi = 1000, 5000
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	tr := userbehavior.NewTransport(64)
	tr.MaxConnsPerHost = 64 // a burst of new users queues instead of opening thousands of sockets
	defer tr.CloseIdleConnections()

	// first[id] is set by user id's first task; the slice is made once for the most
	// users so it adds nothing to the slope.
	first := make([]atomic.Bool, hi+1)
	var started, busy atomic.Int64
	ended := make(chan struct{}, 1) // a task ended: started or busy changed
	c.Tasks = slices.Clone(c.Tasks)
	inner := c.Tasks[0].Fn
	c.Tasks[0].Fn = func(ctx context.Context, u *userbehavior.User) error {
		if u.ID < len(first) && first[u.ID].CompareAndSwap(false, true) {
			started.Add(1)
		}
		busy.Add(1)
		defer func() {
			busy.Add(-1)
			select {
			case ended <- struct{}{}:
			default:
			}
		}()
		return inner(ctx, u)
	}

	var perUser float64
	for range b.N {
		clear(first)
		started.Store(0)
		col := aggregate.NewCollector(time.Now())
		r, err := userbehavior.NewRunner(userbehavior.RunnerConfig{Classes: []*userbehavior.Class{c},
			Host: srv.URL, Collector: col, Transport: tr})
		if err != nil {
			b.Fatal(err)
		}
		// inUse spawns users up to n, waits until each made a request and nearly all
		// wait, and returns HeapInuse+StackInuse after a GC.
		spawned := 0
		inUse := func(n int) uint64 {
			for ; spawned < n; spawned++ {
				if err := r.Spawn(context.Background(), c.Name); err != nil {
					b.Fatal(err)
				}
			}
			deadline := time.NewTimer(30 * time.Second)
			for started.Load() < int64(n) || busy.Load() > int64(n/200) {
				select {
				case <-ended:
				case <-deadline.C:
					b.Fatalf("%d users: %d made a request in 30 s, %d in a task", n, started.Load(), busy.Load())
				}
			}
			deadline.Stop()
			runtime.GC()
			runtime.GC() // goroutine stacks shrink at most by half per GC
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ms.HeapInuse + ms.StackInuse
		}
		m1 := inUse(lo)
		m2 := inUse(hi)
		perUser = (float64(m2) - float64(m1)) / (hi - lo)
		r.Kill()
		col.Swap(time.Now())
	}
	b.ReportMetric(perUser, "B/user")
	b.ReportMetric(0, "ns/op") // one op is a whole measurement: its time says nothing
}
