package script

import (
	"errors"
	"fmt"
	"strings"
	"time"

	starjson "go.starlark.net/lib/json"
	"go.starlark.net/starlark"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// grpcValue is u.grpc: connect() opens the user's connection to a gRPC server.
type grpcValue struct{}

var userGRPC = &grpcValue{}

var grpcConnect = starlark.NewBuiltin("connect", grpcConnectCall)

func (g *grpcValue) String() string        { return "<grpc>" }
func (g *grpcValue) Type() string          { return "grpc" }
func (g *grpcValue) Freeze()               {}
func (g *grpcValue) Truth() starlark.Bool  { return true }
func (g *grpcValue) Hash() (uint32, error) { return 0, errors.New("unhashable type: grpc") }
func (g *grpcValue) AttrNames() []string   { return []string{"connect"} }

func (g *grpcValue) Attr(name string) (starlark.Value, error) {
	if name == "connect" {
		return grpcConnect, nil
	}
	return nil, nil
}

// grpc.connect(target=None, tls=False, authority=None, ca=None, insecure_skip_verify=False)
func grpcConnectCall(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	_, s := running(thread)
	if s == nil {
		return nil, errors.New("grpc.connect: connections may only be opened while a user runs a task")
	}
	var target, authority, caFile string
	var useTLS, skip, shared bool
	if err := starlark.UnpackArgs("grpc.connect", args, kwargs, "target?", &target, "tls?", &useTLS,
		"authority?", &authority, "ca?", &caFile, "insecure_skip_verify?", &skip, "shared?", &shared); err != nil {
		return nil, err
	}
	d := userbehavior.GRPCDial{Target: target, TLS: useTLS, Authority: authority, InsecureSkipVerify: skip,
		Shared: shared, Files: s.p.protos}
	if caFile != "" {
		pem, ok := s.p.files[caFile]
		if !ok {
			return nil, fmt.Errorf("grpc.connect: ca: no file %s in the script bundle", caFile)
		}
		d.CA, d.TLS = pem, true
	}
	c, err := s.u.DialGRPC(d)
	if err != nil {
		return nil, fmt.Errorf("grpc.connect: %v", err)
	}
	return &grpcConnValue{c: c, s: s}, nil
}

// grpcConnValue is a connection: invoke(), stream(), close().
type grpcConnValue struct {
	c *userbehavior.GRPCConn
	s *session
}

var grpcConnMethods = map[string]*starlark.Builtin{
	"invoke": starlark.NewBuiltin("invoke", grpcInvoke),
	"stream": starlark.NewBuiltin("stream", grpcStreamCall),
	"close": starlark.NewBuiltin("close", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackPositionalArgs("close", args, kwargs, 0); err != nil {
			return nil, err
		}
		_ = b.Receiver().(*grpcConnValue).c.Close()
		return starlark.None, nil
	}),
}

func (c *grpcConnValue) String() string       { return "<grpc connection>" }
func (c *grpcConnValue) Type() string         { return "grpc_connection" }
func (c *grpcConnValue) Freeze()              {}
func (c *grpcConnValue) Truth() starlark.Bool { return true }
func (c *grpcConnValue) Hash() (uint32, error) {
	return 0, errors.New("unhashable type: grpc_connection")
}
func (c *grpcConnValue) AttrNames() []string { return []string{"close", "invoke", "stream"} }

func (c *grpcConnValue) Attr(name string) (starlark.Value, error) {
	if b, ok := grpcConnMethods[name]; ok {
		return b.BindReceiver(c), nil
	}
	return nil, nil
}

// grpcCallArgs are what invoke and stream take.
type grpcCallArgs struct {
	method   string
	message  starlark.Value
	metadata starlark.Value
	timeout  starlark.Value
	expect   starlark.Value
	name     string
}

