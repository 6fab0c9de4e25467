// Command usermem measures the memory an idle user costs a worker: the RSS slope per
// user between 1,000 and 20,000 users (issue 3: <= 6 KiB per idle scripted user;
// issue 10: <= 4 KiB).
//
// It starts a loopback HTTP target in its own process, then, for each class (a
// scripted one and the same behaviour in Go), a fresh child process (the generator,
// measured alone) that spawns users step by step (1,000, 5,000, 10,000, 20,000 by default). Every user runs one
// task, GET / (body read), and waits between(1 s, 2 s) (-wait-min, -wait-max). At each step the child waits
// until every user has made its first request, lets them run one more think time,
// forces a GC that returns freed memory to the OS (debug.FreeOSMemory), and reads RSS
// (/proc/self/statm) and the runtime's own accounting (runtime/metrics). It prints
// one line per step (and an RSS_AT line for programs) and the slopes; the parent
// prints a summary.
//
//	go run ./scripts/usermem                  # both classes, one child each
//	go run ./scripts/usermem -repeat 3        # three children per class: min/median/max
//	go run ./scripts/usermem -class script -heapprofile /tmp/heap.pprof
//
// Run with -class alone, the child starts the target in its own process, which then
// counts in its RSS. The generator's transport caps connections at -conns. Users are
// spawned at -rate per second; the target sees about N/1.5 s requests per second once
// all run.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/userbehavior"
	"github.com/stampede-load/stampede/pkg/userbehavior/script"
)

const scriptSrc = `
def home(u):
    u.http.get("/")

Idle = user(tasks=[home], wait=between(1, 2))
`

// wsSrc is the scripted user with an open WebSocket (class ws): its first task
// connects, and each task sends a message on the socket and waits for its echo.
const wsSrc = `
def echo(u):
    u.ws.connect("/ws").request("x", timeout=30)

Idle = user(tasks=[echo], wait=between(1, 2))
`

// grpcSrc is the scripted user with an open gRPC connection (class grpc): its first
// task connects, and each task makes one unary call on it.
const grpcSrc = `
def check_health(u):
    u.grpc.connect(env("GRPC")).invoke("grpc.health.v1.Health/Check", {"service": ""}, timeout=30)

Idle = user(tasks=[check_health], wait=between(1, 2))
`

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "usermem:", err)
		os.Exit(1)
	}
}

type config struct {
	class       string // script, go or both
	steps       []int
	rate        int // users spawned per second
	conns       int // connections to the target at most
	repeat      int
	heapProfile string
	target      string // base URL of the target; empty: start one in this process
	grpcTarget  string // host:port of its gRPC health service (class grpc)
	waitMin     time.Duration
	waitMax     time.Duration
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("usermem", flag.ContinueOnError)
	var cfg config
	var steps string
	fs.StringVar(&cfg.class, "class", "both", "script, go, ws, grpc or grpc-shared (a scripted user holding an open WebSocket or gRPC connection, its own or the worker's shared one), or both (script and go: one child process per class and repeat)")
	fs.StringVar(&steps, "users", "1000,5000,10000,20000", "user counts to measure at, ascending")
	fs.IntVar(&cfg.rate, "rate", 4000, "users spawned per second")
	fs.IntVar(&cfg.conns, "conns", 256, "connections to the target at most")
	fs.IntVar(&cfg.repeat, "repeat", 1, "children per class (with -class both)")
	fs.StringVar(&cfg.target, "target", "", "base URL of a running target (default: one in this process)")
	fs.StringVar(&cfg.grpcTarget, "grpc-target", "", "host:port of a running gRPC health service, for -class grpc (default: one beside the target)")
	fs.DurationVar(&cfg.waitMin, "wait-min", time.Second, "think time between a user's tasks: at least")
	fs.DurationVar(&cfg.waitMax, "wait-max", 2*time.Second, "think time: at most")
	fs.StringVar(&cfg.heapProfile, "heapprofile", "", "write a heap profile at the last step to this file (and the goroutines to FILE.goroutines)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, s := range strings.Split(steps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || (len(cfg.steps) > 0 && n <= cfg.steps[len(cfg.steps)-1]) {
			return fmt.Errorf("-users %q: want ascending positive counts", steps)
		}
		cfg.steps = append(cfg.steps, n)
	}
	if len(cfg.steps) < 2 {
		return errors.New("-users: want at least two counts")
	}
	if cfg.waitMin <= 0 || cfg.waitMax < cfg.waitMin {
		return errors.New("want 0 < -wait-min <= -wait-max")
	}
	if cfg.heapProfile != "" {
		runtime.MemProfileRate = 4096 // fine enough to see a few hundred bytes per user
	}
	switch cfg.class {
	case "both":
		return parent(cfg, args, []string{"script", "go"}, stdout)
	case "ws", "grpc", "grpc-shared":
		if cfg.target == "" { // the target's sockets must not count in the generator's RSS
			return parent(cfg, args, []string{cfg.class}, stdout)
		}
		_, err := measure(cfg, stdout)
		return err
	case "script", "go":
		_, err := measure(cfg, stdout)
		return err
	}
	return fmt.Errorf("-class %q: want script, go, ws, grpc, grpc-shared or both", cfg.class)
}

