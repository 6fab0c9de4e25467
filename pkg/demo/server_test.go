package demo

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"testing"
	"time"
)

func TestStartAndStop(t *testing.T) {
	tgt := NewTarget(TargetConfig{Seed: 1, LatencyScale: tinyLatency})
	base, stop, err := tgt.Start(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	if status, b, _ := send(t, c, "GET", base+"/health", "", nil); status != http.StatusOK {
		t.Fatalf("health: %d %s", status, b)
	}
	if err := stop(t.Context()); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := stop(t.Context()); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if resp, err := c.Get(base + "/health"); err == nil {
		resp.Body.Close()
		t.Fatal("target still answers after stop")
	}
	checkServed(t, tgt, map[string]uint64{"GET /health": 1})
}

func TestStartStopsWhenContextEnds(t *testing.T) {
	tgt := NewTarget(TargetConfig{Seed: 1, LatencyScale: tinyLatency})
	ctx, cancel := context.WithCancel(t.Context())
	base, stop, err := tgt.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	if status, _, _ := send(t, c, "GET", base+"/", "", nil); status != http.StatusOK {
		t.Fatalf("home page: %d", status)
	}
	cancel()
	// stop after the context ended waits for the shutdown the context started.
	if err := stop(t.Context()); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if resp, err := c.Get(base + "/health"); err == nil {
		resp.Body.Close()
		t.Fatal("target still answers after its context ended")
	}
}

func TestStopAbortsRequestsAfterGrace(t *testing.T) {
	// At this scale a search waits about 40 s: only the shutdown can end it.
	tgt := NewTarget(TargetConfig{Seed: 1, LatencyScale: 1000})
	base, stop, err := tgt.Start(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	answered := make(chan int, 1)
	go func() {
		resp, err := c.Get(base + "/api/search?q=mug")
		if err != nil {
			answered <- 0 // the connection was closed under it: as good as an answer
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	// Wait (without sleeping) until the request is in the handler's delay.
	for tgt.Served()["GET /api/search"] == 0 {
		runtime.Gosched()
	}
	sctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = stop(sctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stop with a request in flight: %v, want the grace's deadline", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stop took %v", d)
	}
	select {
	case status := <-answered:
		if status != 0 && status != http.StatusServiceUnavailable {
			t.Errorf("aborted request answered %d", status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("request still in flight 10 s after the target stopped")
	}
}

func TestStartListenError(t *testing.T) {
	tgt := NewTarget(TargetConfig{})
	base, stop, err := tgt.Start(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := stop(t.Context()); err != nil {
			t.Error(err)
		}
	}()
	// The port is taken by the first target.
	if _, _, err := NewTarget(TargetConfig{}).Start(t.Context(), base[len("http://"):]); err == nil {
		t.Fatal("a second target listened on a port in use")
	}
}
