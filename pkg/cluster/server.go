package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	pb "github.com/stampede-load/stampede/proto"
)

// ServerConfig configures the master's end.
type ServerConfig struct {
	Logger            *slog.Logger
	Version           string
	HeartbeatInterval time.Duration // default 1 s
	HeartbeatTimeout  time.Duration // a silent worker is lost after this; default 3 s
	HelloTimeout      time.Duration // default 5 s
	MaxWorkers        int           // default 1000
	Token             string        // shared token every worker must present; empty: none
}

// Server is the Coordinator service: it accepts worker streams, turns what workers
// send into Events and sends Commands to them.
type Server struct {
	pb.UnimplementedCoordinatorServer
	cfg    ServerConfig
	log    *slog.Logger
	events chan Event
	done   chan struct{}
	once   sync.Once

	mu    sync.Mutex
	conns map[string]*workerConn
	wg    sync.WaitGroup // every stream's reader and writer
}

// workerConn is one connected worker.
type workerConn struct {
	info WorkerInfo
	out  chan *pb.MasterMessage
	kick chan string // a reason to drop the worker

	ackMu     sync.Mutex // the last report handed to the controller, acknowledged in heartbeats
	ackOrigin string
	ackSeq    uint64
}

// acked notes that the report (origin, seq) reached the master.
func (c *workerConn) acked(origin string, seq uint64) {
	c.ackMu.Lock()
	c.ackOrigin, c.ackSeq = origin, seq
	c.ackMu.Unlock()
}

// heartbeat is the master's heartbeat to this worker, with its acknowledgement.
func (c *workerConn) heartbeat() *pb.MasterMessage {
	c.ackMu.Lock()
	cmd := Command{Kind: CommandHeartbeat, AckOrigin: c.ackOrigin, AckSeq: c.ackSeq}
	c.ackMu.Unlock()
	msg, _ := commandToPB(cmd)
	return msg
}

// ErrUnknownWorker is returned by a Member's Send (Server, Merged, locust.Server) for a
// worker that is not connected.
var ErrUnknownWorker = errors.New("worker not connected")

// NewServer returns a Server; register it with RegisterOn.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = time.Second
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = 3 * time.Second
	}
	if cfg.HelloTimeout <= 0 {
		cfg.HelloTimeout = 5 * time.Second
	}
	if cfg.MaxWorkers <= 0 {
		cfg.MaxWorkers = 1000
	}
	return &Server{cfg: cfg, log: cfg.Logger, events: make(chan Event, 1024),
		done: make(chan struct{}), conns: make(map[string]*workerConn)}
}

// RegisterOn registers the service on g.
func (s *Server) RegisterOn(g *grpc.Server) { pb.RegisterCoordinatorServer(g, s) }

// Events delivers joins, reports and departures, per worker in the order they happened.
func (s *Server) Events() <-chan Event { return s.events }

// Close makes every stream handler return; call it before grpc.Server.Stop.
func (s *Server) Close() { s.once.Do(func() { close(s.done) }) }

// Wait waits for every stream's goroutines to end; call it after grpc.Server.Stop.
func (s *Server) Wait() { s.wg.Wait() }

// Send queues cmd for a worker. A worker too slow to take its commands is dropped.
func (s *Server) Send(workerID string, cmd Command) error {
	msg, err := commandToPB(cmd)
	if err != nil {
		return err
	}
	s.mu.Lock()
	c, ok := s.conns[workerID]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownWorker, workerID)
	}
	select {
	case c.out <- msg:
		return nil
	default:
		c.drop("too slow to take commands")
		return fmt.Errorf("worker %s: command queue full, dropped", workerID)
	}
}

// Drop disconnects a worker; it will see its stream end.
func (s *Server) Drop(workerID, reason string) {
	s.mu.Lock()
	c, ok := s.conns[workerID]
	s.mu.Unlock()
	if ok {
		c.drop(reason)
	}
}

func (c *workerConn) drop(reason string) {
	select {
	case c.kick <- reason:
	default:
	}
}

// Connect serves one worker's stream.
func (s *Server) Connect(stream grpc.BidiStreamingServer[pb.WorkerMessage, pb.MasterMessage]) error {
	ctx := stream.Context()
	addr := ""
	if p, ok := peer.FromContext(ctx); ok {
		addr = p.Addr.String()
	}
	if err := checkToken(ctx, s.cfg.Token); err != nil {
		s.log.Warn("worker rejected", "addr", addr, "err", err)
		return status.Error(codes.Unauthenticated, err.Error())
	}
	info, err := s.hello(stream)
	if err != nil {
		s.log.Warn("worker rejected", "addr", addr, "err", err)
		return status.Error(codes.InvalidArgument, err.Error())
	}
	info.Addr = addr
	c := &workerConn{info: info, out: make(chan *pb.MasterMessage, 64), kick: make(chan string, 1)}
	s.mu.Lock()
	_, dup := s.conns[info.ID]
	full := len(s.conns) >= s.cfg.MaxWorkers
	if !dup && !full {
		s.conns[info.ID] = c
	}
	s.mu.Unlock()
	if dup {
		s.log.Warn("worker rejected: id already connected", "worker_id", info.ID, "addr", addr)
		return status.Errorf(codes.AlreadyExists, "a worker with id %q is already connected", info.ID)
	}
	if full {
		return status.Errorf(codes.ResourceExhausted, "master has its maximum of %d workers", s.cfg.MaxWorkers)
	}
	reason := s.serve(ctx, stream, c)
	// Left goes out before the id is free again, so a rejoin under the same id always
	// follows the departure in the event stream.
	s.emit(Event{Kind: EventLeft, At: time.Now(), Worker: info, Reason: reason})
	s.mu.Lock()
	delete(s.conns, info.ID)
	s.mu.Unlock()
	return status.Error(codes.Unavailable, reason)
}

