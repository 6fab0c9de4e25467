package userbehavior

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

func newTestRunner(t *testing.T, host string, classes ...*Class) (*Runner, *aggregate.Collector) {
	t.Helper()
	col := aggregate.NewCollector(time.Now())
	tr := NewTransport(64)
	r, err := NewRunner(RunnerConfig{Classes: classes, Host: host, Collector: col, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Kill() // every user goroutine ends with the test
		tr.CloseIdleConnections()
	})
	return r, col
}

func noop(context.Context, *User) error { return nil }

// idle is a wait long enough that a user only ever leaves it when stopped.
var idle = Wait{Kind: WaitConstant, Min: time.Hour}

func get(path string) func(context.Context, *User) error {
	return func(ctx context.Context, u *User) error {
		u.HTTP.Get(ctx, path)
		return nil
	}
}

// waitFor spins until cond holds: for state that the code under test changes
// synchronously in another goroutine, with nothing to wait on.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

func TestRunnerSpawnRetireCounts(t *testing.T) {
	stopped := make(chan int, 10)
	onStop := func(_ context.Context, u *User) error { stopped <- u.ID; return nil }
	a := &Class{Name: "A", Weight: 1, Wait: idle, Tasks: []Task{{Name: "t", Weight: 1, Fn: noop}}, OnStop: onStop}
	b := &Class{Name: "B", Weight: 1, Wait: idle, Tasks: []Task{{Name: "t", Weight: 1, Fn: noop}}, OnStop: onStop}
	r, _ := newTestRunner(t, "", b, a)
	ctx := context.Background()

	if got := r.Classes(); len(got) != 2 || got[0] != a || got[1] != b {
		t.Errorf("Classes() = %v, want A, B in name order", got)
	}
	wantCounts := func(want map[string]int) {
		t.Helper()
		if got := r.Counts(); !mapsEqual(got, want) {
			t.Errorf("Counts() = %v, want %v", got, want)
		}
	}
	wantCounts(map[string]int{"A": 0, "B": 0})
	for _, class := range []string{"A", "A", "A", "B", "B"} { // ids 1..5
		if err := r.Spawn(ctx, class); err != nil {
			t.Fatal(err)
		}
	}
	wantCounts(map[string]int{"A": 3, "B": 2})
	if err := r.Spawn(ctx, "C"); err == nil || err.Error() != `unknown user class "C"` {
		t.Errorf("Spawn(C) = %v, want unknown user class", err)
	}
	wantCounts(map[string]int{"A": 3, "B": 2})

	steps := []struct {
		class  string
		ok     bool
		counts map[string]int
		stops  int // the id that runs on_stop, 0 for none
	}{
		{class: "A", ok: true, counts: map[string]int{"A": 2, "B": 2}, stops: 3}, // the newest goes first
		{class: "A", ok: true, counts: map[string]int{"A": 1, "B": 2}, stops: 2},
		{class: "B", ok: true, counts: map[string]int{"A": 1, "B": 1}, stops: 5},
		{class: "C", ok: false, counts: map[string]int{"A": 1, "B": 1}},
		{class: "B", ok: true, counts: map[string]int{"A": 1, "B": 0}, stops: 4},
		{class: "B", ok: false, counts: map[string]int{"A": 1, "B": 0}},
	}
	for _, st := range steps {
		if ok := r.Retire(st.class); ok != st.ok {
			t.Fatalf("Retire(%s) = %v, want %v", st.class, ok, st.ok)
		}
		wantCounts(st.counts)
		if st.stops != 0 {
			if id := <-stopped; id != st.stops {
				t.Errorf("Retire(%s) stopped user %d, want %d", st.class, id, st.stops)
			}
		}
	}
	r.StopAll(ctx)
	if id := <-stopped; id != 1 {
		t.Errorf("StopAll stopped user %d, want 1", id)
	}
	wantCounts(map[string]int{"A": 0, "B": 0})
	if r.Retire("A") {
		t.Error("Retire after StopAll found a user")
	}
	select {
	case id := <-stopped:
		t.Errorf("user %d ran on_stop twice", id)
	default:
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// blockingTarget serves /block, which answers only when the test releases it (or the
// client goes away), and counts everything it serves.
type blockingTarget struct {
	arrived chan struct{} // one value per /block request
	release chan struct{}
	mu      sync.Mutex
	served  map[string]int
}

func newBlockingTarget(t *testing.T) (*blockingTarget, *httptest.Server) {
	bt := &blockingTarget{arrived: make(chan struct{}, 100), release: make(chan struct{}), served: map[string]int{}}
	ts := httptest.NewServer(bt)
	t.Cleanup(ts.Close)
	return bt, ts
}

func (bt *blockingTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bt.mu.Lock()
	bt.served[r.URL.Path]++
	bt.mu.Unlock()
	if r.URL.Path == "/block" {
		bt.arrived <- struct{}{}
		select {
		case <-bt.release:
		case <-r.Context().Done():
			return
		}
	}
	fmt.Fprint(w, "ok")
}

func (bt *blockingTarget) count(path string) int {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	return bt.served[path]
}

func TestRunnerStopInFlight(t *testing.T) {
	tests := []struct {
		name string
		// stop stops the runner while its one user waits in /block.
		stop       func(t *testing.T, r *Runner, bt *blockingTarget, cancelSpawn context.CancelFunc)
		blockErr   string // how the in-flight request is recorded
		cancelled  bool   // it is counted as cancelled at stop instead
		wantOnStop bool
	}{
		{
			name: "StopAll lets the task finish",
			stop: func(t *testing.T, r *Runner, bt *blockingTarget, _ context.CancelFunc) {
				done := make(chan struct{})
				go func() {
					defer close(done)
					r.StopAll(context.Background())
				}()
				waitFor(t, "StopAll to retire the user", func() bool { return r.Counts()["U"] == 0 })
				select {
				case <-done:
					t.Error("StopAll returned while a task was in flight")
				default:
				}
				close(bt.release)
				<-done
			},
			wantOnStop: true,
		},
		{
			// The run's stop cuts the request: counted apart, not as a failure.
			name: "StopAll past its deadline cuts, cancelled at stop",
			stop: func(_ *testing.T, r *Runner, _ *blockingTarget, _ context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				r.StopAll(ctx)
			},
			cancelled: true,
		},
		{
			name:     "Kill aborts",
			stop:     func(_ *testing.T, r *Runner, _ *blockingTarget, _ context.CancelFunc) { r.Kill() },
			blockErr: "aborted: user stopped",
		},
		{
			name: "the spawn context ends",
			stop: func(_ *testing.T, r *Runner, _ *blockingTarget, cancelSpawn context.CancelFunc) {
				cancelSpawn()
				r.StopAll(context.Background()) // waits for the user to exit
			},
			blockErr: "aborted: user stopped",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bt, ts := newBlockingTarget(t)
			c := &Class{Name: "U", Weight: 1, Tasks: []Task{{Name: "block", Weight: 1, Fn: get("/block")}},
				OnStop: get("/bye")}
			r, col := newTestRunner(t, ts.URL, c)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := r.Spawn(ctx, "U"); err != nil {
				t.Fatal(err)
			}
			<-bt.arrived
			tt.stop(t, r, bt, cancel)

			if got := r.Counts()["U"]; got != 0 {
				t.Errorf("Counts after stop: %d users", got)
			}
			snap := col.Swap(time.Now())
			block := snap.Endpoints[aggregate.Endpoint{Method: "GET", Name: "/block"}]
			wantCancelled := map[bool]uint64{false: 0, true: 1}[tt.cancelled]
			if got := snap.Counters[aggregate.CancelledCounter]; got != wantCancelled {
				t.Errorf("cancelled at stop: %d, want %d", got, wantCancelled)
			}
			if tt.cancelled {
				if block != nil || len(snap.Errors) != 0 {
					t.Errorf("a request cut by the stop was recorded: %v, errors %v", snap.Names(), snap.Errors)
				}
				if n := bt.count("/block"); n != 1 {
					t.Errorf("target saw %d /block requests, want 1", n)
				}
				return
			}
			if block == nil || block.Requests != 1 {
				t.Fatalf("recorded %v; want one /block request", snap.Names())
			}
			wantFailures := map[bool]uint64{false: 0, true: 1}[tt.blockErr != ""]
			if block.Failures != wantFailures {
				t.Errorf("/block recorded %d failures, want %d (errors %v)", block.Failures, wantFailures, snap.Errors)
			}
			if tt.blockErr != "" {
				k := aggregate.ErrorKey{Endpoint: aggregate.Endpoint{Method: "GET", Name: "/block"}, Message: tt.blockErr}
				if snap.Errors[k] != 1 {
					t.Errorf("errors %v, want %q once", snap.Errors, tt.blockErr)
				}
			}
			_, ranOnStop := snap.Endpoints[aggregate.Endpoint{Method: "GET", Name: "/bye"}]
			if ranOnStop != tt.wantOnStop {
				t.Errorf("on_stop ran: %v, want %v", ranOnStop, tt.wantOnStop)
			}
			if ranOnStop && bt.count("/bye") != 1 {
				t.Errorf("target saw %d /bye", bt.count("/bye"))
			}
			if n := bt.count("/block"); n != 1 {
				t.Errorf("target saw %d /block requests, want 1: the user went on after its stop", n)
			}
		})
	}
}

func TestRunnerTaskFaultsAreRecorded(t *testing.T) {
	reached := make(chan struct{})
	rounds := 0
	c := &Class{Name: "C", Sequential: true, Tasks: []Task{
		{Name: "panics", Fn: func(context.Context, *User) error { panic("boom") }},
		{Name: "fails", Fn: func(context.Context, *User) error { return errors.New("bad input") }},
		{Name: "idle", Fn: func(ctx context.Context, u *User) error {
			if rounds++; rounds < 3 {
				return nil
			}
			close(reached)
			<-ctx.Done()
			return ctx.Err() // an error of a stopped task is no fault
		}},
	}, OnStart: func(context.Context, *User) error { return errors.New("no login") }}
	r, col := newTestRunner(t, "", c)
	if err := r.Spawn(context.Background(), "C"); err != nil {
		t.Fatal(err)
	}
	<-reached // the user went round three times despite its faults
	r.Kill()

	snap := col.Swap(time.Now())
	want := map[string]struct {
		n   uint64
		err string
	}{
		"C.on_start": {1, "no login"},
		"C.panics":   {3, "panic: boom"},
		"C.fails":    {3, "bad input"},
	}
	if len(snap.Endpoints) != 0 || len(snap.Exceptions) != len(want) {
		t.Errorf("recorded rows %v and exceptions %v, want %d exceptions and no rows", snap.Names(), snap.Exceptions, len(want))
	}
	for name, w := range want {
		if got := snap.Exceptions[aggregate.ExceptionKey{Message: w.err, Traceback: name}]; got != w.n {
			t.Errorf("%s: exceptions %v, want %q %d times", name, snap.Exceptions, w.err, w.n)
		}
	}
}

func TestNewRunnerErrors(t *testing.T) {
	col := aggregate.NewCollector(time.Now())
	task := []Task{{Name: "t", Weight: 1, Fn: noop}}
	tests := []struct {
		name string
		cfg  RunnerConfig
		want []string // substrings of the one error, all of them
	}{
		{name: "no classes", cfg: RunnerConfig{Collector: col}, want: []string{"no user classes"}},
		{name: "no collector", cfg: RunnerConfig{Classes: []*Class{{Name: "A", Tasks: task}}},
			want: []string{"runner needs a collector"}},
		{name: "nil class", cfg: RunnerConfig{Collector: col, Classes: []*Class{nil}}, want: []string{"user class 0 is nil"}},
		{
			name: "every problem at once",
			cfg: RunnerConfig{Collector: col, Host: "localhost:8080", Classes: []*Class{
				{Name: "NoTask"},
				{Name: "BadWeight", Tasks: []Task{{Name: "t", Weight: 0, Fn: noop}}},
				{Name: "NoFn", Tasks: []Task{{Name: "t", Weight: 1}}},
				{Name: "BadWait", Tasks: task, Wait: Wait{Kind: WaitBetween, Min: 3 * time.Second, Max: time.Second}},
				{Name: "Negative", Weight: -1, Tasks: task},
				{Tasks: task},
				{Name: "Dup", Tasks: task},
				{Name: "Dup", Tasks: task},
			}},
			want: []string{
				`user class "NoTask" has no tasks`,
				`user class "BadWeight": task "t" has weight 0, want >= 1`,
				`user class "NoFn": task 0 ("t") has no function`,
				`user class "BadWait": wait between: want 0 <= min <= max, got 3s..1s`,
				`user class "Negative": weight and fixed count must be >= 0`,
				"user class has no name",
				`user class "Dup" defined twice`,
				`host "localhost:8080" is not an absolute URL`,
			},
		},
		{name: "host not a URL", cfg: RunnerConfig{Collector: col, Host: "http://[::1", Classes: []*Class{{Name: "A", Tasks: task}}},
			want: []string{`host "http://[::1" is not an absolute URL`}},
		{name: "sequential tasks need no weight", cfg: RunnerConfig{Collector: col, Host: "http://example.test/api/",
			Classes: []*Class{{Name: "A", Sequential: true, Tasks: []Task{{Name: "t", Fn: noop}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRunner(tt.cfg)
			if len(tt.want) == 0 {
				if err != nil || r == nil {
					t.Fatalf("NewRunner: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewRunner succeeded, want %q", tt.want)
			}
			if r != nil {
				t.Errorf("NewRunner returned a runner with its error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			if got, want := strings.Count(err.Error(), "\n")+1, len(tt.want); got != want {
				t.Errorf("error has %d lines, want %d:\n%v", got, want, err)
			}
		})
	}
}

func TestRunnerSequentialTasksInOrder(t *testing.T) {
	seen := make(chan []string)
	step := func(name string) func(context.Context, *User) error {
		return func(ctx context.Context, u *User) error {
			s, _ := u.Vars["seen"].([]string)
			s = append(s, name)
			u.Vars["seen"] = s
			if len(s) == 7 {
				seen <- s
				<-ctx.Done()
			}
			return nil
		}
	}
	c := &Class{Name: "S", Sequential: true, Tasks: []Task{
		{Name: "a", Fn: step("a")}, {Name: "b", Fn: step("b")}, {Name: "c", Fn: step("c")},
	}, OnStart: func(_ context.Context, u *User) error { u.Vars["seen"] = []string{"start"}; return nil }}
	r, _ := newTestRunner(t, "", c)
	if err := r.Spawn(context.Background(), "S"); err != nil {
		t.Fatal(err)
	}
	got := <-seen
	r.Kill()
	if want := []string{"start", "a", "b", "c", "a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("ran %v, want %v", got, want)
	}
}

func TestTaskPickerWeights(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
	}{
		{name: "one task", weights: []int{5}},
		{name: "equal", weights: []int{1, 1}},
		{name: "1:3:6", weights: []int{1, 3, 6}},
		{name: "rare task", weights: []int{1, 99}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Class{Name: "W"}
			total := 0
			for i, w := range tt.weights {
				c.Tasks = append(c.Tasks, Task{Name: fmt.Sprint(i), Weight: w, Fn: noop})
				total += w
			}
			p := newTaskPicker(c)
			rnd := rand.New(rand.NewPCG(3, 4))
			const picks = 20000
			got := make([]int, len(tt.weights))
			for range picks {
				i, err := strconv.Atoi(p.pick(rnd).Name)
				if err != nil {
					t.Fatal(err)
				}
				got[i]++
			}
			for i, w := range tt.weights {
				want := float64(picks) * float64(w) / float64(total)
				if diff := float64(got[i]) - want; diff > 0.02*picks || diff < -0.02*picks {
					t.Errorf("task %d (weight %d) picked %d times of %d, want about %.0f", i, w, got[i], picks, want)
				}
			}
		})
	}
}

// countingTarget counts requests per method and path.
type countingTarget struct {
	mu      sync.Mutex
	served  map[string]uint64
	total   atomic.Uint64
	enough  uint64
	reached chan struct{}
}

func (ct *countingTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ct.mu.Lock()
	ct.served[r.Method+" "+r.URL.Path]++
	ct.mu.Unlock()
	if ct.total.Add(1) == ct.enough {
		close(ct.reached)
	}
	fmt.Fprint(w, "counted")
}

func TestRunnerExactTotals(t *testing.T) {
	ct := &countingTarget{served: map[string]uint64{}, enough: 400, reached: make(chan struct{})}
	ts := httptest.NewServer(ct)
	defer ts.Close()

	var custom atomic.Uint64
	reader := &Class{Name: "Reader", Weight: 3, Tasks: []Task{
		{Name: "list", Weight: 3, Fn: get("/list")},
		{Name: "item", Weight: 1, Fn: func(ctx context.Context, u *User) error {
			u.HTTP.Do(ctx, &Request{URL: fmt.Sprintf("/item/%d", u.Rand.IntN(1000)), Name: "/item/[id]"})
			return nil
		}},
	}}
	writer := &Class{Name: "Writer", Weight: 1, Tasks: []Task{{Name: "post", Weight: 1, Fn: func(ctx context.Context, u *User) error {
		u.HTTP.Post(ctx, "/post", "text/plain", []byte("x"))
		u.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: "CUSTOM", Name: "think"}, Latency: time.Millisecond})
		custom.Add(1)
		return nil
	}}}, OnStart: get("/login")}
	r, col := newTestRunner(t, ts.URL, reader, writer)
	ctx := context.Background()
	for range 3 {
		if err := r.Spawn(ctx, "Reader"); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := r.Spawn(ctx, "Writer"); err != nil {
			t.Fatal(err)
		}
	}
	total := aggregate.NewSnapshot(time.Now())
	<-ct.reached
	total.Merge(col.Swap(time.Now())) // a swap in the middle loses nothing
	r.StopAll(ctx)
	total.Merge(col.Swap(time.Now()))

	ct.mu.Lock()
	served := ct.served
	ct.mu.Unlock()
	var item uint64
	for k, n := range served {
		if strings.HasPrefix(k, "GET /item/") {
			item += n
		}
	}
	want := map[aggregate.Endpoint]uint64{
		{Method: "GET", Name: "/list"}:      served["GET /list"],
		{Method: "GET", Name: "/item/[id]"}: item,
		{Method: "POST", Name: "/post"}:     served["POST /post"],
		{Method: "GET", Name: "/login"}:     served["GET /login"],
		{Method: "CUSTOM", Name: "think"}:   custom.Load(),
	}
	if served["GET /login"] != 2 {
		t.Errorf("target saw %d logins, want 2", served["GET /login"])
	}
	for ep, n := range want {
		st := total.Endpoints[ep]
		if n == 0 || st == nil || st.Requests != n || st.Failures != 0 {
			t.Errorf("%s %s: recorded %+v, want %d requests (the target's count), no failures", ep.Method, ep.Name, st, n)
		}
	}
	if len(total.Endpoints) != len(want) || len(total.Errors) != 0 {
		t.Errorf("recorded %v with errors %v", total.Names(), total.Errors)
	}
	if got, sent := total.Total().Requests-custom.Load(), ct.total.Load(); got != sent {
		t.Errorf("recorded %d requests, target served %d", got, sent)
	}
}

func TestRunnerTimeout(t *testing.T) {
	// The runner's default timeout ends a request that gets no answer. (Under load it
	// may end before the request reaches the target: a timeout all the same.)
	_, ts := newBlockingTarget(t)
	errs := make(chan error, 1)
	c := &Class{Name: "T", Sequential: true, Wait: idle, Tasks: []Task{{Name: "block", Fn: func(ctx context.Context, u *User) error {
		errs <- u.HTTP.Get(ctx, "/block").Err
		return nil
	}}}}
	col := aggregate.NewCollector(time.Now())
	r, err := NewRunner(RunnerConfig{Classes: []*Class{c}, Host: ts.URL, Collector: col, Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Kill)
	if err := r.Spawn(context.Background(), "T"); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; errString(err) != "timeout" {
		t.Errorf("request error %v, want timeout", err)
	}
	r.StopAll(context.Background())
	snap := col.Swap(time.Now())
	k := aggregate.ErrorKey{Endpoint: aggregate.Endpoint{Method: "GET", Name: "/block"}, Message: "timeout"}
	if snap.Errors[k] != 1 || len(snap.Errors) != 1 {
		t.Errorf("errors %v, want one timeout", snap.Errors)
	}
}
