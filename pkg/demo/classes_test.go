package demo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

func TestClasses(t *testing.T) {
	classes := Classes()
	want := []struct {
		name     string
		weight   int
		min, max time.Duration
		tasks    map[string]int
		onStart  bool
	}{
		{BrowserClass, 3, 500 * time.Millisecond, 2 * time.Second, map[string]int{"index": 1, "list_items": 3, "item": 5, "search": 1}, false},
		{BuyerClass, 1, time.Second, 3 * time.Second, map[string]int{"add_to_cart": 3, "checkout": 1}, true},
	}
	if len(classes) != len(want) {
		t.Fatalf("%d classes, want %d", len(classes), len(want))
	}
	for i, w := range want {
		c := classes[i]
		if err := c.Validate(); err != nil {
			t.Errorf("class %q: %v", c.Name, err)
		}
		if c.Name != w.name || c.Weight != w.weight || c.FixedCount != 0 || c.Sequential {
			t.Errorf("class %d: %q weight %d fixed %d sequential %v; want %q weight %d", i, c.Name, c.Weight, c.FixedCount, c.Sequential, w.name, w.weight)
		}
		if c.Wait != (userbehavior.Wait{Kind: userbehavior.WaitBetween, Min: w.min, Max: w.max}) {
			t.Errorf("class %q waits %v, want %v..%v", c.Name, c.Wait, w.min, w.max)
		}
		if (c.OnStart != nil) != w.onStart {
			t.Errorf("class %q: on_start set %v, want %v", c.Name, c.OnStart != nil, w.onStart)
		}
		got := map[string]int{}
		for _, task := range c.Tasks {
			got[task.Name] = task.Weight
		}
		if len(got) != len(w.tasks) {
			t.Errorf("class %q tasks %v, want %v", c.Name, got, w.tasks)
		}
		for name, weight := range w.tasks {
			if got[name] != weight {
				t.Errorf("class %q task %q weight %d, want %d", c.Name, name, got[name], weight)
			}
		}
	}
	if again := Classes(); again[0] == classes[0] || &again[0].Tasks[0] == &classes[0].Tasks[0] {
		t.Error("Classes returned the same values twice")
	}
}

// TestClassesAgainstTarget runs the demo's users with a real Runner against the target
// and checks that every request the users sent is exactly what the target served,
// row by row, and that the only failures are the checkouts the target failed.
func TestClassesAgainstTarget(t *testing.T) {
	tgt := NewTarget(TargetConfig{Seed: 11, LatencyScale: 0.01, ErrorRate: 0.2})

	// Stop the users once every endpoint the classes use was served a few times.
	const enoughEach = 5
	enough := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tgt.ServeHTTP(w, r)
		for key, n := range tgt.Served() {
			switch key {
			case "GET /health": // not used by the classes
			case "POST /api/login": // once per buyer
			default:
				if n < enoughEach {
					return
				}
			}
		}
		once.Do(func() { close(enough) })
	}))
	defer srv.Close()

	classes := Classes()
	for _, c := range classes {
		c.Wait = userbehavior.Wait{} // no pauses: the test needs requests, not realism
	}
	transport := userbehavior.NewTransport(16)
	defer transport.CloseIdleConnections()
	collector := aggregate.NewCollector(time.Now())
	runner, err := userbehavior.NewRunner(userbehavior.RunnerConfig{
		Classes: classes, Host: srv.URL, Collector: collector, Transport: transport, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, class := range []string{BrowserClass, BrowserClass, BrowserClass, BuyerClass, BuyerClass} {
		if err := runner.Spawn(ctx, class); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-enough:
	case <-time.After(30 * time.Second):
		runner.Kill()
		t.Fatalf("endpoints not all served %d times in 30 s: %v", enoughEach, tgt.Served())
	}
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	runner.StopAll(stopCtx)
	if stopCtx.Err() != nil {
		t.Fatal("users did not stop on their own within 10 s")
	}
	snap := collector.Swap(time.Now())

	served := tgt.Served()
	rows := map[aggregate.Endpoint]string{
		{Method: "GET", Name: "/"}:                    "GET /",
		{Method: "GET", Name: "/api/items"}:           "GET /api/items",
		{Method: "GET", Name: "/api/items/[id]"}:      "GET /api/items/{id}",
		{Method: "GET", Name: "/api/search?q=[term]"}: "GET /api/search",
		{Method: "POST", Name: "/api/login"}:          "POST /api/login",
		{Method: "POST", Name: "/api/cart"}:           "POST /api/cart",
		{Method: "POST", Name: "/api/checkout"}:       "POST /api/checkout",
	}
	for ep, st := range snap.Endpoints {
		key, ok := rows[ep]
		if !ok {
			t.Errorf("unexpected statistics row %v: %d requests, %d failures", ep, st.Requests, st.Failures)
			continue
		}
		if st.Requests != served[key] {
			t.Errorf("row %v: %d requests sent, target served %d", ep, st.Requests, served[key])
		}
		if st.Failures != 0 && key != "POST /api/checkout" {
			t.Errorf("row %v: %d failures", ep, st.Failures)
		}
	}
	for ep, key := range rows {
		if _, ok := snap.Endpoints[ep]; !ok {
			t.Errorf("no statistics row %v (target served %d)", ep, served[key])
		}
	}
	if served["POST /api/login"] != 2 {
		t.Errorf("%d logins, want one per buyer", served["POST /api/login"])
	}
	for k, n := range snap.Errors {
		if k.Endpoint != (aggregate.Endpoint{Method: "POST", Name: "/api/checkout"}) || k.Message != "HTTP 503 Service Unavailable" {
			t.Errorf("unexpected error row %+v (%d)", k, n)
		}
	}
}
