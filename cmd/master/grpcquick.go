package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// The plain gRPC user (--grpc-method), like ghz: one unary call, repeated. It is a
// script made from the flags, so it reaches every worker, is validated and measured
// exactly as a script is: the call's row is "GRPC /pkg.Service/Method".

// grpcMethodPattern is what a method name may hold: it is written into the script
// as a string literal, so that `master check`-time validation sees it.
var grpcMethodPattern = regexp.MustCompile(`^/?[A-Za-z_][A-Za-z0-9_.]*/[A-Za-z_][A-Za-z0-9_]*$`)

// validateGRPC checks the flags of the plain gRPC user.
func (c *Config) validateGRPC() []error {
	var errs []error
	if c.GRPCMethod == "" {
		if c.Proto != "" {
			errs = append(errs, errors.New("--proto goes with --grpc-method"))
		}
		return errs
	}
	if !grpcMethodPattern.MatchString(c.GRPCMethod) {
		errs = append(errs, fmt.Errorf("--grpc-method %q: want package.Service/Method", c.GRPCMethod))
	}
	if c.Script != "" || c.Demo {
		errs = append(errs, errors.New("--grpc-method is the plain gRPC user: not with --script or --demo"))
	}
	if u, err := url.Parse(c.Host); c.Host != "" && (err != nil || (u.Scheme != "grpc" && u.Scheme != "grpcs") || u.Host == "") {
		errs = append(errs, fmt.Errorf("--grpc-method needs --host grpc://host:port (or grpcs://), got %q", c.Host))
	}
	if c.Proto != "" && !strings.HasSuffix(c.Proto, ".proto") && !strings.HasSuffix(c.Proto, ".protoset") {
		errs = append(errs, fmt.Errorf("--proto %q: want a .proto file or a .protoset", c.Proto))
	}
	if _, err := c.grpcMetadata(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// grpcMetadata is --header as gRPC metadata (lower-case keys), in JSON.
func (c *Config) grpcMetadata() (string, error) {
	if len(c.Headers) == 0 {
		return "", nil
	}
	md := map[string][]string{}
	for _, line := range c.Headers {
		name, value, ok := strings.Cut(line, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" {
			return "", fmt.Errorf("--header %q: want \"key: value\"", line)
		}
		md[name] = append(md[name], strings.TrimSpace(value))
	}
	b, err := json.Marshal(md)
	return string(b), err
}

// grpcScenario is the script of the plain gRPC user, with --proto (and the .proto
// files beside it, which it may import) in its bundle.
func (c *Config) grpcScenario(opts userbehavior.HTTPOptions) (userbehavior.Scenario, error) {
	wait, err := userbehavior.ParseWait(c.Wait)
	if err != nil {
		return userbehavior.Scenario{}, err
	}
	body, err := c.body()
	if err != nil {
		return userbehavior.Scenario{}, err
	}
	if len(body) > 0 && !json.Valid(body) {
		return userbehavior.Scenario{}, errors.New("--body: not JSON (the request message in protobuf's JSON mapping)")
	}
	md, err := c.grpcMetadata()
	if err != nil {
		return userbehavior.Scenario{}, err
	}
	files := map[string][]byte{grpcQuickMain: []byte(grpcQuickScript(c.GRPCMethod, wait))}
	if c.Proto != "" {
		if err := addProtos(files, c.Proto); err != nil {
			return userbehavior.Scenario{}, err
		}
	}
	vars := map[string]string{"GRPC_BODY": string(body), "GRPC_METADATA": md}
	return userbehavior.Scenario{Host: c.Host, HTTP: opts, Script: &userbehavior.ScriptSpec{
		Main: grpcQuickMain, Files: files, Vars: vars}}, nil
}

const grpcQuickMain = "grpc-quick.star"

// grpcQuickScript is the plain gRPC user's script.
func grpcQuickScript(method string, w userbehavior.Wait) string {
	return fmt.Sprintf(`# The plain gRPC user of --grpc-method.
BODY = env("GRPC_BODY", "")
METADATA = json.decode(env("GRPC_METADATA", "") or "null")

def connect(u):
    u.vars["c"] = u.grpc.connect()

def call(u):
    u.vars["c"].invoke(%q, BODY, metadata=METADATA)

grpc = user(tasks=[call], on_start=connect%s)
`, method, waitArg(w))
}

// waitArg is w as the wait= argument of user(), or "" for none.
func waitArg(w userbehavior.Wait) string {
	switch w.Kind {
	case userbehavior.WaitConstant:
		return fmt.Sprintf(", wait=constant(%g)", w.Min.Seconds())
	case userbehavior.WaitBetween:
		return fmt.Sprintf(", wait=between(%g, %g)", w.Min.Seconds(), w.Max.Seconds())
	case userbehavior.WaitConstantPacing:
		return fmt.Sprintf(", wait=constant_pacing(%g)", w.Min.Seconds())
	case userbehavior.WaitConstantThroughput:
		return fmt.Sprintf(", wait=constant_throughput(%g)", w.PerSecond)
	}
	return ""
}

// addProtos puts file, and the .proto files of its directory (its imports, likely),
// into the bundle under their base names.
func addProtos(files map[string][]byte, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("--proto: %w", err)
	}
	files[filepath.Base(file)] = b
	if !strings.HasSuffix(file, ".proto") {
		return nil
	}
	siblings, _ := filepath.Glob(filepath.Join(filepath.Dir(file), "*.proto"))
	for _, s := range siblings {
		if _, ok := files[filepath.Base(s)]; ok {
			continue
		}
		if b, err := os.ReadFile(s); err == nil {
			files[filepath.Base(s)] = b
		}
	}
	return nil
}
