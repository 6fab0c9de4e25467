package userbehavior

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// GRPCMethodKind is the statistics method of a gRPC call's row: "GRPC
// /pkg.Service/Method".
const GRPCMethodKind = "GRPC"

// GRPCDial says where and how a user connects to a gRPC server.
type GRPCDial struct {
	// Target is host:port; "" is the run's host when it is grpc://host:port or
	// grpcs://host:port.
	Target string
	// TLS speaks TLS (a grpcs:// host does by default); CA is a PEM bundle to verify
	// the server with instead of the system's; Authority overrides the :authority
	// (and the name verified). InsecureSkipVerify also follows the run's setting.
	TLS                bool
	CA                 []byte
	Authority          string
	InsecureSkipVerify bool
	// Shared uses one connection per worker for these settings, multiplexed by every
	// user that asks for it, instead of one per user: a grpc-go connection costs a
	// user about 47 KiB and 5 goroutines (docs/benchmarks.md). It is closed when the
	// Runner's users are all stopped.
	Shared bool
	// Files are message and service descriptors known before the run (.proto files
	// or protosets of a script bundle); methods not found there are asked of the
	// server's reflection service.
	Files *protoregistry.Files
}

// grpcShared is what a Runner's users share for gRPC: the run's defaults and the
// methods found so far, per target.
type grpcShared struct {
	host     string // from a grpc:// or grpcs:// run host
	hostTLS  bool
	insecure bool
	maxMsg   int // the body cap, for received messages
	timeout  time.Duration

	mu      sync.Mutex
	methods map[grpcMethodKey]*grpcMethod
	pool    map[string]*grpc.ClientConn // shared connections, by dial settings
}

// sharedConn returns the shared connection for key, dialling it with dial the first
// time.
func (g *grpcShared) sharedConn(key string, dial func() (*grpc.ClientConn, error)) (*grpc.ClientConn, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if cc := g.pool[key]; cc != nil {
		return cc, nil
	}
	cc, err := dial()
	if err != nil {
		return nil, err
	}
	if g.pool == nil {
		g.pool = map[string]*grpc.ClientConn{}
	}
	g.pool[key] = cc
	return cc, nil
}

// closePool closes the shared connections: no user is left to use them (a later
// user dials anew).
func (g *grpcShared) closePool() {
	g.mu.Lock()
	pool := g.pool
	g.pool = nil
	g.mu.Unlock()
	for _, cc := range pool {
		_ = cc.Close()
	}
}

type grpcMethodKey struct{ target, name string }

func newGRPCShared(base *url.URL, cfg HTTPConfig, timeout time.Duration) *grpcShared {
	g := &grpcShared{insecure: cfg.InsecureSkipVerify, timeout: timeout, methods: map[grpcMethodKey]*grpcMethod{}}
	if base != nil && (base.Scheme == "grpc" || base.Scheme == "grpcs") {
		g.host, g.hostTLS = base.Host, base.Scheme == "grpcs"
	}
	g.maxMsg = int(cfg.options().maxBody)
	if g.maxMsg <= 0 {
		g.maxMsg = 1<<31 - 1
	}
	return g
}

// GRPCConn is one user's connection to a gRPC server, kept until the user stops.
type GRPCConn struct {
	key    string // the dial settings: DialGRPC's reuse
	closed bool
	pooled bool // cc is the worker's shared connection: not the user's to close
	cc     *grpc.ClientConn
	target string
	files  *protoregistry.Files
	shared *grpcShared
	rec    *aggregate.Recorder
	last   *lastMethod // the last call's method: most tasks repeat theirs
	// lastIn is the last request message built and the JSON it came from: a task
	// that sends the same message each time (the plain gRPC user) parses it once.
	lastIn     *dynamicpb.Message
	lastInJSON string
}