// parent runs one child per class and repeat, alternating classes, and summarises.
func parent(cfg config, args []string, classes []string, stdout io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if cfg.target == "" {
		url, grpcAddr, stop, err := serve()
		if err != nil {
			return err
		}
		defer stop()
		args = append(slices.Clone(args), "-target", url, "-grpc-target", grpcAddr)
	}
	slopes := map[string][]float64{}
	for i := range cfg.repeat {
		for _, class := range classes {
			fmt.Fprintf(stdout, "== class %s, run %d\n", class, i+1)
			cmd := exec.Command(exe, append(slices.Clone(args), "-class", class)...)
			var out strings.Builder
			cmd.Stdout = io.MultiWriter(stdout, &out)
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("child %s: %w", class, err)
			}
			for _, line := range strings.Split(out.String(), "\n") {
				if v, ok := strings.CutPrefix(line, "SLOPE "); ok {
					f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
					if err == nil {
						slopes[class] = append(slopes[class], f)
					}
				}
			}
		}
	}
	fmt.Fprintf(stdout, "\nRSS slope per idle user, %d..%d users (KiB/user; min / median / max over %d runs)\n",
		cfg.steps[0], cfg.steps[len(cfg.steps)-1], cfg.repeat)
	for _, class := range classes {
		s := slopes[class]
		if len(s) == 0 {
			continue
		}
		sort.Float64s(s)
		fmt.Fprintf(stdout, "  %-7s %.2f / %.2f / %.2f\n", class, s[0], s[len(s)/2], s[len(s)-1])
	}
	return nil
}

// sample is the memory of the process at one step.
type sample struct {
	users       int
	rss         uint64 // after FreeOSMemory
	rssBefore   uint64 // as the users left it, before the forced GC
	heapObjects uint64 // live heap objects, bytes
	stacks      uint64 // goroutine stacks, bytes
	goroutines  uint64
}

var metricNames = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/sched/goroutines:goroutines",
}

