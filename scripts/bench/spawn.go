package main

// Spawn accuracy: a real master (cluster.Server over gRPC on 127.0.0.1, controller,
// store) and real in-process worker agents ramp users against a loopback target.
// Every user's first task notes the moment it started; after the run the global
// count of started users at each whole second since the run began is compared with
// the line rate × t (capped at the target). Users wait 10 minutes after their first
// request, so the count only grows during the run.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/stampede-load/stampede/pkg/agent"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/controller"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/store"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

type spawnConfig struct {
	users, workers int
	rate           float64
}

// spawnFigures is one ramp.
type spawnFigures struct {
	Seconds      []int     // 1, 2, ... whole seconds since the run began
	Counts       []int     // users started by then, cluster-wide
	Ideal        []float64 // rate × t, capped at the target
	WorstPct     float64   // largest |count - ideal| / ideal, percent
	WorstAt      int       // at that second
	FirstMs      float64   // from the run's start to its first user
	LastS        float64   // from the run's start to its last user
	Started      int       // users that started in all
	WorkerCounts []int     // per worker
}

func spawnCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("spawn", flag.ContinueOnError)
	var cfg spawnConfig
	fs.IntVar(&cfg.users, "users", 10000, "users to ramp to, cluster-wide")
	fs.Float64Var(&cfg.rate, "rate", 500, "spawn rate, users per second, cluster-wide")
	fs.IntVar(&cfg.workers, "workers", 4, "in-process worker agents")
	smoke := fs.Bool("smoke", false, "a quick check that the benchmark works: 200 users at 200/s over 2 workers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *smoke {
		cfg = spawnConfig{users: 200, rate: 200, workers: 2}
	}
	if cfg.users < 1 || cfg.rate <= 0 || cfg.workers < 1 {
		return errors.New("want -users >= 1, -rate > 0, -workers >= 1")
	}
	f, err := measureSpawn(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	printSpawn(stdout, cfg, f)
	return nil
}

func measureSpawn(ctx context.Context, cfg spawnConfig, progress io.Writer) (spawnFigures, error) {
	var f spawnFigures
	ramp := time.Duration(float64(cfg.users) / cfg.rate * float64(time.Second))
	ctx, cancel := context.WithTimeout(ctx, ramp+2*time.Minute)
	defer cancel()

	// The target: every request gets "ok".
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return f, err
	}
	target := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })}
	go target.Serve(tl)
	defer target.Close()

	dir, err := os.MkdirTemp("", "bench-spawn-")
	if err != nil {
		return f, err
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(filepath.Join(dir, "runs.db"), store.Options{})
	if err != nil {
		return f, err
	}
	defer db.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return f, err
	}
	srv := cluster.NewServer(cluster.ServerConfig{})
	defer serveCluster(srv, grpc.NewServer(), lis)()

	// Each worker notes when its users start their first task.
	starts := make([][]time.Time, cfg.workers)
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	wctx, stopWorkers := context.WithCancel(gctx)
	defer stopWorkers()
	for i := range cfg.workers {
		seen := map[int]bool{}
		first := func(ctx context.Context, u *userbehavior.User) error {
			mu.Lock()
			if !seen[u.ID] {
				seen[u.ID] = true
				starts[i] = append(starts[i], time.Now())
			}
			mu.Unlock()
			u.HTTP.Get(ctx, "/")
			return nil
		}
		builtins := userbehavior.Builtins{"ramp": func() []*userbehavior.Class {
			return []*userbehavior.Class{{Name: "Idle", Weight: 1,
				Wait:  userbehavior.Wait{Kind: userbehavior.WaitConstant, Min: 10 * time.Minute},
				Tasks: []userbehavior.Task{{Name: "first", Weight: 1, Fn: first}}}}
		}}
		g.Go(func() error {
			return agent.Run(wctx, agent.Config{Master: lis.Addr().String(), Info: cluster.WorkerInfo{ID: fmt.Sprintf("w%d", i)}, Builtins: builtins})
		})
	}
	fmt.Fprintf(progress, "spawn accuracy: %d users at %g/s over %d in-process workers (ramp %v)\n", cfg.users, cfg.rate, cfg.workers, ramp)
	ctl := controller.New(srv, db, controller.Options{})
	res, err := ctl.Run(ctx, controller.Config{
		Scenario:      userbehavior.Scenario{Builtin: "ramp", Host: "http://" + tl.Addr().String()},
		Classes:       []scheduler.Class{{Name: "Idle", Weight: 1}},
		Users:         cfg.users,
		SpawnRate:     cfg.rate,
		RunTime:       ramp + time.Second,
		ExpectWorkers: cfg.workers,
		ExpectWait:    30 * time.Second,
		QuitWorkers:   true,
	})
	stopWorkers()
	if gerr := g.Wait(); err == nil && gerr != nil {
		err = gerr
	}
	if err != nil {
		return f, err
	}
	t0 := res.Run.StartedAt
	mu.Lock()
	var all []time.Time
	for _, s := range starts {
		all = append(all, s...)
		f.WorkerCounts = append(f.WorkerCounts, len(s))
	}
	mu.Unlock()
	slices.SortFunc(all, func(a, b time.Time) int { return a.Compare(b) })
	f.Started = len(all)
	if len(all) == 0 {
		return f, errors.New("no user started")
	}
	f.FirstMs = float64(all[0].Sub(t0)) / float64(time.Millisecond)
	f.LastS = all[len(all)-1].Sub(t0).Seconds()
	for k := 1; k <= int(math.Ceil(ramp.Seconds())); k++ {
		at := t0.Add(time.Duration(k) * time.Second)
		n, _ := slices.BinarySearchFunc(all, at, func(a, t time.Time) int {
			if a.After(t) {
				return 1
			}
			return -1
		})
		ideal := math.Min(float64(cfg.users), cfg.rate*float64(k))
		f.Seconds, f.Counts, f.Ideal = append(f.Seconds, k), append(f.Counts, n), append(f.Ideal, ideal)
		if dev := 100 * math.Abs(float64(n)-ideal) / ideal; dev >= f.WorstPct {
			f.WorstPct, f.WorstAt = dev, k
		}
	}
	return f, nil
}

func printSpawn(w io.Writer, cfg spawnConfig, f spawnFigures) {
	fmt.Fprintf(w, "\nSpawn accuracy: %d users at %g/s over %d workers; users started by each second since the run began\n", cfg.users, cfg.rate, cfg.workers)
	fmt.Fprintf(w, "  %4s %8s %8s %8s\n", "t s", "users", "ideal", "dev %")
	for i, k := range f.Seconds {
		fmt.Fprintf(w, "  %4d %8d %8.0f %+8.2f\n", k, f.Counts[i], f.Ideal[i], 100*(float64(f.Counts[i])-f.Ideal[i])/f.Ideal[i])
	}
	verdict := "ok"
	if f.WorstPct > 2 {
		verdict = "NOT MET"
	}
	fmt.Fprintf(w, "  worst deviation %.2f %% at t=%d s (target within 2 %%: %s); first user %.1f ms after the start, last %.2f s (ideal %.2f s); %d users started, per worker %v\n",
		f.WorstPct, f.WorstAt, verdict, f.FirstMs, f.LastS, float64(cfg.users)/cfg.rate, f.Started, f.WorkerCounts)
}
