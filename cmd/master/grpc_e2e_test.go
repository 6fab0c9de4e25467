package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/stampede-load/stampede/examples/grpc/service"
	"github.com/stampede-load/stampede/examples/websocket/chat"
	"github.com/stampede-load/stampede/pkg/report"
)

// echoTarget serves the in-repository gRPC target on a loopback port.
func echoTarget(t *testing.T, reflection bool) (*service.Server, string) {
	t.Helper()
	s, addr, err := service.Start(service.Options{Reflection: reflection}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s, addr
}

// waitExit waits for a process to end by itself.
func waitExit(t *testing.T, p *exec.Cmd, limit time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(p.Path), err)
		}
	case <-ctx.Done():
		t.Fatalf("%s did not exit within %v", filepath.Base(p.Path), limit)
	}
}

func readSummary(t *testing.T, path string) report.Summary {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s report.Summary
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGRPCQuickMode runs the plain gRPC user (--grpc-method) from the real binaries:
// over two worker processes from a .proto (the target has no reflection), and in the
// open model from the target's reflection. Every call the target served is counted
// once in the run's summary, and a threshold on the method's row is judged.
func TestGRPCQuickMode(t *testing.T) {
	masterBin, workerBin := binaries(t)
	t.Run("two workers, --proto", func(t *testing.T) {
		srv, addr := echoTarget(t, false)
		dir := t.TempDir()
		listen, summary := freePort(t), filepath.Join(dir, "summary.json")
		m := start(t, masterBin, "--headless", "--stop-timeout", "10s", "-H", "grpc://"+addr, "--grpc-method", "stampede.echo.v1.Echo/Say",
			"--body", `{"text": "hi"}`, "--header", "x-user: test", "--proto", "../../examples/grpc/service/echo.proto",
			"-u", "4", "-r", "20", "-t", "3s", "--wait", "5ms", "--expect-workers", "2", "--local-workers", "0",
			"--expect-workers-max-wait", "60s", "--threshold", "p99{name=/stampede.echo.v1.Echo/Say}<30s",
			"--listen", listen, "--db", filepath.Join(dir, "runs.db"), "--json", summary)
		start(t, workerBin, "--master", listen, "--id", "g1", "--log-level", "error")
		start(t, workerBin, "--master", listen, "--id", "g2", "--log-level", "error")
		waitExit(t, m, 90*time.Second)
		checkGRPCSummary(t, readSummary(t, summary), "/stampede.echo.v1.Echo/Say", srv.Calls("/stampede.echo.v1.Echo/Say", codes.OK))
	})
	t.Run("open model, reflection", func(t *testing.T) {
		srv, addr := echoTarget(t, true)
		dir := t.TempDir()
		summary := filepath.Join(dir, "summary.json")
		m := start(t, masterBin, "--headless", "--stop-timeout", "10s", "-H", "grpc://"+addr, "--grpc-method", "grpc.health.v1.Health/Check",
			"--body", `{"service": ""}`, "--rate", "40", "-u", "4", "-t", "3s",
			"--listen", "127.0.0.1:0", "--db", filepath.Join(dir, "runs.db"), "--json", summary)
		waitExit(t, m, 90*time.Second)
		checkGRPCSummary(t, readSummary(t, summary), "/grpc.health.v1.Health/Check", srv.Calls("/grpc.health.v1.Health/Check", codes.OK))
	})
}

func checkGRPCSummary(t *testing.T, s report.Summary, name string, served int64) {
	t.Helper()
	if len(s.Endpoints) != 1 {
		t.Fatalf("rows %+v, want one", s.Endpoints)
	}
	row := s.Endpoints[0]
	if row.Method != "GRPC" || row.Name != name || row.Failures != 0 || served == 0 || row.Requests != uint64(served) {
		t.Errorf("row %s %s: %d calls, %d failures; the target served %d", row.Method, row.Name, row.Requests, row.Failures, served)
	}
	if s.Total.Requests != row.Requests || !s.Passed {
		t.Errorf("total %d, thresholds passed %v (%+v)", s.Total.Requests, s.Passed, s.Thresholds)
	}
}

// TestWebSocketScriptTwoWorkers runs examples/websocket over two worker processes:
// every handshake and every request is counted once, as the target counted them.
func TestWebSocketScriptTwoWorkers(t *testing.T) {
	masterBin, workerBin := binaries(t)
	target := chat.New()
	ts := httptest.NewServer(target)
	defer ts.Close()
	dir := t.TempDir()
	listen, summary := freePort(t), filepath.Join(dir, "summary.json")
	m := start(t, masterBin, "--headless", "-f", "../../examples/websocket/main.star", "-H", "ws"+strings.TrimPrefix(ts.URL, "http"),
		"-u", "6", "-r", "20", "-t", "3s", "--expect-workers", "2", "--local-workers", "0", "--expect-workers-max-wait", "60s",
		"--listen", listen, "--db", filepath.Join(dir, "runs.db"), "--json", summary, "--exit-code-on-error", "0")
	start(t, workerBin, "--master", listen, "--id", "w1", "--log-level", "error")
	start(t, workerBin, "--master", listen, "--id", "w2", "--log-level", "error")
	waitExit(t, m, 90*time.Second)
	s := readSummary(t, summary)
	var connects, requests uint64
	for _, r := range s.Endpoints {
		switch {
		case r.Method == "WS" && strings.HasPrefix(r.Name, "connect "):
			connects += r.Requests
		case r.Method == "WS":
			requests += r.Requests
		default:
			t.Errorf("row %s %s", r.Method, r.Name)
		}
	}
	if connects != 12 || connects != uint64(target.Accepted()) {
		t.Errorf("%d handshakes counted, the target accepted %d, want 12 (6 users, 2 sockets each)", connects, target.Accepted())
	}
	if requests == 0 || requests != uint64(target.Received()) {
		t.Errorf("%d requests counted, the target received %d messages", requests, target.Received())
	}
}