func (s *Server) hello(stream grpc.BidiStreamingServer[pb.WorkerMessage, pb.MasterMessage]) (WorkerInfo, error) {
	type result struct {
		m   *pb.WorkerMessage
		err error
	}
	ch := make(chan result, 1)
	go func() {
		m, err := stream.Recv()
		ch <- result{m, err}
	}()
	timer := time.NewTimer(s.cfg.HelloTimeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		if r.err != nil {
			return WorkerInfo{}, r.err
		}
		info, err := helloFromPB(r.m.GetHello())
		if err != nil {
			return WorkerInfo{}, err
		}
		err = stream.Send(&pb.MasterMessage{Body: &pb.MasterMessage_Welcome{Welcome: &pb.Welcome{MasterVersion: s.cfg.Version, Protocol: ProtocolVersion}}})
		return info, err
	case <-timer.C:
		return WorkerInfo{}, errors.New("no hello in time")
	}
}

// serve runs the stream until it ends and says why.
func (s *Server) serve(ctx context.Context, stream grpc.BidiStreamingServer[pb.WorkerMessage, pb.MasterMessage], c *workerConn) string {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.emit(Event{Kind: EventJoined, At: time.Now(), Worker: c.info})
	s.log.Info("worker joined", "worker_id", c.info.ID, "host", c.info.Hostname, "addr", c.info.Addr)

	heard := make(chan struct{}, 1)
	// handing is set while the reader waits for the master to take an event: a
	// worker is not silent because the master is busy (a stalled event loop must not
	// drop every worker at once, and their reports with them).
	var handing atomic.Bool
	recvErr := make(chan error, 1)
	// The reader and writer may be blocked in Recv or Send on a dead peer; they end
	// when the handler returns (gRPC then cancels the stream), so serve does not wait
	// for them: the server's WaitGroup does (Wait).
	s.wg.Add(2)
	go func() { // reader
		defer s.wg.Done()
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case heard <- struct{}{}:
			default:
			}
			handing.Store(true)
			err = s.handle(ctx, c, m)
			handing.Store(false)
			if err != nil {
				recvErr <- err
				return
			}
			select { // the wait was the master's, not the worker's silence
			case heard <- struct{}{}:
			default:
			}
		}
	}()
	sendErr := make(chan error, 1)
	go func() { // writer
		defer s.wg.Done()
		hb := time.NewTicker(s.cfg.HeartbeatInterval)
		defer hb.Stop()
		for {
			var msg *pb.MasterMessage
			select {
			case <-ctx.Done():
				return
			case msg = <-c.out:
			case <-hb.C:
				msg = c.heartbeat()
			}
			if err := stream.Send(msg); err != nil {
				sendErr <- err
				return
			}
		}
	}()
	silence := time.NewTimer(s.cfg.HeartbeatTimeout)
	defer silence.Stop()
	for {
		select {
		case <-heard:
			silence.Reset(s.cfg.HeartbeatTimeout)
		case <-silence.C:
			if handing.Load() {
				silence.Reset(s.cfg.HeartbeatTimeout)
				continue
			}
			return fmt.Sprintf("lost: nothing heard for %v", s.cfg.HeartbeatTimeout)
		case err := <-recvErr:
			return "disconnected: " + err.Error()
		case err := <-sendErr:
			return "send failed: " + err.Error()
		case r := <-c.kick:
			return "dropped: " + r
		case <-s.done:
			return "master shutting down"
		case <-ctx.Done():
			return "disconnected: " + context.Cause(ctx).Error()
		}
	}
}

func (s *Server) handle(ctx context.Context, c *workerConn, m *pb.WorkerMessage) error {
	w := c.info
	switch b := m.GetBody().(type) {
	case *pb.WorkerMessage_Heartbeat:
		return nil
	case *pb.WorkerMessage_Report:
		r, err := reportFromPB(b.Report)
		if err != nil {
			s.log.Warn("bad report, dropping worker", "worker_id", w.ID, "err", err)
			return err
		}
		for i := range r.Snapshot.Slowest {
			r.Snapshot.Slowest[i].Worker = w.ID
		}
		if s.emitCtx(ctx, Event{Kind: EventReport, At: time.Now(), Worker: w, Report: r}) && r.Seq != 0 {
			c.acked(r.Origin, r.Seq)
		}
		return nil
	case *pb.WorkerMessage_Telemetry:
		t, err := telemetryFromPB(b.Telemetry)
		if err != nil {
			s.log.Warn("bad telemetry, dropping worker", "worker_id", w.ID, "err", err)
			return err
		}
		s.emitCtx(ctx, Event{Kind: EventTelemetry, At: time.Now(), Worker: w, Telemetry: t})
		return nil
	case *pb.WorkerMessage_Goodbye:
		s.log.Info("worker draining", "worker_id", w.ID, "reason", b.Goodbye.Reason)
		s.emitCtx(ctx, Event{Kind: EventDraining, At: time.Now(), Worker: w, Reason: b.Goodbye.Reason})
		return nil
	case *pb.WorkerMessage_Hello:
		return errors.New("second hello on one stream")
	}
	return errors.New("empty or unknown message")
}

func (s *Server) emit(e Event) {
	select {
	case s.events <- e:
	case <-s.done:
	}
}

func (s *Server) emitCtx(ctx context.Context, e Event) bool {
	select {
	case s.events <- e:
		return true
	case <-s.done:
	case <-ctx.Done():
	}
	return false
}