func (a *grpcCallArgs) unpack(fn string, args starlark.Tuple, kwargs []starlark.Tuple) error {
	return starlark.UnpackArgs(fn, args, kwargs, "method", &a.method, "message?", &a.message,
		"metadata?", &a.metadata, "timeout?", &a.timeout, "name?", &a.name, "expect?", &a.expect)
}

// call builds the userbehavior call of the arguments.
func (a *grpcCallArgs) call(thread *starlark.Thread) (*userbehavior.GRPCCall, error) {
	call := &userbehavior.GRPCCall{Method: a.method, Name: a.name, Deferred: true}
	var err error
	if call.JSON, err = messageJSON(thread, a.message); err != nil {
		return nil, fmt.Errorf("message: %v", err)
	}
	if a.metadata != nil && a.metadata != starlark.None {
		md, err := stringMultiMap(a.metadata, strings.ToLower)
		if err != nil {
			return nil, fmt.Errorf("metadata: %v", err)
		}
		call.Metadata = metadata.MD(md)
	}
	if a.timeout != nil && a.timeout != starlark.None {
		if call.Timeout, err = toDuration(a.timeout); err != nil {
			return nil, fmt.Errorf("timeout: %v", err)
		}
	}
	if a.expect != nil && a.expect != starlark.None {
		if call.Accept, err = acceptCodes(a.expect); err != nil {
			return nil, fmt.Errorf("expect: %v", err)
		}
	}
	return call, nil
}

// messageJSON is a message given as a dict (encoded as JSON) or as JSON text.
func messageJSON(thread *starlark.Thread, v starlark.Value) ([]byte, error) {
	switch m := v.(type) {
	case nil, starlark.NoneType:
		return nil, nil
	case starlark.String:
		return []byte(m), nil
	case starlark.Bytes:
		return []byte(m), nil
	case *starlark.Dict:
		s, err := starlark.Call(thread, starjson.Module.Members["encode"], starlark.Tuple{m}, nil)
		if err != nil {
			return nil, err
		}
		return []byte(s.(starlark.String)), nil
	}
	return nil, fmt.Errorf("want a dict or JSON text, got %s", v.Type())
}

// acceptCodes reads expect=: a status code name or a list of them.
func acceptCodes(v starlark.Value) (func(codes.Code) bool, error) {
	var names []string
	switch x := v.(type) {
	case starlark.String:
		names = []string{string(x)}
	case starlark.Indexable:
		for i := range x.Len() {
			s, ok := starlark.AsString(x.Index(i))
			if !ok {
				return nil, fmt.Errorf("want status code names, got %s", x.Index(i).Type())
			}
			names = append(names, s)
		}
	default:
		return nil, fmt.Errorf("want a status code name or a list of them, got %s", v.Type())
	}
	var ok [32]bool
	for _, n := range names {
		c, err := userbehavior.ParseGRPCCode(n)
		if err != nil {
			return nil, err
		}
		if int(c) >= len(ok) {
			return nil, fmt.Errorf("status code %d out of range", c)
		}
		ok[c] = true
	}
	return func(c codes.Code) bool { return int(c) < len(ok) && ok[c] }, nil
}

// c.invoke(method, message=None, metadata=None, timeout=None, name=None, expect=None)
func grpcInvoke(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	c := b.Receiver().(*grpcConnValue)
	_, s := running(thread)
	if s == nil {
		return nil, errors.New("invoke: calls may only be made while a user runs a task")
	}
	var a grpcCallArgs
	if err := a.unpack("invoke", args, kwargs); err != nil {
		return nil, err
	}
	call, err := a.call(thread)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %v", a.method, err)
	}
	s.commit()
	res, err := c.c.Invoke(s.ctx, call)
	if err != nil {
		return nil, fmt.Errorf("invoke: %v", err)
	}
	r := &grpcResultValue{r: res}
	s.pending = r
	return r, nil
}

// grpcResultValue is what invoke returns; like a response, its verdict may change
// until the user's next call.
type grpcResultValue struct {
	r         *userbehavior.GRPCResult
	message   starlark.Value
	committed bool
}

