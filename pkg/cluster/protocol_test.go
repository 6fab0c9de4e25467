package cluster

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/stampede-load/stampede/proto"
)

// TestMasterRefusesAWorkerOfAnOlderProtocol: a worker of a release before protocol
// versions (its hello carries none, and it would send snapshots field by field) is
// refused at once with a message that says why and what to do; it never joins.
func TestMasterRefusesAWorkerOfAnOlderProtocol(t *testing.T) {
	addr, srv := master(t, ServerConfig{Version: "v2.0.0"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecureCreds()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for _, tt := range []struct {
		protocol uint32
		says     string
	}{
		{0, "the worker speaks a release before protocol versions, version v1.9.0, the master protocol 2"},
		{ProtocolVersion + 1, "the worker speaks protocol 3, version v1.9.0, the master protocol 2"},
	} {
		stream, err := newStream(ctx, cc)
		if err != nil {
			t.Fatal(err)
		}
		// What the old release sends: the hello of its time (no protocol field).
		hello := &pb.Hello{WorkerId: "old-worker", Hostname: "h", Version: "v1.9.0", Cores: 2, Protocol: tt.protocol}
		if err := stream.Send(&pb.WorkerMessage{Body: &pb.WorkerMessage_Hello{Hello: hello}}); err != nil {
			t.Fatal(err)
		}
		m, err := stream.Recv()
		if err == nil {
			t.Fatalf("protocol %d: the master answered %v", tt.protocol, m)
		}
		st := status.Convert(err)
		// InvalidArgument is what workers of every release give up on (no retry loop).
		if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tt.says) ||
			!strings.Contains(st.Message(), "run master and workers of the same release") {
			t.Errorf("protocol %d: refused with %v %q, want InvalidArgument saying %q", tt.protocol, st.Code(), st.Message(), tt.says)
		}
	}
	if err := srv.Send("old-worker", Command{Kind: CommandHeartbeat}); !errors.Is(err, ErrUnknownWorker) {
		t.Errorf("the refused worker is connected: Send gives %v", err)
	}
}

// oldMaster is the handshake of a master of a release before protocol versions: it
// welcomes any hello and says no protocol.
type oldMaster struct {
	pb.UnimplementedCoordinatorServer
}

func (oldMaster) Connect(stream grpc.BidiStreamingServer[pb.WorkerMessage, pb.MasterMessage]) error {
	if _, err := stream.Recv(); err != nil {
		return err
	}
	if err := stream.Send(&pb.MasterMessage{Body: &pb.MasterMessage_Welcome{Welcome: &pb.Welcome{MasterVersion: "v1.9.0"}}}); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

// TestWorkerRefusesAMasterOfAnOlderProtocol: a worker that dials a master of an older
// release stops at the welcome, with the same clear message, as a code it does not
// retry on.
func TestWorkerRefusesAMasterOfAnOlderProtocol(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	pb.RegisterCoordinatorServer(gs, oldMaster{})
	go gs.Serve(lis)
	defer gs.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Dial(ctx, lis.Addr().String(), WorkerInfo{ID: "w1"}, "")
	if err == nil {
		s.Close()
		t.Fatal("the worker accepted a master of an older protocol")
	}
	want := "the master speaks a release before protocol versions, version v1.9.0, the worker protocol 2"
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), want) {
		t.Errorf("Dial: %v (code %v), want InvalidArgument saying %q", err, status.Code(err), want)
	}
}
