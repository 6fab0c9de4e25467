package script

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.starlark.net/starlark"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// bareUser is a user for tasks that make no requests and record nothing.
func bareUser(c *userbehavior.Class, id int) *userbehavior.User {
	u := &userbehavior.User{ID: id, Class: c, Vars: map[string]any{}, Rand: rand.New(rand.NewPCG(1, uint64(id)))}
	c.Setup(u)
	return u
}

func taskFn(t *testing.T, c *userbehavior.Class, name string) func(context.Context, *userbehavior.User) error {
	t.Helper()
	for _, task := range c.Tasks {
		if task.Name == name {
			return task.Fn
		}
	}
	t.Fatalf("class %s has no task %s", c.Name, name)
	return nil
}

func TestTaskErrors(t *testing.T) {
	src := `
def helper(x):
    return x["missing"]

def boom(u):
    helper({})

def failing(u):
    fail("no stock for", u.id)

def loop(u):
    while True:
        pass

def frozen(u):
    CACHE["l"].append(1)

def recurse(u):
    recurse(u)

def fine(u):
    u.vars["n"] = u.vars.get("n", 0) + 1

CACHE = {"l": []} # a global list is caught before the run: hide one
A = user(tasks=[boom, failing, loop, frozen, recurse, fine])
`
	p := mustCompile(t, Options{StepBudget: 100_000}, "main.star", src)
	c := class(t, p, "A")
	u := bareUser(c, 7)
	tests := []struct {
		task  string
		msg   string
		trace []string // substrings of the traceback, in order
	}{
		{"boom", `main.star:3:13: key "missing" not in dict`,
			[]string{"Traceback (most recent call last):", "main.star:6:11: in boom", "main.star:3:13: in helper", `Error: key "missing" not in dict`}},
		{"failing", "main.star:9:9: no stock for 7",
			[]string{"main.star:9:9: in failing", "Error in fail: no stock for 7"}},
		{"loop", "main.star:11:1: Starlark computation cancelled: step budget of 100000 exceeded (runaway loop?)",
			[]string{"main.star:11:1: in loop"}},
		{"frozen", `main.star:16:22: append: cannot append to frozen list (globals are frozen once the script has loaded: hand rows out with data.csv(..., mode="unique"), keep a user's own state in u.vars)`,
			[]string{"main.star:16:22: in frozen"}},
		{"recurse", "main.star:19:5: function recurse called recursively",
			[]string{"main.star:19:5: in recurse"}},
	}
	for _, tt := range tests {
		t.Run(tt.task, func(t *testing.T) {
			err := taskFn(t, c, tt.task)(context.Background(), u)
			var te userbehavior.TracebackError
			if !errors.As(err, &te) {
				t.Fatalf("error %T %v has no traceback", err, err)
			}
			if te.Error() != tt.msg {
				t.Errorf("message %q, want %q", te.Error(), tt.msg)
			}
			tb := te.Traceback()
			at := 0
			for _, s := range tt.trace {
				i := strings.Index(tb[at:], s)
				if i < 0 {
					t.Fatalf("traceback lacks %q (in order):\n%s", s, tb)
				}
				at += i + len(s)
			}
		})
	}
	// After every failure, including a cancelled runaway loop, the user's thread
	// still works and keeps its own state.
	for range 3 {
		if err := taskFn(t, c, "fine")(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	if n, _, _ := u.State.(*session).user.vars.Get(starlark.String("n")); n == nil || n.String() != "3" {
		t.Errorf("u.vars[\"n\"] = %v, want 3", n)
	}
}

func TestTaskCancellation(t *testing.T) {
	src := `
def spin(u):
    while True:
        pass

def nap(u):
    sleep(3600)

A = user(tasks=[spin, nap])
`
	run := func(t *testing.T, opts Options, task string, ctx context.Context) error {
		p := mustCompile(t, opts, "main.star", src)
		c := class(t, p, "A")
		return taskFn(t, c, task)(ctx, bareUser(c, 1))
	}
	wantErr := func(t *testing.T, err error, want string) {
		t.Helper()
		if err == nil || err.Error() != want {
			t.Errorf("error %v, want %q", err, want)
		}
	}
	t.Run("task timeout stops a loop", func(t *testing.T) {
		err := run(t, Options{TaskTimeout: time.Millisecond, StepBudget: 1 << 62}, "spin", context.Background())
		wantErr(t, err, "main.star:2:1: Starlark computation cancelled: task ran longer than 1ms")
	})
	t.Run("stopping the user stops a loop", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := run(t, Options{StepBudget: 1 << 62}, "spin", ctx)
		wantErr(t, err, "main.star:2:1: Starlark computation cancelled: user stopped")
	})
	// In a synctest bubble time stands still until every goroutine waits: the task
	// is surely asleep when the timeout fires or the user is stopped.
	t.Run("task timeout ends a sleep", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			err := run(t, Options{TaskTimeout: time.Minute}, "nap", context.Background())
			wantErr(t, err, "main.star:7:10: sleep interrupted: task ran longer than 1m0s")
		})
	})
	t.Run("stopping the user ends a sleep", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- run(t, Options{}, "nap", ctx) }()
			synctest.Wait()
			cancel()
			wantErr(t, <-done, "main.star:7:10: sleep interrupted: user stopped")
		})
	})
}