func (r *grpcResultValue) fail(msg string) { r.r.Fail(msg) }
func (r *grpcResultValue) commit() {
	r.r.Commit()
	r.committed = true
}

var grpcResultAttrs = []string{"code", "elapsed", "error", "fail", "headers", "message", "ok", "status", "status_message", "succeed", "trailers"}

func (r *grpcResultValue) String() string {
	return fmt.Sprintf("<grpc result %s>", userbehavior.GRPCCodeName(r.r.Code))
}
func (r *grpcResultValue) Type() string         { return "grpc_result" }
func (r *grpcResultValue) Freeze()              {}
func (r *grpcResultValue) Truth() starlark.Bool { return true }
func (r *grpcResultValue) Hash() (uint32, error) {
	return 0, errors.New("unhashable type: grpc_result")
}
func (r *grpcResultValue) AttrNames() []string { return grpcResultAttrs }

func (r *grpcResultValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "status":
		return starlark.String(userbehavior.GRPCCodeName(r.r.Code)), nil
	case "code":
		return starlark.MakeInt(int(r.r.Code)), nil
	case "status_message":
		return starlark.String(r.r.Status), nil
	case "ok":
		return starlark.Bool(r.r.OK()), nil
	case "error":
		return errorValue(r.r.Err), nil
	case "elapsed":
		return starlark.Float(r.r.Elapsed.Seconds()), nil
	case "headers":
		return metadataDict(r.r.Header), nil
	case "trailers":
		return metadataDict(r.r.Trailer), nil
	case "message":
		if r.message == nil {
			m, err := replyValue(r.r)
			if err != nil {
				return nil, err
			}
			r.message = m
		}
		return r.message, nil
	case "fail", "succeed":
		return grpcResultMethods[name].BindReceiver(r), nil
	}
	return nil, nil
}

// replyValue is a reply as a dict (None when the call failed).
func replyValue(r *userbehavior.GRPCResult) (starlark.Value, error) {
	if r.Reply == nil {
		return starlark.None, nil
	}
	js, err := replyJSONOf(r.Reply)
	if err != nil {
		return starlark.None, err
	}
	return starlark.Call(&starlark.Thread{}, starjson.Module.Members["decode"], starlark.Tuple{starlark.String(js)}, nil)
}

// replyJSONOf is a reply as protojson, with the .proto field names and defaults.
func replyJSONOf(m proto.Message) ([]byte, error) { return replyJSON.Marshal(m) }

var replyJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

func metadataDict(md metadata.MD) *starlark.Dict {
	d := starlark.NewDict(len(md))
	for k, vs := range md {
		_ = d.SetKey(starlark.String(k), starlark.String(strings.Join(vs, ", ")))
	}
	return d
}

var grpcResultMethods = map[string]*starlark.Builtin{
	"fail": starlark.NewBuiltin("fail", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		msg := "failed by the script"
		if err := starlark.UnpackPositionalArgs("fail", args, kwargs, 0, &msg); err != nil {
			return nil, err
		}
		r := b.Receiver().(*grpcResultValue)
		if r.committed {
			return nil, errors.New("result.fail: the call was already recorded; call fail() before the user's next call")
		}
		r.r.Fail(msg)
		return starlark.None, nil
	}),
	"succeed": starlark.NewBuiltin("succeed", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackPositionalArgs("succeed", args, kwargs, 0); err != nil {
			return nil, err
		}
		r := b.Receiver().(*grpcResultValue)
		if r.committed {
			return nil, errors.New("result.succeed: the call was already recorded; call succeed() before the user's next call")
		}
		r.r.Succeed()
		return starlark.None, nil
	}),
}

