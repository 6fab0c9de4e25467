package userbehavior

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	rpbalpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// SplitGRPCMethod reads "pkg.Service/Method", "/pkg.Service/Method" or
// "pkg.Service.Method" into the service's full name and the method's name.
func SplitGRPCMethod(name string) (service, method string, err error) {
	s := strings.TrimPrefix(name, "/")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		service, method = s[:i], s[i+1:]
	} else if i := strings.LastIndexByte(s, '.'); i >= 0 {
		service, method = s[:i], s[i+1:]
	}
	if service == "" || method == "" || strings.Contains(service, "/") {
		return "", "", fmt.Errorf("gRPC method %q: want \"package.Service/Method\"", name)
	}
	return service, method, nil
}

// FindGRPCMethod looks a method up in files. It returns found false when files have
// no such service (the server's reflection may know it), and an error when the
// service is there without the method.
func FindGRPCMethod(files *protoregistry.Files, name string) (found bool, err error) {
	_, found, err = findMethod(files, name)
	return found, err
}

func findMethod(files *protoregistry.Files, name string) (*grpcMethod, bool, error) {
	service, method, err := SplitGRPCMethod(name)
	if err != nil {
		return nil, false, err
	}
	if files == nil {
		return nil, false, nil
	}
	d, err := files.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		return nil, false, nil
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, true, fmt.Errorf("gRPC method %q: %s is a %T, not a service", name, service, d)
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		var have []string
		for i := range sd.Methods().Len() {
			have = append(have, string(sd.Methods().Get(i).Name()))
		}
		return nil, true, fmt.Errorf("gRPC service %s has no method %s (it has %s)", service, method, strings.Join(have, ", "))
	}
	return &grpcMethod{path: "/" + service + "/" + method, in: md.Input(), out: md.Output(),
		clientStream: md.IsStreamingClient(), serverStream: md.IsStreamingServer()}, true, nil
}

// method finds what name is: in the connection's own descriptors, in what this
// runner already learned of the target, or by asking the server's reflection.
func (c *GRPCConn) method(ctx context.Context, name string) (*grpcMethod, error) {
	if l := c.last; l != nil && l.asked == name {
		return l.m, nil
	}
	m, found, err := findMethod(c.files, name)
	if err != nil {
		return nil, err
	}
	if !found {
		m, err = c.shared.reflected(ctx, c.cc, c.target, name)
		if err != nil {
			return nil, err
		}
	}
	c.last = &lastMethod{asked: name, m: m}
	return m, nil
}

type lastMethod struct {
	asked string
	m     *grpcMethod
}

// reflected is a method found by the target's reflection service, asked once per
// runner and method.
func (g *grpcShared) reflected(ctx context.Context, cc *grpc.ClientConn, target, name string) (*grpcMethod, error) {
	key := grpcMethodKey{target, name}
	g.mu.Lock()
	m := g.methods[key]
	g.mu.Unlock()
	if m != nil {
		return m, nil
	}
	service, _, err := SplitGRPCMethod(name)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, min(g.timeout, 30*time.Second))
	defer cancel()
	files, err := reflectFiles(ctx, cc, service)
	if err != nil {
		return nil, err
	}
	m, found, err := findMethod(files, name)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("gRPC server at %s has no service %s (asked its reflection)", target, service)
	}
	g.mu.Lock()
	g.methods[key] = m
	g.mu.Unlock()
	return m, nil
}

// reflector asks a server's reflection service for the files that define a
// symbol, over grpc.reflection.v1 or v1alpha (the same messages on the wire).
type reflector struct {
	send func(*rpb.ServerReflectionRequest) error
	recv func() (*rpb.ServerReflectionResponse, error)
}

func reflectFiles(ctx context.Context, cc *grpc.ClientConn, service string) (*protoregistry.Files, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	files, err := reflectWith(v1Reflector(ctx, cc), service)
	if status.Code(err) == codes.Unimplemented {
		files, err = reflectWith(v1alphaReflector(ctx, cc), service)
		if status.Code(err) == codes.Unimplemented {
			return nil, fmt.Errorf("gRPC server has no reflection service to describe %s: ship its .proto (or a protoset) beside the script", service)
		}
	}
	return files, err
}