// target is an in-process system under test.
func target(t testing.TB) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		var code int
		fmt.Sscan(r.PathValue("code"), &code)
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"code": %d}`, code)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"method": %q, "query": %q, "type": %q, "x": %q, "xs": %q, "body": %q}`,
			r.Method, r.URL.RawQuery, r.Header.Get("Content-Type"), r.Header.Get("X-A"),
			strings.Join(r.Header.Values("X-A"), ","), body)
	})
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: token%d\n\n", i)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// runOnce runs every task of class once through a Runner against host, and
// returns what the collector got.
func runOnce(t testing.TB, p *Program, host, class string) *aggregate.Snapshot {
	t.Helper()
	col := aggregate.NewCollector(time.Now())
	tr := userbehavior.NewTransport(8)
	t.Cleanup(tr.CloseIdleConnections)
	r, err := userbehavior.NewRunner(userbehavior.RunnerConfig{Classes: p.Classes(), Host: host, Collector: col, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.RunOnce(context.Background(), class); err != nil {
		t.Fatal(err)
	}
	return col.Swap(time.Now())
}

// row is one endpoint's outcome in a snapshot.
type row struct {
	Requests, Failures uint64
	Errors             []string
}

func rows(s *aggregate.Snapshot) map[aggregate.Endpoint]row {
	out := map[aggregate.Endpoint]row{}
	for ep, st := range s.Endpoints {
		out[ep] = row{Requests: st.Requests, Failures: st.Failures}
	}
	for k := range s.Errors {
		r := out[k.Endpoint]
		r.Errors = append(r.Errors, k.Message)
		slices.Sort(r.Errors)
		out[k.Endpoint] = r
	}
	// Exceptions show as one pseudo-row, their messages as its errors.
	for k, n := range s.Exceptions {
		r := out[exceptionRow]
		r.Requests += n
		r.Failures += n
		r.Errors = append(r.Errors, k.Message)
		slices.Sort(r.Errors)
		out[exceptionRow] = r
	}
	return out
}

var exceptionRow = aggregate.Endpoint{Method: "EXCEPTION"}

func ep(method, name string) aggregate.Endpoint {
	return aggregate.Endpoint{Method: method, Name: name}
}

func TestVerdicts(t *testing.T) {
	srv := target(t)
	tests := []struct {
		name string
		body string // the task's body; u is the user
		want map[aggregate.Endpoint]row
	}{
		{"2xx succeeds", `u.http.get("/status/200")`,
			map[aggregate.Endpoint]row{ep("GET", "/status/200"): {1, 0, nil}}},
		{"4xx fails", `u.http.get("/status/404")`,
			map[aggregate.Endpoint]row{ep("GET", "/status/404"): {1, 1, []string{"HTTP 404 Not Found"}}}},
		{"check fails a 2xx", `r = u.http.get("/status/200", name="ok"); check(r.status == 201, "want 201")`,
			map[aggregate.Endpoint]row{ep("GET", "ok"): {1, 1, []string{"want 201"}}}},
		{"check that holds", `r = u.http.get("/status/200", name="ok"); check(r.json()["code"] == 200, "bad code")`,
			map[aggregate.Endpoint]row{ep("GET", "ok"): {1, 0, nil}}},
		{"check marks only the last response", `u.http.get("/status/200", name="a"); u.http.get("/status/200", name="b"); check(False, "b is wrong")`,
			map[aggregate.Endpoint]row{ep("GET", "a"): {1, 0, nil}, ep("GET", "b"): {1, 1, []string{"b is wrong"}}}},
		{"check without a response", `check(1 > 2, "math is broken")`,
			map[aggregate.Endpoint]row{ep("CHECK", "math is broken"): {1, 1, []string{"math is broken"}}}},
		{"fail on 2xx", `r = u.http.post("/status/200", json={"id": 1}, name="buy"); r.fail("sold out")`,
			map[aggregate.Endpoint]row{ep("POST", "buy"): {1, 1, []string{"sold out"}}}},
		{"succeed on 404", `r = u.http.get("/status/404", name="gone"); r.succeed()`,
			map[aggregate.Endpoint]row{ep("GET", "gone"): {1, 0, nil}}},
		{"expect accepts 409", `u.http.post("/status/409", expect=[200, 409], name="buy")`,
			map[aggregate.Endpoint]row{ep("POST", "buy"): {1, 0, nil}}},
		{"expect refuses 200", `u.http.get("/status/200", expect=204, name="x")`,
			map[aggregate.Endpoint]row{ep("GET", "x"): {1, 1, []string{"HTTP 200 OK (not accepted)"}}}},
		{"fail after the next request is an error", `r = u.http.get("/status/200", name="a"); u.http.get("/status/200", name="b"); r.fail("late")`,
			map[aggregate.Endpoint]row{ep("GET", "a"): {1, 0, nil}, ep("GET", "b"): {1, 0, nil},
				exceptionRow: {1, 1, []string{"main.star:2:89: response.fail: the response was already recorded; call fail() before the user's next request"}}}},
		{"wrong type to http.get at run time", `path = 42; u.http.get(path)`,
			map[aggregate.Endpoint]row{exceptionRow: {1, 1, []string{"main.star:2:26: http.get: for parameter url: got int, want string"}}}},
		{"unknown argument to http.post at run time", `kw = {"jsn": {}}; u.http.post("/x", **kw)`,
			map[aggregate.Endpoint]row{exceptionRow: {1, 1, []string{"main.star:2:34: http.post: unexpected keyword argument jsn"}}}},
		{"custom measurements", `record("db", 0.5); record("db", 0.1, ok=False, error="slow"); t = timer("calc", kind="FN"); t.stop(); timer("open")`,
			map[aggregate.Endpoint]row{ep("CUSTOM", "db"): {2, 1, []string{"slow"}}, ep("FN", "calc"): {1, 0, nil},
				ep("CUSTOM", "open"): {1, 1, []string{"timer not stopped before the task ended"}}}},
		{"request parameters", `r = u.http.request("PUT", "/echo", params={"q": ["a", "b"]}, headers={"x-a": "1"}, data={"k": "v"}, name="echo")
    got = r.json()
    check(got == {"method": "PUT", "query": "q=a&q=b", "type": "application/x-www-form-urlencoded", "x": "1", "xs": "1", "body": "k=v"}, "echo: %r" % got)
    check(r.header("content-type") == "application/json" and r.headers["Content-Type"] == "application/json", "headers")
    check(r.ok and r.error == None and r.size == len(r.text) and r.elapsed >= r.ttfb and r.ttfb > 0, "numbers")`,
			map[aggregate.Endpoint]row{ep("PUT", "echo"): {1, 0, nil}}},
		{"headers that differ in case keep every value, in order", `r = u.http.get("/echo", headers={"x-a": "1", "X-A": ["2", 3]}, params={"p": 1}, name="echo")
    check(r.json()["xs"] == "1,2,3" and r.json()["query"] == "p=1", "echo: %s" % r.text)`,
			map[aggregate.Endpoint]row{ep("GET", "echo"): {1, 0, nil}}},
		{"expect as a tuple and as a range", `u.http.get("/status/201", expect=(200, 201), name="a"); u.http.get("/status/299", expect=range(200, 300), name="b"); u.http.get("/status/300", expect=range(200, 300), name="c")`,
			map[aggregate.Endpoint]row{ep("GET", "a"): {1, 0, nil}, ep("GET", "b"): {1, 0, nil},
				ep("GET", "c"): {1, 1, []string{"HTTP 300 Multiple Choices (not accepted)"}}}},
		{"a response read after the next request", `a = u.http.post("/echo", json=[1], name="a"); b = u.http.get("/status/204", name="b")
    check(a.header("Content-Type") == "application/json" and a.json()["body"] == "[1]" and a.headers["Content-Type"] == "application/json", "a: %s" % a.text)
    check(b.status == 204 and b.text == "" and b.header("Content-Type") == None, "b: %r" % b.headers)`,
			map[aggregate.Endpoint]row{ep("POST", "a"): {1, 0, nil}, ep("GET", "b"): {1, 0, nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "def t(u):\n    " + tt.body + "\nA = user(tasks=[t])\n"
			p := mustCompile(t, Options{}, "main.star", src)
			got := rows(runOnce(t, p, srv.URL, "A"))
			for k, want := range tt.want {
				if g := got[k]; g.Requests != want.Requests || g.Failures != want.Failures || !slices.Equal(g.Errors, want.Errors) {
					t.Errorf("%v: got %+v, want %+v", k, g, want)
				}
			}
			for k, g := range got {
				if _, ok := tt.want[k]; !ok {
					t.Errorf("unexpected row %v: %+v", k, g)
				}
			}
		})
	}
}

func TestHelpers(t *testing.T) {
	srv := target(t)
	src := `
ITEMS = ["a", "b", "c"]
def t(u):
    check(u.id == 1 and u.class_name == "A", "identity")
    check(env("KEY", "default") == "value" and env("MISSING", 7) == 7, "env")
    x = uuid()
    check(len(x) == 36 and x[14] == "4" and x != uuid(), "uuid %s" % x)
    check(1 <= random.randint(1, 3) and random.randint(1, 3) <= 3 and random.choice(ITEMS) in ITEMS, "random")
    check(0 <= random.random() and random.random() < 1 and 2 <= random.uniform(2, 3) and random.uniform(2, 3) <= 3, "random floats")
    l = list(ITEMS)
    random.shuffle(l)
    check(sorted(l) == ITEMS, "shuffle")
    check(json.decode(json.encode({"a": [1, 2]})) == {"a": [1, 2]}, "json")
    check(time.now() > time.from_timestamp(0) and math.sqrt(4) == 2, "time, math")
    check(set([1, 1]) == set([1]), "set")
    sleep(0)
    count("things", 2)
    u.vars["seen"] = u.vars.get("seen", 0) + 1
A = user(tasks=[t, t])
`
	p := mustCompile(t, Options{Vars: map[string]string{"KEY": "value"}}, "main.star", src)
	got := rows(runOnce(t, p, srv.URL, "A"))
	if len(got) != 0 {
		t.Errorf("rows %v, want none (every check holds)", got)
	}
}

func TestStreamSSE(t *testing.T) {
	srv := target(t)
	src := `
def chat(u):
    s = u.http.stream("GET", "/sse", sse=True, name="chat")
    got = [event for event in s]
    check(got == ["token0", "token1", "token2", "[DONE]"], "events: %r" % got)
    check(s.response.status == 200, "status")
    check(s.response.header("content-type") == "text/event-stream" and s.response.headers["Content-Type"] == "text/event-stream", "headers")

def early(u):
    s = u.http.stream("GET", "/sse", sse=True, name="early")
    for event in s:
        break
    check(s.response != None and s.response.ok, "leaving early is fine")

A = user(tasks=[chat, early])
`
	p := mustCompile(t, Options{}, "main.star", src)
	got := rows(runOnce(t, p, srv.URL, "A"))
	want := map[aggregate.Endpoint]row{
		ep("GET", "chat"):   {1, 0, nil},
		ep("TTFC", "chat"):  {1, 0, nil},
		ep("ICL", "chat"):   {3, 0, nil},
		ep("GET", "early"):  {1, 0, nil},
		ep("TTFC", "early"): {1, 0, nil},
	}
	for k, w := range want {
		if g := got[k]; g.Requests != w.Requests || g.Failures != w.Failures || !slices.Equal(g.Errors, w.Errors) {
			t.Errorf("%v: got %+v, want %+v", k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected row %v: %+v", k, g)
		}
	}
}

// TestUserPlace: u.worker_index, u.worker_count and u.run_id are the worker's place
// in the run, and u.user_count the users its worker runs at the moment.
func TestUserPlace(t *testing.T) {
	p := mustCompile(t, Options{}, "main.star", `
def idle(u):
    pass
def probe(u):
    count("worker %d of %d, run %s, users %d" % (u.worker_index, u.worker_count, u.run_id, u.user_count))
Idle = user(tasks=[idle], wait=constant(3600))
Probe = user(tasks=[probe])
`)
	col := aggregate.NewCollector(time.Now())
	r, err := userbehavior.NewRunner(userbehavior.RunnerConfig{Classes: p.Classes(), Collector: col,
		Run: userbehavior.RunInfo{ID: "run-7", WorkerIndex: 2, WorkerCount: 3}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 2 {
		if err := r.Spawn(ctx, "Idle"); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // the second probe sees the first one gone
		if err := r.RunOnce(ctx, "Probe"); err != nil {
			t.Fatal(err)
		}
	}
	r.StopAll(ctx)
	got := col.Swap(time.Now()).Counters
	want := map[string]uint64{"worker 2 of 3, run run-7, users 3": 2}
	if !maps.Equal(got, want) {
		t.Errorf("counters %v, want %v", got, want)
	}
}

// TestStopRun: stop_run(reason) tells the runner's StopRun; without one (a dry run)
// it is counted; an empty reason is an error.
func TestStopRun(t *testing.T) {
	p := mustCompile(t, Options{}, "main.star", `
def quit(u):
    stop_run("fail ratio over 20%")
def mute(u):
    stop_run("")
A = user(tasks=[quit])
B = user(tasks=[mute])
`)
	var told []string
	for _, listen := range []bool{true, false} {
		col := aggregate.NewCollector(time.Now())
		cfg := userbehavior.RunnerConfig{Classes: p.Classes(), Collector: col}
		if listen {
			cfg.StopRun = func(reason string) { told = append(told, reason) }
		}
		r, err := userbehavior.NewRunner(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"A", "B"} {
			if err := r.RunOnce(context.Background(), c); err != nil {
				t.Fatal(err)
			}
		}
		snap := col.Swap(time.Now())
		want := map[string]uint64{}
		if !listen {
			want["stop_run: fail ratio over 20%"] = 1
		}
		if !maps.Equal(snap.Counters, want) && !(len(want) == 0 && len(snap.Counters) == 0) {
			t.Errorf("listening %v: counters %v, want %v", listen, snap.Counters, want)
		}
		var msgs []string
		for k := range snap.Exceptions {
			msgs = append(msgs, k.Message)
		}
		if len(msgs) != 1 || !strings.Contains(msgs[0], "stop_run: say why") {
			t.Errorf("listening %v: exceptions %q, want the empty reason's", listen, msgs)
		}
	}
	if !slices.Equal(told, []string{"fail ratio over 20%"}) {
		t.Errorf("StopRun told %q", told)
	}
}
