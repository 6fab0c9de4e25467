package agent

import (
	"context"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/stampede-load/stampede/pkg/cluster"
	pb "github.com/stampede-load/stampede/proto"
)

// silentMaster is a master over real gRPC that welcomes the first worker, starts a
// run on it and then says nothing, as a master that hangs would. It turns every
// later connection away, noting when each came.
type silentMaster struct {
	pb.UnimplementedCoordinatorServer
	mu      sync.Mutex
	conns   []time.Time // when each connection came
	started time.Time   // when the start went out
	ended   time.Time   // when the first stream ended
	heard   atomic.Int64
}

func (s *silentMaster) Connect(stream grpc.BidiStreamingServer[pb.WorkerMessage, pb.MasterMessage]) error {
	s.mu.Lock()
	s.conns = append(s.conns, time.Now())
	n := len(s.conns)
	s.mu.Unlock()
	if n > 1 {
		return status.Error(codes.Unavailable, "go away")
	}
	if _, err := stream.Recv(); err != nil { // hello
		return err
	}
	if err := stream.Send(&pb.MasterMessage{Body: &pb.MasterMessage_Welcome{Welcome: &pb.Welcome{Protocol: cluster.ProtocolVersion}}}); err != nil {
		return err
	}
	start := &pb.Start{RunId: "r1", PlanVersion: 1, Users: map[string]int32{"H": 2}, SpawnRate: 1000,
		Scenario: &pb.Scenario{Kind: &pb.Scenario_Builtin{Builtin: "hits"}}}
	if err := stream.Send(&pb.MasterMessage{Body: &pb.MasterMessage_Start{Start: start}}); err != nil {
		return err
	}
	s.mu.Lock()
	s.started = time.Now()
	s.mu.Unlock()
	for { // hear the worker's heartbeats and reports; answer nothing
		if _, err := stream.Recv(); err != nil {
			s.mu.Lock()
			s.ended = time.Now()
			s.mu.Unlock()
			return nil
		}
		s.heard.Add(1)
	}
}

// TestRunSilenceBrakeOverGRPC is TestSessionSilenceBrake with the worker's real
// gRPC session (agent.Run, cluster.Dial) to a real gRPC master, over an in-memory
// connection in the bubble: the brake closes the stream exactly SilenceTimeout after
// the master's last word, though the worker kept sending, and no request goes out
// after it.
func TestRunSilenceBrakeOverGRPC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lis := bufconn.Listen(1 << 20)
		fake := &silentMaster{}
		gs := grpc.NewServer()
		pb.RegisterCoordinatorServer(gs, fake)
		served := make(chan struct{})
		go func() {
			defer close(served)
			_ = gs.Serve(lis)
		}()
		defer func() {
			gs.Stop()
			<-served
		}()

		tg := &memTarget{origin: time.Now(), latency: 65 * time.Millisecond}
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		go func() {
			ran <- Run(ctx, Config{Master: "passthrough:///bufnet", Info: cluster.WorkerInfo{ID: "w1"},
				Builtins: memBuiltins(nil, tg, 70*time.Millisecond), SilenceTimeout: 3 * time.Second,
				DialOptions: []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
					return lis.DialContext(ctx)
				})}})
		}()
		defer func() {
			cancel()
			if err := <-ran; err != nil {
				t.Errorf("Run: %v", err)
			}
		}()

		sleepUntil(tg.origin, time.Minute)
		fake.mu.Lock()
		started, ended, conns := fake.started, fake.ended, slices.Clone(fake.conns)
		fake.mu.Unlock()
		if started.IsZero() || ended.Sub(started) != 3*time.Second {
			t.Fatalf("the silent master's stream ended %v after the start, want 3s", ended.Sub(started))
		}
		if fake.heard.Load() < 3 {
			t.Errorf("the master heard %d messages from the worker, want its heartbeats", fake.heard.Load())
		}
		// The worker tries again every RetryMin..RetryMax: 250 ms after the brake, then
		// 500 ms, 1 s, ...
		if len(conns) < 3 || conns[1].Sub(ended) != 250*time.Millisecond || conns[2].Sub(conns[1]) != 500*time.Millisecond {
			t.Errorf("the worker connected at %v, the brake came at %v: want again 250 ms after it, then 500 ms on", conns, ended)
		}
		// Users spawned at once and 1 ms later start a 65 ms request every 70 ms: 43
		// each in the 3 s; none after the brake.
		issued := tg.requests()
		if len(issued) != 86 || !tg.origin.Add(slices.Max(issued)).Before(ended) {
			t.Errorf("%d requests issued, the last at %v; want 86, all before the brake at %v",
				len(issued), slices.Max(issued), ended.Sub(tg.origin))
		}
	})
}
