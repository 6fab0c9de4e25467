package controller_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/controller"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// lockedBuffer is a bytes.Buffer safe to write from the controller's loop.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTenThousandDistinctURLsAreCapped: users of two workers request 10,000
// distinct URLs with no name= grouping. The run keeps at most MaxEndpoints named
// rows and one "other" row, its totals equal what the target served, its failures
// what the target failed (grouped on the rows they belong to), and the master warns
// once, in the progress output, the live view and the run's events.
func TestTenThousandDistinctURLsAreCapped(t *testing.T) {
	const urls = 10000
	var served, failed atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscanf(r.URL.Path, "/item/%d", &n)
		served.Add(1)
		if n%3 == 0 {
			failed.Add(1)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer ts.Close()
	var next atomic.Int64
	all := make(chan struct{})
	var closeAll sync.Once
	builtins := userbehavior.Builtins{"dynamic": func() []*userbehavior.Class {
		return []*userbehavior.Class{{Name: "U", Weight: 1, Wait: userbehavior.Wait{Kind: userbehavior.WaitConstant, Min: time.Millisecond},
			Tasks: []userbehavior.Task{{Name: "item", Weight: 1, Fn: func(ctx context.Context, u *userbehavior.User) error {
				n := next.Add(1)
				if n > urls {
					return nil // every URL asked: the test stops the run
				}
				u.HTTP.Get(ctx, fmt.Sprintf("/item/%d", n))
				if n == urls {
					closeAll.Do(func() { close(all) })
				}
				return nil
			}}}}}
	}}
	tc := newTestCluster(t)
	tc.addWorker("w1", builtins)
	tc.addWorker("w2", builtins)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-all:
			cancel()
		case <-time.After(2 * time.Minute):
			cancel()
		}
	}()
	progress := &lockedBuffer{}
	res, err := tc.ctl.Run(ctx, controller.Config{
		Scenario: userbehavior.Scenario{Host: ts.URL, Builtin: "dynamic"},
		Classes:  []scheduler.Class{{Name: "U", Weight: 1}},
		Users:    10, SpawnRate: 100, ExpectWorkers: 2, Progress: progress, ProgressEvery: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if next.Load() < urls {
		t.Fatalf("the run ended after %d of %d URLs", next.Load(), urls)
	}
	final := res.Final
	if n := len(final.Endpoints); n > aggregate.MaxEndpoints+1 {
		t.Errorf("%d rows for one method, want at most %d named and one other", n, aggregate.MaxEndpoints)
	}
	other := final.Endpoints[aggregate.Endpoint{Method: "GET", Name: aggregate.OtherEndpoints}]
	if other == nil || other.Requests < urls-aggregate.MaxEndpoints {
		t.Errorf("the other row: %+v, want the %d requests past the cap at least", other, urls-aggregate.MaxEndpoints)
	}
	total := final.Total()
	if total.Requests != uint64(served.Load()) || total.Requests != urls {
		t.Errorf("counted %d requests, the target served %d of %d", total.Requests, served.Load(), urls)
	}
	if total.Failures != uint64(failed.Load()) {
		t.Errorf("counted %d failures, the target failed %d", total.Failures, failed.Load())
	}
	var errs uint64
	for k, n := range final.Errors {
		errs += n
		if final.Endpoints[k.Endpoint] == nil {
			t.Errorf("error row %v on a row the run does not have", k)
		}
	}
	if errs != total.Failures {
		t.Errorf("error rows hold %d failures of %d", errs, total.Failures)
	}
	stored, err := tc.db.Final(res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := stored.Total().Requests; got != urls || len(stored.Endpoints) > aggregate.MaxEndpoints+1 {
		t.Errorf("stored final: %d requests in %d rows", got, len(stored.Endpoints))
	}

	const warning = "endpoint names capped at 1000: group dynamic URLs with name="
	if out := progress.String(); strings.Count(out, "WARNING: "+warning) != 1 {
		t.Errorf("progress output warns %d times, want once:\n%s", strings.Count(out, warning), out)
	}
	live := tc.ctl.Live()
	if !strings.Contains(strings.Join(live.Warnings, "\n"), warning) {
		t.Errorf("live view warnings %q", live.Warnings)
	}
	events, err := tc.db.Events(res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	capped := 0
	for _, e := range events {
		if e.Kind == "endpoints_capped" {
			capped++
		}
	}
	if capped != 1 {
		t.Errorf("%d endpoints_capped events, want 1", capped)
	}
}