// measure spawns users of one class step by step and prints the memory at each.
func measure(cfg config, stdout io.Writer) ([]sample, error) {
	if cfg.target == "" {
		url, grpcAddr, stop, err := serve()
		if err != nil {
			return nil, err
		}
		defer stop()
		cfg.target, cfg.grpcTarget = url, grpcAddr
	}

	class, err := makeClass(cfg.class, cfg.grpcTarget, cfg.waitMin, cfg.waitMax)
	if err != nil {
		return nil, err
	}
	// Count each user's first task: a flag per user id, allocated once for the largest
	// step so it adds nothing to the slope.
	maxUsers := cfg.steps[len(cfg.steps)-1]
	first := make([]atomic.Bool, maxUsers+1)
	var started, busy, calls atomic.Int64 // users that made a request; users in a task now; tasks run
	inner := class.Tasks[0].Fn
	class.Tasks[0].Fn = func(ctx context.Context, u *userbehavior.User) error {
		if u.ID < len(first) && first[u.ID].CompareAndSwap(false, true) {
			started.Add(1)
		}
		busy.Add(1)
		calls.Add(1)
		defer busy.Add(-1)
		return inner(ctx, u)
	}

	tr := userbehavior.NewTransport(cfg.conns)
	tr.MaxConnsPerHost = cfg.conns
	defer tr.CloseIdleConnections()
	col := aggregate.NewCollector(time.Now())
	r, err := userbehavior.NewRunner(userbehavior.RunnerConfig{
		Classes: []*userbehavior.Class{class}, Host: cfg.target,
		Collector: col, Transport: tr, Timeout: 30 * time.Second,
		// A worker plans one descriptor per user (the worst case, every user in
		// flight) and refuses users past RLIMIT_NOFILE; idle users hold none, and this
		// measurement bounds its connections itself, so it measures past that limit.
		FileLimit: -1,
		HTTP:      userbehavior.HTTPConfig{MaxConnsPerHost: cfg.conns},
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The collector is swapped every second as a worker does, so its intervals do not
	// grow.
	var requests, failures atomic.Uint64
	count := func(s *aggregate.Snapshot) {
		t := s.Total()
		requests.Add(t.Requests)
		failures.Add(t.Failures)
	}
	swapped := make(chan struct{})
	go func() {
		defer close(swapped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				count(col.Swap(now))
			}
		}
	}()

	fmt.Fprintf(stdout, "class %s, GOMAXPROCS %d, %s, target %s\n", cfg.class, runtime.GOMAXPROCS(0), runtime.Version(), cfg.target)
	fmt.Fprintf(stdout, "%8s %12s %12s %12s %12s %10s %8s %8s %8s\n", "users", "RSS MiB", "RSS(noGC)", "heap MiB", "stacks MiB", "goroutines", "in task", "tasks/s", "expected")
	begin := time.Now()
	base := readMem(0)
	var samples []sample
	spawned := 0
	for _, n := range cfg.steps {
		if err := spawn(ctx, r, class.Name, n-spawned, cfg.rate); err != nil {
			return nil, err
		}
		spawned = n
		deadline := time.Now().Add(30 * time.Second)
		for started.Load() < int64(n) {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%d users spawned, only %d made a request in 30 s", n, started.Load())
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(cfg.waitMax) // one more think time: every user through a wait
		c0, t0 := calls.Load(), time.Now()
		// Three readings, each at a moment when at most 0.5 % of the users are in a
		// task; the median by RSS is kept.
		var reads []sample
		var inTask int64
		for range 3 {
			for wait := time.Now().Add(2 * time.Second); busy.Load() > int64(n/200) && time.Now().Before(wait); {
				time.Sleep(5 * time.Millisecond)
			}
			inTask = max(inTask, busy.Load())
			reads = append(reads, readMem(n))
			time.Sleep(200 * time.Millisecond)
		}
		// Every user goes on: n users waiting w on average run about n/w tasks a second.
		rate := float64(calls.Load()-c0) / time.Since(t0).Seconds()
		slices.SortFunc(reads, func(a, b sample) int { return cmp.Compare(a.rss, b.rss) })
		s := reads[1]
		samples = append(samples, s)
		expected := float64(n) / ((cfg.waitMin + cfg.waitMax).Seconds() / 2)
		fmt.Fprintf(stdout, "%8d %12.1f %12.1f %12.1f %12.1f %10d %8d %8.0f %8.0f\n", n, mib(s.rss), mib(s.rssBefore),
			mib(s.heapObjects), mib(s.stacks), s.goroutines, inTask, rate, expected)
		fmt.Fprintf(stdout, "RSS_AT %d %d %.0f %.0f\n", n, s.rss, rate, expected) // machine-readable: users, bytes, tasks/s, expected
	}
	if cfg.heapProfile != "" {
		f, err := os.Create(cfg.heapProfile)
		if err != nil {
			return nil, err
		}
		err = pprof.Lookup("heap").WriteTo(f, 0)
		if err == nil {
			err = os.WriteFile(cfg.heapProfile+".goroutines", goroutines(), 0o644)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
	}
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 10*time.Second)
	r.StopAll(stopCtx)
	stopCancel()
	cancel()
	<-swapped
	count(col.Swap(time.Now()))
	lo, hi := samples[0], samples[len(samples)-1]
	du := float64(hi.users - lo.users)
	perUser := func(a, b uint64) float64 { return (float64(b) - float64(a)) / du / 1024 }
	fmt.Fprintf(stdout, "baseline RSS %.1f MiB; %.1f s; %d requests, %d failures\n",
		mib(base.rss), time.Since(begin).Seconds(), requests.Load(), failures.Load())
	fmt.Fprintf(stdout, "per user, %d..%d users (KiB): RSS %.2f (fit %.2f), RSS without forced GC %.2f, heap objects %.2f, stacks %.2f\n",
		lo.users, hi.users, perUser(lo.rss, hi.rss), fit(samples), perUser(lo.rssBefore, hi.rssBefore),
		perUser(lo.heapObjects, hi.heapObjects), perUser(lo.stacks, hi.stacks))
	fmt.Fprintf(stdout, "SLOPE %.3f\n", perUser(lo.rss, hi.rss))
	return samples, nil
}

// serve starts the target on loopback: every request gets "ok".
func serve() (url, grpcAddr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", nil, err
	}
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", nil, err
	}
	gs := grpc.NewServer() // grpc-go's health service, for class grpc
	healthpb.RegisterHealthServer(gs, health.NewServer())
	reflection.Register(gs) // the script finds the health service's types here
	go gs.Serve(gln)
	body := []byte("ok")
	var up websocket.Upgrader
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ws" {
			w.Write(body)
			return
		}
		c, err := up.Upgrade(w, r, nil) // an echo socket, for class ws
		if err != nil {
			return
		}
		defer c.Close()
		for {
			kind, msg, err := c.ReadMessage()
			if err != nil || c.WriteMessage(kind, msg) != nil {
				return
			}
		}
	})}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), gln.Addr().String(), func() { srv.Close(); gs.Stop() }, nil
}

