package cluster

import (
	"context"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"

	"github.com/stampede-load/stampede/pkg/telemetry"
)

// TestBusyMasterKeepsWorkers: while the master does not take events (its event loop
// is busy), a worker whose messages wait for it is not silent, however long the
// wait: it must not be dropped, and none of its messages lost. The master and the
// worker speak gRPC over an in-memory connection in a synctest bubble, so the
// master stays busy for four heartbeat timeouts of the bubble's clock, whatever the
// machine's load.
func TestBusyMasterKeepsWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 3 * time.Second
		lis := bufconn.Listen(1 << 20)
		srv := NewServer(ServerConfig{HeartbeatTimeout: timeout})
		gs := grpc.NewServer()
		srv.RegisterOn(gs)
		served := make(chan struct{})
		go func() {
			defer close(served)
			_ = gs.Serve(lis)
		}()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s, err := Dial(ctx, "passthrough:///bufnet", WorkerInfo{ID: "w1"}, "",
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			s.Close()
			srv.Close()
			gs.Stop()
			<-served
			srv.Wait()
		}()
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
		synctest.Wait()
		if len(srv.events) != cap(srv.events) {
			t.Fatalf("%d events wait, want the channel full (%d)", len(srv.events), cap(srv.events))
		}
		// The master stays busy for four heartbeat timeouts of the bubble's clock.
		time.Sleep(4 * timeout)
		for got := 0; got < n; {
			switch ev := <-srv.Events(); ev.Kind {
			case EventTelemetry:
				got++
			case EventLeft:
				t.Fatalf("worker dropped after %d of %d samples while the master was busy: %s", got, n, ev.Reason)
			}
		}
	})
}