// DialGRPC returns u's connection with the same settings if it has one (a task may
// ask for its connection each time, without keeping it), or opens one (lazily: the
// first call connects). Connections are closed when the user stops.
func (u *User) DialGRPC(d GRPCDial) (*GRPCConn, error) {
	if u.r == nil {
		return nil, errors.New("gRPC: the user was not made by a Runner")
	}
	key := fmt.Sprintf("%s\x00%v\x00%s\x00%v\x00%v\x00%s", d.Target, d.TLS, d.Authority, d.InsecureSkipVerify, d.Shared, d.CA)
	for _, h := range u.held {
		if c, ok := h.(*GRPCConn); ok && c.key == key && !c.closed {
			return c, nil
		}
	}
	g := u.r.shared.grpc
	target, useTLS := d.Target, d.TLS
	if target == "" {
		if g.host == "" {
			return nil, errors.New("no gRPC target: give one, or run with -H grpc://host:port")
		}
		target, useTLS = g.host, useTLS || g.hostTLS
	}
	if t, ok := strings.CutPrefix(target, "grpcs://"); ok {
		target, useTLS = t, true
	} else if t, ok := strings.CutPrefix(target, "grpc://"); ok {
		target = t
	}
	creds := insecure.NewCredentials()
	if useTLS {
		conf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: d.InsecureSkipVerify || g.insecure} //nolint:gosec // the user's explicit choice
		if len(d.CA) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(d.CA) {
				return nil, errors.New("ca: no PEM certificate found")
			}
			conf.RootCAs = pool
		}
		if d.Authority != "" {
			conf.ServerName = d.Authority
		}
		creds = credentials.NewTLS(conf)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(g.maxMsg))}
	if d.Authority != "" {
		opts = append(opts, grpc.WithAuthority(d.Authority))
	}
	dial := func() (*grpc.ClientConn, error) { return grpc.NewClient("passthrough:///"+target, opts...) }
	var cc *grpc.ClientConn
	var err error
	if d.Shared {
		cc, err = g.sharedConn(key, dial)
	} else {
		cc, err = dial()
	}
	if err != nil {
		return nil, fmt.Errorf("grpc connect %s: %w", target, err)
	}
	c := &GRPCConn{key: key, cc: cc, pooled: d.Shared, target: target, files: d.Files, shared: g, rec: u.rec}
	u.hold(c)
	return c, nil
}

// Close closes the connection; the user's later calls on it fail, and its next
// DialGRPC opens a new one.
func (c *GRPCConn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	if c.pooled {
		return nil
	}
	return c.cc.Close()
}

// GRPCCall is one unary call.
type GRPCCall struct {
	Method   string // "pkg.Service/Method" (a leading "/" is allowed)
	JSON     []byte // the request message as protojson; empty: the default message
	Metadata metadata.MD
	Timeout  time.Duration // 0: the run's request timeout
	Name     string        // the statistics row; default "/pkg.Service/Method"
	// Accept decides which status codes are successes; nil accepts OK only.
	Accept func(codes.Code) bool
	// Deferred leaves recording to the caller (GRPCResult.Commit), who may change
	// the verdict first, as Request.Deferred does.
	Deferred bool
}

// GRPCResult is what a call returns. Err is set when it is recorded as a failure.
type GRPCResult struct {
	Code     codes.Code
	Status   string // the status message
	Reply    proto.Message
	Header   metadata.MD
	Trailer  metadata.MD
	Elapsed  time.Duration
	Err      error
	rec      *aggregate.Recorder
	sample   aggregate.Sample
	end      time.Time
	recorded bool
}

// OK reports whether the call counts as a success.
func (r *GRPCResult) OK() bool { return r.Err == nil }

// Fail marks the call failed with msg, whatever its status.
func (r *GRPCResult) Fail(msg string) { r.Err = errors.New(msg) }

// Succeed marks the call successful, whatever its status.
func (r *GRPCResult) Succeed() { r.Err = nil }

// Commit records a deferred call with its final verdict; later calls do nothing.
func (r *GRPCResult) Commit() {
	if r.rec == nil || r.recorded {
		return
	}
	r.recorded = true
	r.sample.Err = ""
	if r.Err != nil {
		r.sample.Err = r.Err.Error()
	}
	r.rec.Record(r.sample, r.end)
}

// Invoke makes a unary call and records it under "GRPC" and its name. It returns an
// error, recording nothing, for what is the caller's mistake: a method the server
// does not have, a message that does not fit the method's type.
func (c *GRPCConn) Invoke(ctx context.Context, call *GRPCCall) (*GRPCResult, error) {
	start := time.Now()
	m, err := c.method(ctx, call.Method)
	res := &GRPCResult{rec: c.rec}
	if err != nil {
		var unreachable *grpcUnreachable
		if !errors.As(err, &unreachable) {
			return nil, err
		}
		// The server could not be asked what the method is: a failed call like any.
		res.Code = status.Code(unreachable.err)
		c.finish(res, call, grpcRowName(call.Method), start, unreachable.err)
		return res, nil
	}
	if m.clientStream || m.serverStream {
		return nil, fmt.Errorf("%s is a streaming method: use stream()", m.path)
	}
	in := c.lastIn
	if in == nil || in.Descriptor() != m.in || string(call.JSON) != c.lastInJSON {
		in = dynamicpb.NewMessage(m.in)
		if len(call.JSON) > 0 {
			if err := protojson.Unmarshal(call.JSON, in); err != nil {
				return nil, fmt.Errorf("%s: request message %s: %v", m.path, m.in.FullName(), err)
			}
		}
		c.lastIn, c.lastInJSON = in, string(call.JSON) // never changed after: gRPC only reads it
	}
	out := dynamicpb.NewMessage(m.out)
	if md := call.Metadata; len(md) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, md)
	}
	t := call.Timeout
	if t == 0 {
		t = c.shared.timeout
	}
	if t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	start = time.Now() // the call itself, not finding its method
	err = c.cc.Invoke(ctx, m.path, in, out, grpc.Header(&res.Header), grpc.Trailer(&res.Trailer))
	if err == nil {
		res.Reply = out
	}
	if err != nil && StoppedAtStop(ctx) {
		// Cut by the run's stop: counted apart, neither a success nor a failure.
		res.Code, res.Err, res.rec = codes.Canceled, ErrStopped, nil
		c.rec.Count(aggregate.CancelledCounter, 1)
		return res, nil
	}
	c.finish(res, call, m.path, start, err)
	return res, nil
}

