package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"
)

// --- grpc: the plain gRPC user against ghz, one generator core each ------------------
//
// The in-repository gRPC target (examples/grpc/server) runs pinned to one core; ghz
// and then Stampede's plain gRPC user (master --headless --grpc-method, its local
// worker in the same process) run pinned to the other, in turn, each with 50
// concurrent callers on 50 connections calling grpc.health.v1.Health/Check. ghz is
// built into bin/bench-tools with `go install github.com/bojand/ghz/cmd/ghz@v0.93.0`:
// a benchmark tool only, never a dependency of the binaries.

const (
	ghzVersion   = "v0.93.0"
	grpcCallers  = 50
	grpcBenchRPC = "grpc.health.v1.Health/Check"
)

func grpcRows(ctx context.Context, cfg tableConfig, tmp string, log io.Writer) ([]row, error) {
	genCPU, targetCPU := envOr("BENCH_GEN_CPU", "0"), envOr("BENCH_TARGET_CPU", "1")
	pin := runtime.NumCPU() >= 2
	master, err := filepath.Abs("bin/master")
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(master); err != nil {
		return nil, fmt.Errorf("bin/master: run 'make build' first: %w", err)
	}
	// A smoke (make test) does not build ghz (minutes, and the network): it runs
	// Stampede's side alone unless ghz is already there.
	ghz, err := installGhz(ctx, log, cfg.smoke)
	if err != nil {
		return nil, err
	}
	target := filepath.Join(tmp, "grpc-target")
	if err := goCmd(ctx, log, nil, "build", "-o", target, "./examples/grpc/server"); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	tctx, stop := context.WithCancel(ctx)
	defer stop()
	tcmd := pinned(tctx, pin, targetCPU, target, "-addr", addr)
	tcmd.Stdout, tcmd.Stderr = log, log
	if err := tcmd.Start(); err != nil {
		return nil, err
	}
	defer func() { stop(); _ = tcmd.Wait() }()
	if err := waitListening(addr, 30*time.Second); err != nil {
		return nil, err
	}
	dur, err := time.ParseDuration(cfg.genDuration)
	if err != nil {
		return nil, fmt.Errorf("-gen-duration: %w", err)
	}
	var ghzRPS, ghzEff, stRPS, stEff []float64
	for i := range cfg.repeats {
		fmt.Fprintf(log, "grpc run %d/%d: ghz, then stampede, %v each, generator on core %s\n", i+1, cfg.repeats, dur, genCPU)
		if ghz != "" {
			rps, eff, err := runGhz(ctx, pin, genCPU, ghz, addr, dur, log)
			if err != nil {
				return nil, err
			}
			ghzRPS, ghzEff = append(ghzRPS, rps), append(ghzEff, eff)
		}
		rps, eff, err := runStampedeGRPC(ctx, pin, genCPU, master, addr, dur, filepath.Join(tmp, fmt.Sprintf("grpc-%d", i)), log)
		if err != nil {
			return nil, err
		}
		stRPS, stEff = append(stRPS, rps), append(stEff, eff)
	}
	note := fmt.Sprintf("%d callers on %d connections, unary %s against examples/grpc/server", grpcCallers, grpcCallers, grpcBenchRPC)
	if !pin {
		note += "; one core: generator and target not pinned apart"
	}
	if ghz == "" {
		return []row{
			{name: "grpc: stampede plain gRPC user (unary)", unit: "calls/s", values: stRPS, ratio: nan, note: note + "; ghz not built in a smoke"},
			{name: "grpc: stampede plain gRPC user (per CPU-s)", unit: "calls/CPU-s", values: stEff, ratio: nan},
		}, nil
	}
	return []row{
		{name: "grpc: ghz " + ghzVersion + " (unary)", unit: "calls/s", values: ghzRPS, ratio: 1, ref: "itself", note: note},
		{name: "grpc: stampede plain gRPC user (unary)", unit: "calls/s", values: stRPS,
			ref: "ghz, same core, median", ratio: medianOf(stRPS) / medianOf(ghzRPS), target: ">= 1.0 x ghz"},
		{name: "grpc: ghz (per CPU-s)", unit: "calls/CPU-s", values: ghzEff, ratio: 1, ref: "itself"},
		{name: "grpc: stampede plain gRPC user (per CPU-s)", unit: "calls/CPU-s", values: stEff,
			ref: "ghz calls/CPU-s, median", ratio: medianOf(stEff) / medianOf(ghzEff), target: ">= 1.0 x ghz"},
	}, nil
}

