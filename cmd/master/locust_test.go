package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestLocustFlags(t *testing.T) {
	host := []string{"--headless", "-H", "http://127.0.0.1:1/"}
	bad := []struct {
		name string
		args []string
		msg  string
	}{
		{"open port without opt-in", []string{"--locust-listen", "0.0.0.0:5558", "--locust-classes", "A=1"}, "--locust-insecure"},
		{"no classes", []string{"--locust-listen", "127.0.0.1:5558"}, "needs --locust-classes"},
		{"classes without listen", []string{"--locust-classes", "A=1"}, "needs --locust-listen"},
		{"zero weight", []string{"--locust-listen", "127.0.0.1:5558", "--locust-classes", "A=0"}, "whole number >= 1"},
		{"duplicate class", []string{"--locust-listen", "127.0.0.1:5558", "--locust-classes", "A=1,A=2"}, "distinct names"},
		{"bad address", []string{"--locust-listen", "5558", "--locust-classes", "A"}, "--locust-listen"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig(append(append([]string{}, host...), tt.args...), func(string) string { return "" })
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %v, want one saying %q", err, tt.msg)
			}
		})
	}
	cfg, err := parseConfig(append(host, "--locust-listen", "0.0.0.0:5558", "--locust-insecure", "--locust-classes", "WebsiteUser=3, ApiUser"),
		func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	classes, err := cfg.locustClasses(nil)
	if err != nil || len(classes) != 2 || classes[0].Name != "WebsiteUser" || classes[0].Weight != 3 || classes[1].Name != "ApiUser" || classes[1].Weight != 1 {
		t.Errorf("classes %+v, %v", classes, err)
	}
	if cfg.localWorkers() != 0 {
		t.Errorf("%d local workers with --locust-listen, want 0: they could not run the Locust classes", cfg.localWorkers())
	}
}

// The master binary's wiring: a real boomer worker joins on --locust-listen,
// runs its share, is told to quit at the end of a headless run, and the run's
// summary counts what the target served.
func TestHeadlessWithBoomerWorker(t *testing.T) {
	master, _ := binaries(t)
	boomer := filepath.Join(binDir, "boomerworker")
	if out, err := exec.Command("go", "build", "-o", boomer, "../../pkg/locust/internal/boomerworker").CombinedOutput(); err != nil {
		t.Fatalf("build the boomer worker: %v\n%s", err, out)
	}
	var served atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) }))
	defer target.Close()
	dir := t.TempDir()
	zaddr := freePort(t)
	summary := filepath.Join(dir, "summary.json")
	m := start(t, master, "--headless", "-H", target.URL, "-u", "3", "-r", "10", "-t", "8s", "--expect-workers", "1",
		"--expect-workers-max-wait", "60s", "--listen", freePort(t), "--locust-listen", zaddr, "--locust-classes", "GoUser=1",
		"--db", filepath.Join(dir, "runs.db"), "--json", summary)
	_, port, _ := strings.Cut(zaddr, ":")
	b := start(t, boomer, "--master-host", "127.0.0.1", "--master-port", port, "--target", target.URL, "--requests", "150", "--lifetime", "60s")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, p := range []*exec.Cmd{m, b} {
		done := make(chan error, 1)
		go func() { done <- p.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", filepath.Base(p.Path), err)
			}
		case <-ctx.Done():
			t.Fatalf("%s did not exit", filepath.Base(p.Path))
		}
	}
	raw, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Total struct {
			Requests uint64 `json:"requests"`
		} `json:"total"`
	}
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatal(err)
	}
	// boomer drops what it measured in the 3 s before a stop; the worker's 150
	// requests end well before the 8 s run does.
	if n := sum.Total.Requests; n == 0 || int64(n) > served.Load() {
		t.Errorf("summary counts %d requests, the target served %d: %s", n, served.Load(), raw)
	}
	// The run says its figures were rounded by the worker (stored, so every view of
	// the run shows it).
	db, run := storedRun(t, filepath.Join(dir, "runs.db"))
	events, _ := db.Events(run.ID)
	rounded := false
	for _, e := range events {
		rounded = rounded || (e.Kind == "statistics_rounded" && strings.Contains(e.Detail, "rounded by Locust worker"))
	}
	if !rounded {
		t.Errorf("no statistics_rounded warning among the run's events: %+v", events)
	}
}
