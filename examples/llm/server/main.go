// Command server runs the mock OpenAI-compatible model server of package
// pkg/demo/llm on loopback, for trying examples/llm by hand:
//
//	go run ./examples/llm/server -addr 127.0.0.1:8000 -ttft 50ms -token-delay 10ms
//	master --headless -f examples/llm/main.star -H http://127.0.0.1:8000 -u 8 -t 30s
//
// With -log FILE it writes its ground truth, one JSON line per request, when it
// stops (Ctrl-C).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/stampede-load/stampede/pkg/demo/llm"
)

func main() {
	var cfg llm.Config
	addr := flag.String("addr", "127.0.0.1:8000", "listen address (loopback)")
	logFile := flag.String("log", "", "write the server's per-request ground truth here (JSON lines) on exit")
	flag.DurationVar(&cfg.TTFT, "ttft", 50*time.Millisecond, "time to first token")
	flag.DurationVar(&cfg.TokenDelay, "token-delay", 10*time.Millisecond, "delay per output token")
	flag.IntVar(&cfg.TokensPerChunk, "tokens-per-chunk", 1, "tokens per streamed chunk")
	flag.Float64Var(&cfg.Jitter, "jitter", 0.1, "each delay times 1 ± jitter")
	flag.IntVar(&cfg.MaxConcurrency, "max-concurrency", 0, "requests generated at once; more queue (0: no limit)")
	flag.IntVar(&cfg.MaxTokens, "max-tokens", 64, "output tokens when a request names none")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	srv := llm.New(cfg)
	base, wait, err := srv.Start(ctx, *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	fmt.Println("serving", base, "(Ctrl-C stops)")
	<-ctx.Done()
	wait()
	if *logFile != "" {
		f, err := os.Create(*logFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "server:", err)
			os.Exit(1)
		}
		enc := json.NewEncoder(f)
		for _, r := range srv.Log() {
			enc.Encode(r)
		}
		f.Close()
	}
}