// installGhz builds ghz into bin/bench-tools once; with onlyIfThere it returns ""
// instead of building it.
func installGhz(ctx context.Context, log io.Writer, onlyIfThere bool) (string, error) {
	dir, err := filepath.Abs(filepath.Join("bin", "bench-tools"))
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "ghz")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if onlyIfThere {
		return "", nil
	}
	fmt.Fprintf(log, "installing ghz %s into %s\n", ghzVersion, dir)
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/bojand/ghz/cmd/ghz@"+ghzVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=") // its own module, not this one's
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go install ghz@%s: %w", ghzVersion, err)
	}
	return bin, nil
}

func pinned(ctx context.Context, pin bool, cpu, name string, args ...string) *exec.Cmd {
	if !pin {
		return exec.CommandContext(ctx, name, args...)
	}
	return exec.CommandContext(ctx, "taskset", append([]string{"-c", cpu, name}, args...)...)
}

func waitListening(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("target %s never listened: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cpuSeconds is the CPU a finished command used, user and system.
func cpuSeconds(cmd *exec.Cmd) float64 {
	if cmd.ProcessState == nil {
		return 0
	}
	return (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
}

func runGhz(ctx context.Context, pin bool, cpu, ghz, addr string, dur time.Duration, log io.Writer) (rps, perCPU float64, err error) {
	cmd := pinned(ctx, pin, cpu, ghz, "--insecure", "--call", grpcBenchRPC, "-d", `{"service":""}`,
		"-c", strconv.Itoa(grpcCallers), "--connections", strconv.Itoa(grpcCallers), "--cpus", "1",
		"-z", dur.String(), "-O", "json", addr)
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, log
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("ghz: %w", err)
	}
	var res struct {
		Count        uint64             `json:"count"`
		RPS          float64            `json:"rps"`
		StatusCodes  map[string]float64 `json:"statusCodeDistribution"`
		ErrorsByType map[string]float64 `json:"errorDistribution"`
	}
	if err := json.Unmarshal(out.b, &res); err != nil {
		return 0, 0, fmt.Errorf("ghz output: %w", err)
	}
	if len(res.ErrorsByType) > 0 {
		fmt.Fprintf(log, "ghz errors: %v\n", res.ErrorsByType)
	}
	fmt.Fprintf(log, "ghz: %d calls, %.0f calls/s, %.2f CPU-s\n", res.Count, res.RPS, cpuSeconds(cmd))
	cpuS := cpuSeconds(cmd)
	if cpuS == 0 || res.Count == 0 {
		return 0, 0, errors.New("ghz made no calls")
	}
	return res.RPS, float64(res.Count) / cpuS, nil
}

func runStampedeGRPC(ctx context.Context, pin bool, cpu, master, addr string, dur time.Duration, dir string, log io.Writer) (rps, perCPU float64, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	summary := filepath.Join(dir, "summary.json")
	cmd := pinned(ctx, pin, cpu, master, "--headless", "-H", "grpc://"+addr, "--grpc-method", grpcBenchRPC,
		"--body", `{"service":""}`, "-u", strconv.Itoa(grpcCallers), "-r", "1000", "-t", dur.String(),
		"--listen", "127.0.0.1:0", "--db", filepath.Join(dir, "runs.db"), "--json", summary, "--exit-code-on-error", "0")
	cmd.Stdout, cmd.Stderr = io.Discard, log
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("master --grpc-method: %w", err)
	}
	raw, err := os.ReadFile(summary)
	if err != nil {
		return 0, 0, err
	}
	var s struct {
		DurationS float64 `json:"duration_s"`
		Total     struct {
			Requests uint64 `json:"requests"`
			Failures uint64 `json:"failures"`
		} `json:"total"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, 0, err
	}
	cpuS := cpuSeconds(cmd)
	fmt.Fprintf(log, "stampede: %d calls (%d failed) in %.1f s, %.2f CPU-s\n", s.Total.Requests, s.Total.Failures, s.DurationS, cpuS)
	if s.Total.Requests == 0 || s.DurationS == 0 || cpuS == 0 {
		return 0, 0, errors.New("stampede made no calls")
	}
	return float64(s.Total.Requests) / s.DurationS, float64(s.Total.Requests) / cpuS, nil
}

func envOr(name, dflt string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return dflt
}

// limitedBuffer keeps what a tool prints, up to 16 MiB.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if len(l.b)+len(p) <= 16<<20 {
		l.b = append(l.b, p...)
	}
	return len(p), nil
}