// makeClass is the scripted class or the same behaviour in Go.
func makeClass(kind, grpcTarget string, waitMin, waitMax time.Duration) (*userbehavior.Class, error) {
	if kind == "go" {
		c := &userbehavior.Class{Name: "Idle", Weight: 1,
			Wait: userbehavior.Wait{Kind: userbehavior.WaitBetween, Min: waitMin, Max: waitMax},
			Tasks: []userbehavior.Task{{Name: "home", Weight: 1, Fn: func(ctx context.Context, u *userbehavior.User) error {
				u.HTTP.Get(ctx, "/")
				return nil
			}}}}
		return c, c.Validate()
	}
	src := scriptSrc
	switch kind {
	case "ws":
		src = wsSrc
	case "grpc":
		src = grpcSrc
	case "grpc-shared":
		src = strings.Replace(grpcSrc, `connect(env("GRPC"))`, `connect(env("GRPC"), shared=True)`, 1)
	}
	src = strings.Replace(src, "between(1, 2)", fmt.Sprintf("between(%g, %g)", waitMin.Seconds(), waitMax.Seconds()), 1)
	p, err := script.Compile(script.Bundle{Main: "main.star", Files: map[string][]byte{"main.star": []byte(src)}}, script.Options{Vars: map[string]string{"GRPC": grpcTarget}})
	if err != nil {
		return nil, err
	}
	c := *p.Classes()[0] // a copy: its task is wrapped
	c.Tasks = slices.Clone(c.Tasks)
	return &c, nil
}

// spawn starts n users of class at rate per second, in ticks of 10 ms.
func spawn(ctx context.Context, r *userbehavior.Runner, class string, n, rate int) error {
	perTick := max(1, rate/100)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for n > 0 {
		for range min(n, perTick) {
			if err := r.Spawn(ctx, class); err != nil {
				return err
			}
			n--
		}
		<-t.C
	}
	return nil
}

// readMem reads the process's memory after freeing what the GC can.
func readMem(users int) sample {
	s := sample{users: users, rssBefore: rss()}
	runtime.GC()
	debug.FreeOSMemory() // a second GC (stacks shrink at each) and the scavenger
	s.rss = rss()
	ms := make([]metrics.Sample, len(metricNames))
	for i, n := range metricNames {
		ms[i].Name = n
	}
	metrics.Read(ms)
	s.heapObjects = ms[0].Value.Uint64()
	s.stacks = ms[1].Value.Uint64()
	s.goroutines = ms[2].Value.Uint64()
	return s
}

// rss is the resident set size from /proc/self/statm.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// fit is the least-squares slope of RSS over users, KiB per user.
func fit(s []sample) float64 {
	var sx, sy, sxx, sxy float64
	for _, p := range s {
		x, y := float64(p.users), float64(p.rss)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n := float64(len(s))
	return (n*sxy - sx*sy) / (n*sxx - sx*sx) / 1024
}

// goroutines is the goroutine profile, grouped by stack.
func goroutines() []byte {
	var b strings.Builder
	pprof.Lookup("goroutine").WriteTo(&b, 1)
	return []byte(b.String())
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
