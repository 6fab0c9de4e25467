package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/stampede-load/stampede/pkg/telemetry"
	pb "github.com/stampede-load/stampede/proto"
)

// Session is a worker's open stream to the master.
type Session struct {
	conn   *grpc.ClientConn
	stream grpc.BidiStreamingClient[pb.WorkerMessage, pb.MasterMessage]
	cancel context.CancelFunc
	// MasterVersion is what the master said in its welcome.
	MasterVersion string
}

// Dial connects to the master at addr, says hello and waits for the welcome. The
// session lives until Close or until ctx ends.
//
// Options: grpc.DialOptions (TLS credentials replace the default plaintext ones) and
// the shared token, if the master asks for one.
func Dial(ctx context.Context, addr string, info WorkerInfo, token string, opts ...grpc.DialOption) (*Session, error) {
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64 << 20)),
	}, opts...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial master %s: %w", addr, err)
	}
	sctx, cancel := context.WithCancel(withToken(ctx, token))
	s := &Session{conn: conn, cancel: cancel}
	stream, err := pb.NewCoordinatorClient(conn).Connect(sctx)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("connect to master %s: %w", addr, err)
	}
	s.stream = stream
	if err := stream.Send(&pb.WorkerMessage{Body: &pb.WorkerMessage_Hello{Hello: helloToPB(info)}}); err != nil {
		// A master that turned the stream down (wrong token) may have closed it
		// already: the reason is in the status that Recv returns, not in Send's EOF.
		if _, rerr := stream.Recv(); rerr != nil {
			err = rerr
		}
		s.Close()
		return nil, fmt.Errorf("master %s refused: %w", addr, err)
	}
	m, err := stream.Recv()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("master %s refused: %w", addr, err)
	}
	w := m.GetWelcome()
	if w == nil {
		s.Close()
		return nil, errors.New("master answered hello without a welcome")
	}
	if w.Protocol != ProtocolVersion {
		s.Close()
		// InvalidArgument: the worker gives up, as on a refused hello (retrying cannot help).
		return nil, status.Errorf(codes.InvalidArgument, "master %s: %v",
			addr, protocolMismatch("master", "worker", w.Protocol, w.MasterVersion))
	}
	s.MasterVersion = w.MasterVersion
	return s, nil
}

// Recv waits for the next command, heartbeats included. Call it from one goroutine.
func (s *Session) Recv() (Command, error) {
	m, err := s.stream.Recv()
	if err != nil {
		return Command{}, err
	}
	return commandFromPB(m)
}

// SendReport sends one report. Sends must come from one goroutine.
func (s *Session) SendReport(r Report) error {
	p, err := reportToPB(r)
	if err != nil {
		return err
	}
	return s.stream.Send(&pb.WorkerMessage{Body: &pb.WorkerMessage_Report{Report: p}})
}

// SendHeartbeat tells the master the worker is alive and how many users it runs.
func (s *Session) SendHeartbeat(users int) error {
	return s.stream.Send(&pb.WorkerMessage{Body: &pb.WorkerMessage_Heartbeat{Heartbeat: &pb.Heartbeat{
		UnixNano: time.Now().UnixNano(), Users: int32(users)}}})
}

// SendTelemetry sends one host sample. Sends must come from one goroutine.
func (s *Session) SendTelemetry(t telemetry.Sample) error {
	p, err := telemetryToPB(t)
	if err != nil {
		return err
	}
	return s.stream.Send(&pb.WorkerMessage{Body: &pb.WorkerMessage_Telemetry{Telemetry: p}})
}

// SendGoodbye tells the master this worker is shutting down and wants its users
// moved elsewhere.
func (s *Session) SendGoodbye(reason string) error {
	return s.stream.Send(&pb.WorkerMessage{Body: &pb.WorkerMessage_Goodbye{Goodbye: &pb.Goodbye{Reason: reason}}})
}

// CloseSend says this worker will send nothing more; the master then ends the
// stream, which is how a worker knows its last messages arrived.
func (s *Session) CloseSend() error { return s.stream.CloseSend() }

// Close ends the stream and the connection.
func (s *Session) Close() error {
	s.cancel()
	return s.conn.Close()
}
