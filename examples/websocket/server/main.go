// Command server runs the in-repository WebSocket target (package chat) for the
// examples and the quick start:
//
//	go run ./examples/websocket/server -addr 127.0.0.1:8765
//
// On Ctrl-C it prints the sockets it accepted and the messages it got and sent.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"

	"github.com/stampede-load/stampede/examples/websocket/chat"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8765", "address to listen on")
	flag.Parse()
	s := chat.New()
	srv := &http.Server{Addr: *addr, Handler: s}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	fmt.Printf("WebSocket target on ws://%s/echo and /chat\n", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	fmt.Printf("sockets %d, messages received %d, sent %d\n", s.Accepted(), s.Received(), s.Sent())
}
