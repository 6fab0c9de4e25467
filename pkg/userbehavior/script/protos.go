package script

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"sort"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"go.starlark.net/syntax"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// compileProtos builds the descriptors of the bundle's .proto files (with
// github.com/bufbuild/protocompile: a pure-Go compiler, no protoc to install) and
// protosets (*.protoset: a serialized FileDescriptorSet, as protoc
// --descriptor_set_out --include_imports writes it). gRPC calls find their message
// types there before asking the server's reflection. It returns nil when the
// bundle has neither; problems get every error with its position.
func compileProtos(b Bundle, p *problems) *protoregistry.Files {
	var protoNames, setNames []string
	for name := range b.Files {
		switch {
		case strings.HasSuffix(name, ".proto"):
			protoNames = append(protoNames, name)
		case strings.HasSuffix(name, ".protoset"):
			setNames = append(setNames, name)
		}
	}
	if len(protoNames) == 0 && len(setNames) == 0 {
		return nil
	}
	sort.Strings(protoNames)
	sort.Strings(setNames)
	files := new(protoregistry.Files)
	register := func(fd protoreflect.FileDescriptor) {}
	register = func(fd protoreflect.FileDescriptor) {
		if _, err := files.FindFileByPath(fd.Path()); err == nil {
			return
		}
		imports := fd.Imports()
		for i := range imports.Len() {
			register(imports.Get(i).FileDescriptor)
		}
		if err := files.RegisterFile(fd); err != nil {
			p.add(filePos(fd.Path()), "%v", err)
		}
	}
	if len(protoNames) > 0 {
		c := protocompile.Compiler{
			Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
				Accessor: func(path string) (io.ReadCloser, error) {
					data, ok := b.Files[path]
					if !ok {
						return nil, fs.ErrNotExist
					}
					return io.NopCloser(bytes.NewReader(data)), nil
				},
			}),
			Reporter: reporter.NewReporter(func(err reporter.ErrorWithPos) error {
				pos := err.GetPosition()
				name := pos.Filename
				p.add(syntax.MakePosition(&name, int32(pos.Line), int32(pos.Col)), "%v", err.Unwrap())
				return nil // go on: report every error at once
			}, nil),
		}
		out, err := c.Compile(context.Background(), protoNames...)
		if err != nil && !errors.Is(err, reporter.ErrInvalidSource) {
			p.add(filePos(protoNames[0]), "%v", err)
		}
		for _, fd := range out {
			if fd != nil { // nil: the file did not compile
				register(fd)
			}
		}
	}
	for _, name := range setNames {
		set := &descriptorpb.FileDescriptorSet{}
		if err := proto.Unmarshal(b.Files[name], set); err != nil {
			p.add(filePos(name), "protoset: %v", err)
			continue
		}
		fs, err := protodesc.NewFiles(set)
		if err != nil {
			p.add(filePos(name), "protoset: %v", err)
			continue
		}
		fs.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
			register(fd)
			return true
		})
	}
	return files
}

// lintGRPC checks the calls x.invoke("pkg.Service/Method", ...) and x.stream(...)
// whose method is a literal: a malformed name, or a method missing from a service
// the bundle's protos define, is an error before the run. A service they do not
// define is left to the server's reflection, at run time.
func lintGRPC(f *syntax.File, files *protoregistry.Files, p *problems) {
	syntax.Walk(f, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		dot, ok := call.Fn.(*syntax.DotExpr)
		if !ok || (dot.Name.Name != "invoke" && dot.Name.Name != "stream") {
			return true
		}
		if _, isHTTP := dot.X.(*syntax.DotExpr); isHTTP {
			if x := dot.X.(*syntax.DotExpr); x.Name.Name == "http" {
				return true // u.http.stream(method, url)
			}
		}
		lit, ok := call.Args[0].(*syntax.Literal)
		if !ok || lit.Token != syntax.STRING {
			return true
		}
		name, _ := lit.Value.(string)
		start, _ := lit.Span()
		if _, _, err := userbehavior.SplitGRPCMethod(name); err != nil {
			p.add(start, "%s: %v", dot.Name.Name, err)
			return true
		}
		if _, err := userbehavior.FindGRPCMethod(files, name); err != nil {
			p.add(start, "%s: %v", dot.Name.Name, err)
		}
		return true
	})
}