// finish sets res's verdict from the call's error and records it unless deferred.
func (c *GRPCConn) finish(res *GRPCResult, call *GRPCCall, path string, start time.Time, err error) {
	res.end = time.Now()
	res.Elapsed = res.end.Sub(start)
	st := status.Convert(err)
	res.Code, res.Status = st.Code(), st.Message()
	accept := call.Accept
	if accept == nil {
		accept = func(c codes.Code) bool { return c == codes.OK }
	}
	if !accept(res.Code) {
		res.Err = grpcError(res.Code, res.Status, c.shared.maxMsg)
	}
	name := path
	if call.Name != "" {
		name = call.Name
	}
	res.sample = aggregate.Sample{Endpoint: aggregate.Endpoint{Method: GRPCMethodKind, Name: name}, Latency: res.Elapsed, URL: path}
	if res.Reply != nil {
		res.sample.Bytes = int64(proto.Size(res.Reply))
	}
	if !call.Deferred {
		res.Commit()
	}
}

// GRPCCodeName is a status code as the gRPC specification writes it: UNAVAILABLE,
// DEADLINE_EXCEEDED.
func GRPCCodeName(c codes.Code) string {
	if int(c) < len(grpcCodeNames) {
		return grpcCodeNames[c]
	}
	return fmt.Sprintf("CODE_%d", uint32(c))
}

var grpcCodeNames = [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

// ParseGRPCCode reads a code name (UNAVAILABLE, unavailable, 14).
func ParseGRPCCode(s string) (codes.Code, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	for i, n := range grpcCodeNames {
		if n == u {
			return codes.Code(i), nil
		}
	}
	var n uint32
	if _, err := fmt.Sscanf(u, "%d", &n); err == nil && fmt.Sprint(n) == u {
		return codes.Code(n), nil
	}
	return 0, fmt.Errorf("unknown gRPC status code %q (want a name such as OK, NOT_FOUND, UNAVAILABLE)", s)
}

// grpcError is a failed call's message, grouped by its cause: the code's name and
// the status message without addresses or ports (which would make one failure row
// per connection).
func grpcError(c codes.Code, msg string, maxMsg int) error {
	if c == codes.ResourceExhausted && strings.HasPrefix(msg, "grpc: received message larger than max") {
		// "(11534350 vs. 10485760)": one row per size otherwise.
		return errors.New(GRPCCodeName(c) + ": message exceeds " + formatBytes(int64(maxMsg)) + " cap")
	}
	if c == codes.DeadlineExceeded && strings.HasPrefix(msg, "stream terminated by RST_STREAM") {
		// The server gave up on the expired call first (RST_STREAM CANCEL): the same
		// cause as the client's own deadline, one row.
		msg = context.DeadlineExceeded.Error()
	}
	msg = addrPattern.ReplaceAllString(msg, "")
	msg = strings.ReplaceAll(msg, " :", ":")
	if msg == "" {
		return errors.New(GRPCCodeName(c))
	}
	return errors.New(GRPCCodeName(c) + ": " + msg)
}

// addrPattern matches " 127.0.0.1:50051" and " [::1]:50051" in transport messages.
var addrPattern = regexp.MustCompile(`\s?(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):\d+`)

// grpcRowName is the default row of a method as the user wrote it.
func grpcRowName(method string) string {
	if strings.HasPrefix(method, "/") {
		return method
	}
	return "/" + method
}

// grpcMethod is a method found in descriptors.
type grpcMethod struct {
	path                       string // "/pkg.Service/Method"
	in, out                    protoreflect.MessageDescriptor
	clientStream, serverStream bool
}

// grpcUnreachable is a method lookup that failed because the server's reflection
// service could not be reached (err is the call's status).
type grpcUnreachable struct{ err error }

func (e *grpcUnreachable) Error() string { return e.err.Error() }
