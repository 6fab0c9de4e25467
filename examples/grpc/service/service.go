// Package service is the in-repository gRPC target of examples/grpc, the tests of
// gRPC users and the gRPC benchmark: the Echo service of echo.proto (unary Say,
// server-streaming Count, bidirectional Chat) and grpc.health.v1, with server
// reflection or without it. It counts every call it serves by method and status
// code itself, so tests compare Stampede's statistics with the target's own count.
//
// The service is built from echo.proto at start-up with protocompile and served
// with dynamicpb messages: no generated code to keep in step with the .proto.
package service

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bufbuild/protocompile"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	rpbalpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

//go:embed echo.proto
var echoProto string

// ServiceName is the Echo service's full name.
const ServiceName = "stampede.echo.v1.Echo"

// Options configure a Server.
type Options struct {
	// Reflection serves grpc.reflection.v1 and v1alpha.
	Reflection bool
	// MaxConnectionAge, when > 0, ends every connection after about that long with
	// a GOAWAY (calls in flight finish; new ones go to a new connection).
	MaxConnectionAge time.Duration
}

// Server is a running gRPC target. Its methods are safe for concurrent use.
type Server struct {
	srv   *grpc.Server
	files *protoregistry.Files
	echo  protoreflect.ServiceDescriptor

	served atomic.Int64 // Say calls answered OK
	conns  atomic.Int64 // connections accepted
	counts sync.Map     // "method code" -> *atomic.Int64
	msgs   sync.Map     // "method sent|received" -> *atomic.Int64
}

// New builds the server; Serve starts it.
func New(opts Options) (*Server, error) {
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{"echo.proto": echoProto}),
	})}
	out, err := c.Compile(context.Background(), "echo.proto")
	if err != nil {
		return nil, fmt.Errorf("echo.proto: %w", err)
	}
	files := new(protoregistry.Files)
	if err := files.RegisterFile(out[0]); err != nil {
		return nil, err
	}
	s := &Server{files: files, echo: out[0].Services().ByName("Echo")}
	so := []grpc.ServerOption{grpc.UnaryInterceptor(s.countUnary), grpc.StreamInterceptor(s.countStream),
		grpc.MaxRecvMsgSize(64 << 20), // requests beyond the client's 10 MiB body cap, for its test
		grpc.StatsHandler(&connCounter{n: &s.conns})}
	if opts.MaxConnectionAge > 0 {
		so = append(so, grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionAge: opts.MaxConnectionAge, MaxConnectionAgeGrace: 10 * time.Second}))
	}
	s.srv = grpc.NewServer(so...)
	s.srv.RegisterService(s.serviceDesc(), s)
	healthpb.RegisterHealthServer(s.srv, health.NewServer())
	if opts.Reflection {
		ro := reflection.ServerOptions{Services: s.srv, DescriptorResolver: resolvers{files, protoregistry.GlobalFiles}}
		rpb.RegisterServerReflectionServer(s.srv, reflection.NewServerV1(ro))
		rpbalpha.RegisterServerReflectionServer(s.srv, reflection.NewServer(ro))
	}
	return s, nil
}