// c.stream(method, message=None, metadata=None, timeout=None, name=None, expect=None)
// opens a streaming call; it ends, at the latest, with the task.
func grpcStreamCall(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	c := b.Receiver().(*grpcConnValue)
	_, s := running(thread)
	if s == nil {
		return nil, errors.New("stream: calls may only be made while a user runs a task")
	}
	var a grpcCallArgs
	if err := a.unpack("stream", args, kwargs); err != nil {
		return nil, err
	}
	call, err := a.call(thread)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %v", a.method, err)
	}
	s.commit()
	st, err := c.c.Stream(s.ctx, call)
	if err != nil {
		return nil, fmt.Errorf("stream: %v", err)
	}
	v := &grpcStreamValue{st: st}
	s.streams = append(s.streams, v)
	return v, nil
}

// grpcStreamValue is an open stream: send, recv, close_send, close.
type grpcStreamValue struct {
	st *userbehavior.GRPCStream
}

var grpcStreamMethods = map[string]*starlark.Builtin{
	"send": starlark.NewBuiltin("send", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var msg starlark.Value
		if err := starlark.UnpackPositionalArgs("send", args, kwargs, 1, &msg); err != nil {
			return nil, err
		}
		js, err := messageJSON(thread, msg)
		if err != nil {
			return nil, fmt.Errorf("send: %v", err)
		}
		if err := b.Receiver().(*grpcStreamValue).st.Send(js); err != nil {
			return nil, fmt.Errorf("send: %v", err)
		}
		return starlark.None, nil
	}),
	"recv": starlark.NewBuiltin("recv", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var timeout starlark.Value = starlark.None
		if err := starlark.UnpackArgs("recv", args, kwargs, "timeout?", &timeout); err != nil {
			return nil, err
		}
		var d time.Duration
		if timeout != starlark.None {
			var err error
			if d, err = toDuration(timeout); err != nil {
				return nil, fmt.Errorf("recv: timeout: %v", err)
			}
		}
		msg := b.Receiver().(*grpcStreamValue).st.Recv(d)
		if msg == nil {
			return starlark.None, nil
		}
		js, err := replyJSONOf(msg)
		if err != nil {
			return nil, fmt.Errorf("recv: %v", err)
		}
		return starlark.Call(thread, starjson.Module.Members["decode"], starlark.Tuple{starlark.String(js)}, nil)
	}),
	"close_send": starlark.NewBuiltin("close_send", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackPositionalArgs("close_send", args, kwargs, 0); err != nil {
			return nil, err
		}
		b.Receiver().(*grpcStreamValue).st.CloseSend()
		return starlark.None, nil
	}),
	"close": starlark.NewBuiltin("close", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackPositionalArgs("close", args, kwargs, 0); err != nil {
			return nil, err
		}
		b.Receiver().(*grpcStreamValue).st.Close()
		return starlark.None, nil
	}),
}

func (v *grpcStreamValue) String() string       { return "<grpc stream>" }
func (v *grpcStreamValue) Type() string         { return "grpc_stream" }
func (v *grpcStreamValue) Freeze()              {}
func (v *grpcStreamValue) Truth() starlark.Bool { return true }
func (v *grpcStreamValue) Hash() (uint32, error) {
	return 0, errors.New("unhashable type: grpc_stream")
}
func (v *grpcStreamValue) AttrNames() []string {
	return []string{"close", "close_send", "error", "messages", "ok", "recv", "send", "status"}
}

// Attr: the methods, messages received so far, and once the stream ended its
// status, ok and error (None before).
func (v *grpcStreamValue) Attr(name string) (starlark.Value, error) {
	if b, ok := grpcStreamMethods[name]; ok {
		return b.BindReceiver(v), nil
	}
	res := v.st.Result()
	switch name {
	case "messages":
		return starlark.MakeInt(v.st.Messages()), nil
	case "status", "ok", "error":
		if res == nil {
			return starlark.None, nil
		}
		switch name {
		case "status":
			return starlark.String(userbehavior.GRPCCodeName(res.Code)), nil
		case "ok":
			return starlark.Bool(res.OK()), nil
		}
		return errorValue(res.Err), nil
	}
	return nil, nil
}
