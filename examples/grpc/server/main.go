// Command server runs the in-repository gRPC target (package service) for the
// examples and the quick start:
//
//	go run ./examples/grpc/server -addr 127.0.0.1:50051
//
// On Ctrl-C it prints the calls it served, by method and status code.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"

	"github.com/stampede-load/stampede/examples/grpc/service"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "address to listen on")
	refl := flag.Bool("reflection", true, "serve grpc.reflection.v1 and v1alpha")
	flag.Parse()
	if err := run(*addr, *refl); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

func run(addr string, refl bool) error {
	s, err := service.New(service.Options{Reflection: refl})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		s.Stop()
	}()
	fmt.Printf("gRPC target on %s (reflection %v)\n", l.Addr(), refl)
	err = s.Serve(l)
	fmt.Println(s.Summary())
	return err
}
