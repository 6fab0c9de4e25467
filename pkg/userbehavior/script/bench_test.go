package script

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// The same task, GET /x and check the status, as a script and in Go, against the
// same in-process target: the difference is the per-request cost of scripting.
// Compare with: go test -run - -bench 'ScriptedTask|GoTask' -count 10 | benchstat

func BenchmarkScriptedTask(b *testing.B) {
	p := mustCompile(b, Options{}, "main.star", `
def t(u):
    r = u.http.get("/x")
    check(r.status == 200, "status")
A = user(tasks=[t])
`)
	benchTask(b, *p.Classes()[0])
}

func BenchmarkGoTask(b *testing.B) {
	benchTask(b, userbehavior.Class{Name: "A", Weight: 1, Tasks: []userbehavior.Task{{Name: "t", Weight: 1,
		Fn: func(ctx context.Context, u *userbehavior.User) error {
			r := u.HTTP.Do(ctx, &userbehavior.Request{Method: http.MethodGet, URL: "/x"})
			if r.Status != http.StatusOK {
				r.Fail("status")
			}
			return nil
		}}}})
}

// BenchmarkScriptDispatch is the script's share alone: a task that makes no request.
func BenchmarkScriptDispatch(b *testing.B) {
	p := mustCompile(b, Options{}, "main.star", `
def t(u):
    check("/api/items/%d" % u.id != "", "status")
A = user(tasks=[t])
`)
	benchTask(b, *p.Classes()[0])
}

// benchTask runs c's first task b.N times on one user of a Runner.
func benchTask(b *testing.B, c userbehavior.Class) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	var u *userbehavior.User
	setup := c.Setup
	c.Setup = func(nu *userbehavior.User) { // keep the user the runner makes
		if setup != nil {
			setup(nu)
		}
		u = nu
	}
	col := aggregate.NewCollector(time.Now())
	tr := userbehavior.NewTransport(8)
	defer tr.CloseIdleConnections()
	r, err := userbehavior.NewRunner(userbehavior.RunnerConfig{Classes: []*userbehavior.Class{&c}, Host: srv.URL, Collector: col, Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	if err := r.RunOnce(context.Background(), c.Name); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background()) // as the runner's user context
	defer cancel()
	fn := c.Tasks[0].Fn
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := fn(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	snap := col.Swap(time.Now())
	for ep, st := range snap.Endpoints {
		if st.Failures > 0 {
			b.Fatalf("%v: %d failures: %v", ep, st.Failures, snap.Errors)
		}
	}
}