// Start builds a server, listens on addr ("127.0.0.1:0" for any free port) and
// serves in the background until Stop; it returns the address it listens on.
func Start(opts Options, addr string) (*Server, string, error) {
	s, err := New(opts)
	if err != nil {
		return nil, "", err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	go func() { _ = s.Serve(l) }()
	return s, l.Addr().String(), nil
}

// Serve serves on l until Stop.
func (s *Server) Serve(l net.Listener) error { return s.srv.Serve(l) }

// Stop closes every connection at once; GracefulStop lets calls finish.
func (s *Server) Stop()         { s.srv.Stop() }
func (s *Server) GracefulStop() { s.srv.GracefulStop() }

// Calls is how many calls of fullMethod ("/stampede.echo.v1.Echo/Say") ended with
// code, as the server saw them.
func (s *Server) Calls(fullMethod string, code codes.Code) int64 {
	if v, ok := s.counts.Load(fullMethod + " " + code.String()); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// Connections is how many connections the server accepted.
func (s *Server) Connections() int64 { return s.conns.Load() }

// connCounter counts connections as gRPC's stats handler sees them begin.
type connCounter struct{ n *atomic.Int64 }

func (c *connCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (c *connCounter) HandleRPC(context.Context, stats.RPCStats)                       {}
func (c *connCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (c *connCounter) HandleConn(_ context.Context, st stats.ConnStats) {
	if _, ok := st.(*stats.ConnBegin); ok {
		c.n.Add(1)
	}
}

// Messages is how many stream messages of fullMethod the server sent (sent true)
// or received.
func (s *Server) Messages(fullMethod string, sent bool) int64 {
	key := fullMethod + " received"
	if sent {
		key = fullMethod + " sent"
	}
	if v, ok := s.msgs.Load(key); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// Summary lists every count, one "method code n" a line, sorted.
func (s *Server) Summary() string {
	var lines []string
	s.counts.Range(func(k, v any) bool {
		lines = append(lines, fmt.Sprintf("%s %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	s.msgs.Range(func(k, v any) bool {
		lines = append(lines, fmt.Sprintf("%s %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func add(m *sync.Map, key string) {
	v, ok := m.Load(key)
	if !ok {
		v, _ = m.LoadOrStore(key, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

func (s *Server) count(method string, err error) {
	add(&s.counts, method+" "+status.Code(err).String())
}

func (s *Server) countUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	s.count(info.FullMethod, err)
	return resp, err
}

func (s *Server) countStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	err := h(srv, &countedStream{ServerStream: ss, s: s, method: info.FullMethod})
	s.count(info.FullMethod, err)
	return err
}

type countedStream struct {
	grpc.ServerStream
	s      *Server
	method string
}

func (c *countedStream) SendMsg(m any) error {
	err := c.ServerStream.SendMsg(m)
	if err == nil {
		add(&c.s.msgs, c.method+" sent")
	}
	return err
}

func (c *countedStream) RecvMsg(m any) error {
	err := c.ServerStream.RecvMsg(m)
	if err == nil {
		add(&c.s.msgs, c.method+" received")
	}
	return err
}

// serviceDesc is Echo as grpc-go's generated code would declare it.
func (s *Server) serviceDesc() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: ServiceName,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Say", Handler: func(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			in := s.message("SayRequest")
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, req any) (any, error) { return s.say(ctx, req.(*dynamicpb.Message)) }
			if icpt == nil {
				return h(ctx, in)
			}
			return icpt(ctx, in, &grpc.UnaryServerInfo{Server: s, FullMethod: "/" + ServiceName + "/Say"}, h)
		}}},
		Streams: []grpc.StreamDesc{
			{StreamName: "Count", ServerStreams: true, Handler: func(_ any, ss grpc.ServerStream) error { return s.countReplies(ss) }},
			{StreamName: "Chat", ServerStreams: true, ClientStreams: true, Handler: func(_ any, ss grpc.ServerStream) error { return s.chat(ss) }},
		},
		Metadata: "echo.proto",
	}
}

func (s *Server) message(name protoreflect.Name) *dynamicpb.Message {
	d, err := s.files.FindDescriptorByName(protoreflect.FullName("stampede.echo.v1." + name))
	if err != nil {
		panic(err) // echo.proto defines every message the service uses
	}
	return dynamicpb.NewMessage(d.(protoreflect.MessageDescriptor))
}

func field(m *dynamicpb.Message, name protoreflect.Name) protoreflect.Value {
	return m.Get(m.Descriptor().Fields().ByName(name))
}

func set(m *dynamicpb.Message, name protoreflect.Name, v protoreflect.Value) {
	m.Set(m.Descriptor().Fields().ByName(name), v)
}

func (s *Server) say(ctx context.Context, in *dynamicpb.Message) (any, error) {
	if d := field(in, "delay_ms").Int(); d > 0 {
		t := time.NewTimer(time.Duration(d) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if c := field(in, "fail_code").Int(); c != 0 {
		return nil, status.Errorf(codes.Code(c), "asked to fail with %s", codes.Code(c))
	}
	out := s.message("SayReply")
	set(out, "text", field(in, "text"))
	set(out, "served", protoreflect.ValueOfInt64(s.served.Add(1)))
	return out, nil
}

func (s *Server) countReplies(ss grpc.ServerStream) error {
	in := s.message("CountRequest")
	if err := ss.RecvMsg(in); err != nil {
		return err
	}
	n, every, abort := field(in, "n").Int(), field(in, "interval_ms").Int(), field(in, "abort_after").Int()
	for i := int64(1); i <= n; i++ {
		if abort > 0 && i > abort {
			return status.Errorf(codes.Unavailable, "stream aborted after %d replies", abort)
		}
		if every > 0 && i > 1 {
			t := time.NewTimer(time.Duration(every) * time.Millisecond)
			select {
			case <-t.C:
			case <-ss.Context().Done():
				t.Stop()
				return status.FromContextError(ss.Context().Err()).Err()
			}
		}
		out := s.message("CountReply")
		set(out, "i", protoreflect.ValueOfInt32(int32(i)))
		if err := ss.SendMsg(out); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) chat(ss grpc.ServerStream) error {
	for {
		in := s.message("ChatMessage")
		err := ss.RecvMsg(in)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		out := s.message("ChatMessage")
		set(out, "text", protoreflect.ValueOfString("echo: "+field(in, "text").String()))
		if err := ss.SendMsg(out); err != nil {
			return err
		}
	}
}

// resolvers finds descriptors in the first of its registries that has them: the
// service's own files, then the linked-in ones (health).
type resolvers []*protoregistry.Files

func (r resolvers) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	for _, f := range r {
		if d, err := f.FindFileByPath(path); err == nil {
			return d, nil
		}
	}
	return nil, protoregistry.NotFound
}

func (r resolvers) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	for _, f := range r {
		if d, err := f.FindDescriptorByName(name); err == nil {
			return d, nil
		}
	}
	return nil, protoregistry.NotFound
}
