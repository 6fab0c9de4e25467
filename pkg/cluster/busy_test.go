package cluster

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/stampede-load/stampede/pkg/telemetry"
)

// TestBusyMasterKeepsWorkers: while the master does not take events (its event loop
// is busy), a worker whose messages wait for it is not silent, however long the
// wait: it must not be dropped, and none of its messages lost.
func TestBusyMasterKeepsWorkers(t *testing.T) {
	const timeout = 300 * time.Millisecond
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(ServerConfig{HeartbeatTimeout: timeout})
	gs := grpc.NewServer()
	srv.RegisterOn(gs)
	go gs.Serve(lis)
	t.Cleanup(func() { srv.Close(); gs.Stop(); srv.Wait() })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Dial(ctx, lis.Addr().String(), WorkerInfo{ID: "w1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ev := <-srv.Events(); ev.Kind != EventJoined {
		t.Fatalf("first event %v, want joined", ev.Kind)
	}
	// More samples than the event channel holds: the reader blocks on the last ones.
	n := cap(srv.events) + 8
	for range n {
		if err := s.SendTelemetry(telemetry.Sample{At: time.Now(), Interval: time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	for len(srv.events) < cap(srv.events) {
		select {
		case <-ctx.Done():
			t.Fatal("the event channel never filled")
		case <-time.After(time.Millisecond):
		}
	}
	// The master stays busy for several heartbeat timeouts: the time itself is what
	// is tested, nothing waits on it.
	time.Sleep(4 * timeout)
	got := 0
	for got < n {
		select {
		case ev := <-srv.Events():
			switch ev.Kind {
			case EventTelemetry:
				got++
			case EventLeft:
				t.Fatalf("worker dropped after %d of %d samples while the master was busy: %s", got, n, ev.Reason)
			}
		case <-ctx.Done():
			t.Fatalf("%d of %d samples arrived", got, n)
		}
	}
}
