package script

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// runHook runs a hook class once as one user, like the master does.
func runHook(t *testing.T, c *userbehavior.Class, host string) *aggregate.Snapshot {
	t.Helper()
	col := aggregate.NewCollector(time.Now())
	r, err := userbehavior.NewRunner(userbehavior.RunnerConfig{Classes: []*userbehavior.Class{c}, Host: host, Collector: col})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.RunOnce(context.Background(), c.Name); err != nil {
		t.Fatal(err)
	}
	return col.Swap(time.Now())
}

// TestSetupTeardown: setup's requests go to the run's host and what it returns
// reaches every user as a frozen u.setup; teardown gets it back as data.
func TestSetupTeardown(t *testing.T) {
	var setups, teardowns, reads atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/seed":
			setups.Add(1)
			fmt.Fprint(w, `{"id": 42}`)
		case "/read":
			if r.URL.Query().Get("id") == "42" {
				reads.Add(1)
			}
		case "/clean":
			if r.URL.Query().Get("id") == "42" {
				teardowns.Add(1)
			}
		}
	}))
	defer ts.Close()
	src := `
def setup(ctx):
    return {"id": ctx.http.get("/seed").json()["id"], "names": ["a", "b"]}

def read(u):
    u.http.get("/read", params={"id": str(u.setup["id"])})

def mutate(u):
    u.setup["names"].append("c")

def teardown(ctx, data):
    ctx.http.get("/clean", params={"id": str(data["id"])})

A = user(tasks=[read])
B = user(tasks=[mutate])
`
	p := mustCompile(t, Options{}, "main.star", src)
	if !p.HasSetup() || !p.HasTeardown() {
		t.Fatal("hooks not found")
	}
	c, result := p.SetupClass()
	snap := runHook(t, c, ts.URL)
	data, err := result()
	if err != nil || string(data) != `{"id":42,"names":["a","b"]}` || setups.Load() != 1 {
		t.Fatalf("setup: %s, %v, %d calls", data, err, setups.Load())
	}
	if snap.Total().Requests != 1 || snap.Endpoints[aggregate.Endpoint{Method: "GET", Name: "/seed"}] == nil {
		t.Errorf("setup's rows: %v", snap.Names())
	}

	users := mustCompile(t, Options{SetupData: data}, "main.star", src)
	for range 3 {
		runOnce(t, users, ts.URL, "A")
	}
	if reads.Load() != 3 {
		t.Errorf("%d users read u.setup, want 3", reads.Load())
	}
	s := runOnce(t, users, ts.URL, "B")
	if len(s.Exceptions) != 1 || !strings.Contains(fmt.Sprint(s.Exceptions), "frozen list") {
		t.Errorf("u.setup could be changed: exceptions %v", s.Exceptions)
	}

	td, done := users.TeardownClass(data)
	runHook(t, td, ts.URL)
	if err := done(); err != nil || teardowns.Load() != 1 {
		t.Errorf("teardown: %v, %d calls", err, teardowns.Load())
	}
}

func TestSetupFailures(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"raises", "def setup(ctx):\n    return {}[\"k\"]\n", `main.star:2:14: key "k" not in dict`},
		{"not JSON", "def setup(ctx):\n    return lambda: 1\n", "setup must return a JSON-able value"},
		{"too big", "def setup(ctx):\n    return \"x\" * (1 << 20)\n", "more than the 1048576 allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompile(t, Options{}, "main.star", tc.src+okTask+"A = user(tasks=[t])\n")
			c, result := p.SetupClass()
			runHook(t, c, "")
			_, err := result()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if tb, ok := err.(userbehavior.TracebackError); tc.name == "raises" && (!ok || !strings.Contains(tb.Traceback(), "Traceback")) {
				t.Errorf("no traceback: %#v", err)
			}
		})
	}
	for _, tc := range []struct{ name, src, want string }{
		{"setup arity", "def setup():\n    pass\n", "setup must be a function of one argument"},
		{"teardown arity", "def teardown(ctx):\n    pass\n", "teardown must be a function of two arguments"},
		{"setup not a function", "setup = 3\n", "setup must be a function"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(files("main.star", tc.src+okTask+"A = user(tasks=[t])\n"), Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Compile(files("main.star", okTask+"A = user(tasks=[t])\n"), Options{SetupData: []byte("{")}); err == nil {
		t.Error("bad setup data compiled")
	}
}
