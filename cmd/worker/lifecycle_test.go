package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/stampede-load/stampede/pkg/cluster"
)

// syncBuffer collects the worker's output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWorkerStopsEveryComponent runs a worker with every component on (the work
// against a real master's gRPC service, the drain deadline, the health server) in
// this process, waits until it has joined, and cancels it: it must return 0 with
// every goroutine it started ended and its health port closed.
func TestWorkerStopsEveryComponent(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	// The master's side: the real gRPC service, on loopback.
	srv := cluster.NewServer(cluster.ServerConfig{Version: "test"})
	gs := grpc.NewServer()
	srv.RegisterOn(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()

	health, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	healthAddr := health.Addr().String()
	health.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"--master", lis.Addr().String(), "--health-listen", healthAddr, "--no-gpu"},
			func(string) string { return "" }, out, out, make(chan struct{}))
	}()
	select {
	case ev := <-srv.Events():
		if ev.Kind != cluster.EventJoined {
			t.Fatalf("first event %v, want the worker's join", ev.Kind)
		}
	case code := <-exited:
		t.Fatalf("worker exited with %d:\n%s", code, out)
	case <-time.After(60 * time.Second):
		t.Fatalf("the worker did not join within 60 s:\n%s", out)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + healthAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz: %s while connected", resp.Status)
	}

	cancel()
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("worker exited with %d, want 0:\n%s", code, out)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the worker did not return within 60 s of its cancel:\n%s", out)
	}
	if c, err := net.DialTimeout("tcp", healthAddr, 5*time.Second); err == nil {
		c.Close()
		t.Errorf("the health port %s is still open after the worker returned", healthAddr)
	}
	gs.Stop()
	srv.Close()
	srv.Wait()
	<-served
	goleak.VerifyNone(t, ignore)
}
