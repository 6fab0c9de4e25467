package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"

	"github.com/stampede-load/stampede/cmd/internal/lifecycle"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/controller"
	"github.com/stampede-load/stampede/pkg/locust"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// This file wires Locust and boomer workers in: --locust-listen opens a ZeroMQ
// port beside the gRPC one, and --locust-classes names the user classes they run.

// locustFlags adds the Locust flags to a flag set.
func locustFlags(fs interface {
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
}, cfg *Config) {
	fs.StringVar(&cfg.LocustListen, "locust-listen", cfg.LocustListen,
		"also accept Locust (locust --worker) and boomer workers on this ZeroMQ address, e.g. 127.0.0.1:5557 (default: off); Locust's protocol has no authentication")
	fs.BoolVar(&cfg.LocustInsecure, "locust-insecure", cfg.LocustInsecure,
		"allow --locust-listen beyond loopback: anyone who reaches the port can join as a worker or pose as one")
	fs.StringVar(&cfg.LocustClasses, "locust-classes", cfg.LocustClasses,
		"user classes of the Locust workers with their weights, \"WebsiteUser=3,ApiUser=1\" (names must match the locustfile)")
}

// validateLocust returns the problems of the Locust flags.
func (c *Config) validateLocust() []error {
	var errs []error
	if c.LocustListen == "" {
		if c.LocustClasses != "" {
			errs = append(errs, errors.New("--locust-classes needs --locust-listen"))
		}
		return errs
	}
	local, err := loopback(c.LocustListen)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("--locust-listen %w", err))
	case !local && !c.LocustInsecure:
		errs = append(errs, fmt.Errorf("--locust-listen %q is reachable beyond this machine and Locust's protocol has no authentication: anyone who connects could take users (and learn the target) or pose as a worker; listen on 127.0.0.1, or pass --locust-insecure on a trusted network", c.LocustListen))
	}
	if c.LocustClasses == "" && c.Script == "" && !c.Demo {
		errs = append(errs, errors.New("--locust-listen needs --locust-classes with the locustfile's user classes (a Locust worker exits when asked for a class it lacks), or a --script that defines classes of the same names"))
	}
	if c.LocustClasses != "" && (c.Script != "" || c.Demo) {
		errs = append(errs, errors.New("--locust-classes goes without --script and --demo: with a script, its classes are the run's; name them like the locustfile's"))
	}
	if _, err := parseLocustClasses(c.LocustClasses); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// parseLocustClasses reads "Name=weight,Name=weight"; a bare name weighs 1.
func parseLocustClasses(s string) ([]*userbehavior.Class, error) {
	var out []*userbehavior.Class
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, hasWeight := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		weight := 1
		if hasWeight {
			n, err := strconv.Atoi(strings.TrimSpace(w))
			if err != nil || n < 1 || n > math.MaxInt32 {
				return nil, fmt.Errorf("--locust-classes %q: weight of %q must be a whole number >= 1", s, name)
			}
			weight = n
		}
		if name == "" || seen[name] {
			return nil, fmt.Errorf("--locust-classes %q: want distinct names, Name=weight separated by commas", s)
		}
		seen[name] = true
		out = append(out, &userbehavior.Class{Name: name, Weight: weight})
	}
	return out, nil
}

// locustClasses returns the run's classes: the Locust ones when given.
func (c *Config) locustClasses(classes []*userbehavior.Class) ([]*userbehavior.Class, error) {
	if c.LocustClasses == "" {
		return classes, nil
	}
	return parseLocustClasses(c.LocustClasses)
}

// withLocust opens the Locust port when asked for and returns the Cluster the
// controller talks to: the gRPC server alone, or it and the Locust server merged.
func (m *master) withLocust(cfg Config, log *slog.Logger, srv *cluster.Server, stdout io.Writer) (controller.Cluster, error) {
	if cfg.LocustListen == "" {
		return srv, nil
	}
	ln, err := net.Listen("tcp", cfg.LocustListen)
	if err != nil {
		return nil, fmt.Errorf("listen for Locust workers: %w", err)
	}
	ls := locust.NewServer(locust.Config{Logger: log.With("protocol", "locust"), HeartbeatTimeout: cfg.HeartbeatTimeout,
		MaxWorkers: cfg.MaxWorkers, StopTimeout: cfg.StopTimeout})
	// Close comes after the controller's last quit: it lets the quit reach the workers.
	m.life.Add(lifecycle.Component{Name: "locust listener", Stage: stageLocust,
		Run:  func() error { return ls.Serve(ln) },
		Stop: func() { ls.Close(); ln.Close() }})
	ctx, stop := context.WithCancel(context.Background())
	merged := cluster.Merge(ctx, srv, ls)
	run, stopped := lifecycle.UntilStopped()
	m.life.Add(lifecycle.Component{Name: "locust events", Stage: stageLocust, Run: run,
		Stop: func() { stop(); merged.Wait(); stopped() }})
	fmt.Fprintf(stdout, "master listening for Locust and boomer workers on %s (ZeroMQ, no authentication); their response times are %s (about 2 significant digits)\n",
		ln.Addr(), report.RoundedNote)
	return merged, nil
}