func v1Reflector(ctx context.Context, cc *grpc.ClientConn) func() (*reflector, error) {
	return func() (*reflector, error) {
		s, err := rpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
		if err != nil {
			return nil, err
		}
		return &reflector{send: s.Send, recv: s.Recv}, nil
	}
}

// v1alphaReflector speaks v1alpha: its messages are v1's, field for field, so they
// are converted through the wire format.
func v1alphaReflector(ctx context.Context, cc *grpc.ClientConn) func() (*reflector, error) {
	return func() (*reflector, error) {
		s, err := rpbalpha.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
		if err != nil {
			return nil, err
		}
		return &reflector{
			send: func(req *rpb.ServerReflectionRequest) error {
				//lint:ignore SA1019 v1alpha is deprecated, and the fallback for servers that speak only it
				var a rpbalpha.ServerReflectionRequest
				if err := convertWire(req, &a); err != nil {
					return err
				}
				return s.Send(&a)
			},
			recv: func() (*rpb.ServerReflectionResponse, error) {
				a, err := s.Recv()
				if err != nil {
					return nil, err
				}
				var r rpb.ServerReflectionResponse
				return &r, convertWire(a, &r)
			},
		}, nil
	}
}

func convertWire(from, to proto.Message) error {
	b, err := proto.Marshal(from)
	if err != nil {
		return err
	}
	return proto.Unmarshal(b, to)
}

// reflectWith asks for the file defining service, then for every dependency the
// answers lack, and builds them into Files. A transport failure is a
// *grpcUnreachable.
func reflectWith(open func() (*reflector, error), service string) (*protoregistry.Files, error) {
	r, err := open()
	if err != nil {
		return nil, reflectionErr(err)
	}
	protos := map[string]*descriptorpb.FileDescriptorProto{}
	ask := func(req *rpb.ServerReflectionRequest) error {
		if err := r.send(req); err != nil {
			return reflectionErr(err)
		}
		resp, err := r.recv()
		if err != nil {
			return reflectionErr(err)
		}
		if e := resp.GetErrorResponse(); e != nil {
			if codes.Code(e.ErrorCode) == codes.NotFound {
				return fmt.Errorf("gRPC server has no service %s (asked its reflection)", service)
			}
			return fmt.Errorf("gRPC reflection: %s: %s", GRPCCodeName(codes.Code(e.ErrorCode)), e.ErrorMessage)
		}
		for _, raw := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
			fd := &descriptorpb.FileDescriptorProto{}
			if err := proto.Unmarshal(raw, fd); err != nil {
				return fmt.Errorf("gRPC reflection: bad file descriptor: %v", err)
			}
			protos[fd.GetName()] = fd
		}
		return nil
	}
	if err := ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: service}}); err != nil {
		return nil, err
	}
	for range 100 { // dependencies the server did not send with the file
		missing := ""
		for _, fd := range protos {
			for _, dep := range fd.GetDependency() {
				if _, ok := protos[dep]; !ok {
					if _, err := protoregistry.GlobalFiles.FindFileByPath(dep); err != nil {
						missing = dep
					}
				}
			}
		}
		if missing == "" {
			break
		}
		if err := ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileByFilename{FileByFilename: missing}}); err != nil {
			return nil, err
		}
		if _, ok := protos[missing]; !ok {
			return nil, fmt.Errorf("gRPC reflection: the server did not send %s", missing)
		}
	}
	set := &descriptorpb.FileDescriptorSet{}
	for _, fd := range protos {
		set.File = append(set.File, fd)
	}
	for _, fd := range protos { // well-known files the server left out
		for _, dep := range fd.GetDependency() {
			if _, ok := protos[dep]; !ok {
				if d, err := protoregistry.GlobalFiles.FindFileByPath(dep); err == nil {
					protos[dep] = protodesc.ToFileDescriptorProto(d)
					set.File = append(set.File, protos[dep])
				}
			}
		}
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, fmt.Errorf("gRPC reflection: %v", err)
	}
	return files, nil
}

// reflectionErr turns a failed reflection stream into a *grpcUnreachable, save
// Unimplemented (no reflection service), which callers branch on.
func reflectionErr(err error) error {
	if status.Code(err) == codes.Unimplemented {
		return err
	}
	var u *grpcUnreachable
	if errors.As(err, &u) {
		return err
	}
	return &grpcUnreachable{err: err}
}
