package userbehavior

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// What keeps an idle user small (see BenchmarkIdleUserMemory in package script and
// scripts/usermem) must not change what users do. These tests pin the behaviour of
// the parts that were made lazy or shared.

// liveUsers is the number of users not yet exited, retired ones included.
func liveUsers(r *Runner) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live)
}

func TestIdleUsersHoldNoGoroutine(t *testing.T) {
	const n = 500
	var ran atomic.Int64
	c := &Class{Name: "A", Weight: 1, Wait: idle, Tasks: []Task{{Name: "t", Weight: 1,
		Fn: func(context.Context, *User) error { ran.Add(1); return nil }}}}
	r, _ := newTestRunner(t, "", c)
	before := runtime.NumGoroutine()
	for range n {
		if err := r.Spawn(context.Background(), "A"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every user to run its first task", func() bool { return ran.Load() == n })
	waitFor(t, "the users' goroutines to end", func() bool { return runtime.NumGoroutine() < before+n/10 })
	if got := liveUsers(r); got != n {
		t.Errorf("%d users live, want %d", got, n)
	}
}

// A waiting user leaves its wait at once when it is retired (and runs on_stop), when
// its context ends or when it is killed (and does not).
func TestWaitingUserStops(t *testing.T) {
	tests := []struct {
		name   string
		stop   func(r *Runner, cancel context.CancelFunc)
		onStop bool
	}{
		{"Retire", func(r *Runner, _ context.CancelFunc) { r.Retire("A") }, true},
		{"StopAll", func(r *Runner, _ context.CancelFunc) { r.StopAll(context.Background()) }, true},
		{"context ends", func(_ *Runner, cancel context.CancelFunc) { cancel() }, false},
		{"Kill", func(r *Runner, _ context.CancelFunc) { r.Kill() }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ran, stopped atomic.Int64
			c := &Class{Name: "A", Weight: 1, Wait: idle,
				Tasks:  []Task{{Name: "t", Weight: 1, Fn: func(context.Context, *User) error { ran.Add(1); return nil }}},
				OnStop: func(context.Context, *User) error { stopped.Add(1); return nil }}
			r, _ := newTestRunner(t, "", c)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := r.Spawn(ctx, "A"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the first task", func() bool { return ran.Load() == 1 })
			tt.stop(r, cancel)
			waitFor(t, "the user to exit", func() bool { return liveUsers(r) == 0 })
			if got, want := stopped.Load() == 1, tt.onStop; got != want {
				t.Errorf("on_stop ran: %v, want %v", got, want)
			}
			r.mu.Lock()
			groups := len(r.groups)
			r.mu.Unlock()
			if groups != 0 {
				t.Errorf("%d context groups left with no user", groups)
			}
		})
	}
}

// Users spawned with different contexts each see their own, values included, though
// users of one context share its cancellable children.
func TestUserContextPerSpawn(t *testing.T) {
	type key struct{}
	seen := make(chan [2]any, 8)
	c := &Class{Name: "A", Weight: 1, Wait: idle, Tasks: []Task{{Name: "t", Weight: 1,
		Fn: func(ctx context.Context, u *User) error { seen <- [2]any{u.ID, ctx.Value(key{})}; return nil }}}}
	r, _ := newTestRunner(t, "", c)
	base, cancel := context.WithCancel(context.Background())
	for i := range 4 {
		if err := r.Spawn(context.WithValue(base, key{}, i+1), "A"); err != nil { // ids 1..4
			t.Fatal(err)
		}
	}
	for range 4 {
		got := <-seen
		if got[0] != got[1] {
			t.Errorf("user %v saw value %v, want its own", got[0], got[1])
		}
	}
	cancel() // ends every group: the users leave their hour-long wait
	waitFor(t, "the users to exit", func() bool { return liveUsers(r) == 0 })
}

// Users that wait next to nothing hand themselves from goroutine to goroutine all the
// time while they are retired, stopped and killed: under -race this finds a user run
// by two goroutines at once (its Vars written without a lock), and a lost or doubled
// stop.
func TestUserHandoffUnderChurn(t *testing.T) {
	var stopped, ran atomic.Int64
	c := &Class{Name: "A", Weight: 1, Wait: Wait{Kind: WaitBetween, Min: 0, Max: 200 * time.Microsecond},
		Tasks: []Task{{Name: "t", Weight: 1, Fn: func(_ context.Context, u *User) error {
			n, _ := u.Vars["n"].(int)
			u.Vars["n"] = n + 1
			ran.Add(1)
			return nil
		}}},
		OnStop: func(context.Context, *User) error { stopped.Add(1); return nil }}
	r, _ := newTestRunner(t, "", c)
	ctxA, cancelA := context.WithCancel(context.Background())
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	const n = 100
	for i := range n {
		ctx := ctxA
		if i%2 == 1 {
			ctx = ctxB
		}
		if err := r.Spawn(ctx, "A"); err != nil {
			t.Fatal(err)
		}
	}
	// Each step waits for the users to have run so many more tasks: churn between
	// the steps, on the real clock (the point is goroutines truly in parallel).
	churn := func(what string, tasks int64) {
		t.Helper()
		mark := ran.Load()
		waitFor(t, what, func() bool { return ran.Load() >= mark+tasks })
	}
	churn("the users to run 150 tasks each", 150*n)
	retired := 0
	for range n / 4 {
		if r.Retire("A") {
			retired++
		}
	}
	churn("the users left to run tasks after the retirements", 75*n)
	cancelA() // the users of ctxA not yet retired stop without on_stop
	churn("the users of ctxB to run tasks after ctxA ended", 20*n)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.StopAll(ctx) // the rest: ctxB's
	if liveUsers(r) != 0 {
		t.Fatal("StopAll returned with users live")
	}
	// Retire takes the newest users first: ids 76..100, half of ctxA. Those of ctxA
	// may be stopped by cancelA before they see the retirement; every user of ctxB
	// runs on_stop.
	if got := stopped.Load(); got < int64(n/2) || got > int64(n/2+retired/2+1) {
		t.Errorf("on_stop ran %d times, want between %d and %d", got, n/2, n/2+retired/2+1)
	}
}

// A user's cookie jar is made by the first cookie set: a user that never gets one
// has none. Cookies set on a redirect not followed are kept too.
func TestLazyCookieJar(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "s", Value: "1", Path: "/"})
		http.Redirect(w, r, "/plain", http.StatusFound)
	})
	mux.HandleFunc("/me", func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie("s"); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	eachClient(t, func(t *testing.T, kind string) {
		st := newStack(t, kind)
		s := st.newSender()
		var jar *lazyJar
		switch s := s.(type) {
		case *fastSender:
			jar = &s.jar
		case *netHTTP:
			jar = &s.jar
		}
		ctx := context.Background()
		do := func(path string, noRedirects bool) int {
			t.Helper()
			u, _ := url.Parse(ts.URL + path)
			var resp Response
			if err := s.send(ctx, &Request{Method: http.MethodGet, NoRedirects: noRedirects}, u, time.Now(), time.Minute, &resp); err != nil {
				t.Fatal(err)
			}
			return resp.Status
		}
		if do("/plain", false); jar.jar.Load() != nil {
			t.Error("a jar was made with no cookie set")
		}
		if got := do("/me", false); got != http.StatusUnauthorized {
			t.Errorf("/me before login: %d, want 401", got)
		}
		if got := do("/login", true); got != http.StatusFound {
			t.Errorf("/login not followed: %d, want 302", got)
		}
		if jar.jar.Load() == nil {
			t.Fatal("no jar after a cookie was set")
		}
		if got := do("/me", false); got != http.StatusOK {
			t.Errorf("/me after login: %d, want 200", got)
		}
	})
}
