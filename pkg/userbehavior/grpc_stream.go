package userbehavior

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// GRPCStream is a streaming call (server, client or bidirectional) of one user.
// Its row ("GRPC" and the call's name) is recorded once, when the stream ends: the
// server's status, a recv that timed out, or Close. Time to first message ("TTFM")
// and every gap between messages ("MSG") are recorded under the same name as they
// come. A stream is used by its user's goroutine only; a reader goroutine of its own
// receives while the user waits in Recv, and ends with the stream.
type GRPCStream struct {
	conn   *GRPCConn
	m      *grpcMethod
	cs     grpc.ClientStream
	ctx    context.Context // the stream's, for Close to tell a user stopped
	cancel context.CancelFunc
	call   GRPCCall
	name   string
	start  time.Time
	last   time.Time // the last message's arrival, or start
	msgs   int
	res    *GRPCResult // set when the stream ended and was recorded

	recv chan received // from the reader
	done chan struct{} // closed when the stream ends: the reader leaves
}

type received struct {
	msg *dynamicpb.Message
	at  time.Time
	err error // io.EOF: the server ended the stream with OK
}

// Stream opens a streaming call; call.JSON, when given, is sent as the first
// message, and a server-streaming method's request is sent with the client's side
// closed. A stream that cannot open is recorded as a failed call and returned
// ended. The stream lives until it ends or ctx does.
func (c *GRPCConn) Stream(ctx context.Context, call *GRPCCall) (*GRPCStream, error) {
	start := time.Now()
	m, err := c.method(ctx, call.Method)
	if err != nil {
		var unreachable *grpcUnreachable
		if !errors.As(err, &unreachable) {
			return nil, err
		}
		s := &GRPCStream{conn: c, call: *call, name: rowName(call, grpcRowName(call.Method)), start: start}
		s.call.Deferred = false
		s.end(unreachable.err)
		return s, nil
	}
	if !m.clientStream && !m.serverStream {
		return nil, fmt.Errorf("%s is a unary method: use invoke()", m.path)
	}
	s := &GRPCStream{conn: c, m: m, call: *call, name: rowName(call, m.path)}
	s.call.Deferred = false // recorded when it ends
	var first *dynamicpb.Message
	if len(call.JSON) > 0 || !m.clientStream {
		if first, err = s.message(call.JSON); err != nil {
			return nil, err
		}
	}
	if md := call.Metadata; len(md) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, md)
	}
	if call.Timeout > 0 {
		ctx, s.cancel = context.WithTimeout(ctx, call.Timeout)
	} else {
		ctx, s.cancel = context.WithCancel(ctx)
	}
	s.ctx = ctx
	s.start = time.Now()
	s.last = s.start
	desc := &grpc.StreamDesc{StreamName: m.path, ServerStreams: m.serverStream, ClientStreams: m.clientStream}
	s.cs, err = c.cc.NewStream(ctx, desc, m.path)
	if err != nil {
		s.end(err)
		return s, nil
	}
	if first != nil {
		if err := s.cs.SendMsg(first); err != nil {
			s.end(s.statusErr(err))
			return s, nil
		}
	}
	if !m.clientStream {
		if err := s.cs.CloseSend(); err != nil {
			s.end(s.statusErr(err))
			return s, nil
		}
	}
	return s, nil
}

func rowName(call *GRPCCall, path string) string {
	if call.Name != "" {
		return call.Name
	}
	return path
}

func (s *GRPCStream) message(js []byte) (*dynamicpb.Message, error) {
	msg := dynamicpb.NewMessage(s.m.in)
	if len(js) > 0 {
		if err := protojson.Unmarshal(js, msg); err != nil {
			return nil, fmt.Errorf("%s: message %s: %v", s.m.path, s.m.in.FullName(), err)
		}
	}
	return msg, nil
}

// Ended reports whether the stream ended (and was recorded); Result is then set.
func (s *GRPCStream) Ended() bool { return s.res != nil }

// Result is the recorded call, once the stream ended; nil before.
func (s *GRPCStream) Result() *GRPCResult { return s.res }

// Messages is how many messages the stream received.
func (s *GRPCStream) Messages() int { return s.msgs }

// Send sends a message (protojson). On a stream that ended it returns an error; a
// send the server refused ends the stream with the server's status.
func (s *GRPCStream) Send(js []byte) error {
	if s.res != nil {
		return errors.New("send on a stream that ended")
	}
	if !s.m.clientStream {
		return fmt.Errorf("%s takes one message: give it to stream()", s.m.path)
	}
	msg, err := s.message(js)
	if err != nil {
		return err
	}
	if err := s.cs.SendMsg(msg); err != nil {
		s.end(s.statusErr(err))
	}
	return nil
}

// CloseSend says the client sends no more.
func (s *GRPCStream) CloseSend() {
	if s.res == nil && s.m.clientStream {
		_ = s.cs.CloseSend()
	}
}

// statusErr is the stream's status after a send failed: grpc-go reports it on
// RecvMsg (io.EOF from SendMsg means "look there").
func (s *GRPCStream) statusErr(err error) error {
	if !errors.Is(err, io.EOF) {
		return err
	}
	for {
		if err := s.cs.RecvMsg(dynamicpb.NewMessage(s.m.out)); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// Recv waits up to timeout (0: until the stream ends or its user stops) for the
// next message. It returns nil at the end of the stream. A wait that times out ends
// the stream as a failed call ("recv timeout").
func (s *GRPCStream) Recv(timeout time.Duration) proto.Message {
	if s.res != nil {
		return nil
	}
	if s.recv == nil {
		s.recv, s.done = make(chan received), make(chan struct{})
		go s.read()
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case r := <-s.recv:
		if r.err != nil {
			if errors.Is(r.err, io.EOF) {
				r.err = nil
			}
			s.end(r.err)
			return nil
		}
		s.msgs++
		kind := "MSG"
		if s.msgs == 1 {
			kind = "TTFM"
		}
		s.conn.rec.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: kind, Name: s.name}, Latency: r.at.Sub(s.last)}, r.at)
		s.last = r.at
		return r.msg
	case <-expired:
		s.end(status.Errorf(codes.DeadlineExceeded, "recv timeout: no message within %v", timeout))
		return nil
	}
}

// read receives messages for Recv until the stream ends.
func (s *GRPCStream) read() {
	for {
		msg := dynamicpb.NewMessage(s.m.out)
		err := s.cs.RecvMsg(msg)
		select {
		case s.recv <- received{msg: msg, at: time.Now(), err: err}:
		case <-s.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// Close ends the stream if it has not ended: a stream the script leaves early
// counts as a success (its messages were what it wanted). It returns the recorded
// call.
func (s *GRPCStream) Close() *GRPCResult {
	if s.res == nil {
		var err error
		if s.ctx != nil && s.ctx.Err() != nil { // its user stopped, or its timeout passed
			err = status.FromContextError(s.ctx.Err()).Err()
		}
		s.end(err)
	}
	return s.res
}

// end records the call with the stream's final status (err nil: OK) and lets
// the reader go.
func (s *GRPCStream) end(err error) {
	if s.res != nil {
		return
	}
	if s.cancel != nil {
		s.cancel()
	}
	if s.done != nil {
		close(s.done)
	}
	res := &GRPCResult{rec: s.conn.rec}
	path := grpcRowName(s.call.Method)
	if s.m != nil {
		path = s.m.path
	}
	s.conn.finish(res, &s.call, path, s.start, err)
	s.res = res
}
