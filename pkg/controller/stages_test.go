package controller_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/controller"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// TestUserStagesDriveTheRun: a closed-model run follows its stages (ramp to 4 users,
// hold, ramp to 0) over two workers and ends with the shape.
func TestUserStagesDriveTheRun(t *testing.T) {
	target := &countingTarget{served: map[string]uint64{}}
	ts := httptest.NewServer(target)
	defer ts.Close()
	builtins := userbehavior.Builtins{"s": func() []*userbehavior.Class {
		return []*userbehavior.Class{{Name: "U", Weight: 1, Wait: userbehavior.Wait{Kind: userbehavior.WaitConstant, Min: 50 * time.Millisecond},
			Tasks: []userbehavior.Task{{Name: "get", Weight: 1, Fn: get("/fast")}}}}
	}}
	tc := newTestCluster(t)
	tc.addWorker("w1", builtins)
	tc.addWorker("w2", builtins)
	stages, err := scheduler.ParseStages("1s:4,2s:4,1s:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := tc.ctl.Run(ctx, controller.Config{
		Scenario: userbehavior.Scenario{Host: ts.URL, Builtin: "s"},
		Classes:  []scheduler.Class{{Name: "U", Weight: 1}},
		Stages:   stages, SpawnRate: 1, ExpectWorkers: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Run.Reason != "the load shape is over" {
		t.Errorf("reason %q", res.Run.Reason)
	}
	if res.Run.Summary.PeakUsers != 4 {
		t.Errorf("peak users %d, want the shape's 4", res.Run.Summary.PeakUsers)
	}
	if res.Final.Total().Requests == 0 {
		t.Error("no requests")
	}
}
