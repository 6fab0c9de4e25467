package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"

	"github.com/spf13/pflag"

	"github.com/stampede-load/stampede/cmd/internal/lifecycle"
)

// registerPprof adds --pprof-listen: Go's profiles of the master (heap, CPU,
// goroutines) for finding where a long run's memory or time goes.
func registerPprof(fs *pflag.FlagSet, addr *string) {
	fs.StringVar(addr, "pprof-listen", *addr, "serve Go's pprof profiles of the master here (loopback only), e.g. 127.0.0.1:6060")
}

// checkPprof refuses a profile listener beyond loopback: profiles show the run.
func checkPprof(addr string) error {
	if addr == "" {
		return nil
	}
	local, err := loopback(addr)
	if err != nil {
		return fmt.Errorf("--pprof-listen %w", err)
	}
	if !local {
		return errors.New("--pprof-listen must be a loopback address such as 127.0.0.1:6060")
	}
	return nil
}

// addPprof listens for the profiles and adds the server that serves them until the
// master stops.
func addPprof(g *lifecycle.Group, addr string, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof-listen: %w", err)
	}
	// Sample an allocation every 16 KiB rather than 512 KiB: a long run's memory
	// grows by a few kilobytes a second, which the default rate cannot place. What
	// was allocated before this line was sampled at the default rate, so read the
	// growth between two profiles (go tool pprof -base), not one profile alone.
	runtime.MemProfileRate = 16 << 10
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	g.Add(lifecycle.Component{Name: "pprof listener", Stage: stageLast,
		Run: func() error {
			if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
		Stop: func() {
			srv.Close() // a profile being taken is cut short
			lis.Close() // when Serve never took it
		}})
	return nil
}
