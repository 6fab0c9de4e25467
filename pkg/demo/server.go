package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// ShutdownGrace is how long in-flight requests may finish when the context given to
// Start ends.
const ShutdownGrace = 2 * time.Second

// Start listens on addr ("127.0.0.1:0" picks a free loopback port) and serves the
// target in the background. It returns once the listener is open, with the base URL
// to send requests to ("http://127.0.0.1:41234") and the function that stops it.
//
// The server stops when ctx ends (in-flight requests get ShutdownGrace to finish) or
// when stop is called. stop(sctx) stops accepting, lets in-flight requests finish
// until sctx ends, then aborts what is left (their delays end at once and their
// connections are closed), and waits for the server's goroutines to exit. The owner
// must call stop exactly as it would call Close, also after ctx has ended; calling it
// again returns the first result. Its error reports a graceful shutdown cut short by
// sctx and any error of the server itself.
func (t *Target) Start(ctx context.Context, addr string) (baseURL string, stop func(context.Context) error, err error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("demo target: listen on %s: %w", addr, err)
	}
	// Requests get a context of their own, cancelled when a shutdown gives up on
	// them: http.Server.Shutdown alone never cancels a request in flight.
	reqCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	srv := &http.Server{
		Handler:           t,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
		ErrorLog:          slog.NewLogLogger(t.logger.Handler(), slog.LevelWarn),
	}

	served := make(chan struct{}) // closed when Serve has returned
	var serveErr error
	go func() {
		defer close(served)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			serveErr = fmt.Errorf("demo target: serve: %w", err)
		}
	}()

	var (
		mu      sync.Mutex
		stopped bool
		stopErr error
	)
	shutdown := func(sctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return stopErr
		}
		stopped = true
		var errs []error
		if err := srv.Shutdown(sctx); err != nil {
			abort()
			errs = append(errs, fmt.Errorf("demo target: graceful shutdown: %w", err))
			if err := srv.Close(); err != nil {
				errs = append(errs, fmt.Errorf("demo target: close: %w", err))
			}
		}
		abort()
		<-served
		stopErr = errors.Join(append(errs, serveErr)...)
		return stopErr
	}

	watched := make(chan struct{}) // closed when the watcher below has returned
	go func() {
		defer close(watched)
		select {
		case <-ctx.Done():
			gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownGrace)
			defer cancel()
			_ = shutdown(gctx) // kept and returned by the owner's stop
		case <-served: // stopped by the owner, or Serve failed on its own
		}
	}()

	stop = func(sctx context.Context) error {
		err := shutdown(sctx)
		<-watched
		return err
	}
	return "http://" + ln.Addr().String(), stop, nil
}
