package main

// Soak: the built binaries — bin/master (dashboard mode, for its /metrics) and
// bin/worker processes — run the demo user classes at a steady user count against
// the demo target, which runs in this process (so it weighs on neither). Every
// -every it records, per process, RSS and CPU (/proc/PID), goroutines (the master's
// /metrics; the workers' from their telemetry, read from the stored run at the end)
// and the run's throughput (requests in the period, from /api/live). Then it says,
// for each series, whether it stayed within 5 % of its median after the warm-up.

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stampede-load/stampede/pkg/demo"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/store"
	"github.com/stampede-load/stampede/pkg/telemetry"
)

type soakConfig struct {
	duration, every, warmup time.Duration
	users, workers          int
	rate                    float64
	bin, csv, profile       string
}

func soakCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	var cfg soakConfig
	fs.DurationVar(&cfg.duration, "duration", 30*time.Minute, "length of the steady run")
	fs.DurationVar(&cfg.every, "every", time.Minute, "sampling period")
	fs.DurationVar(&cfg.warmup, "warmup", 0, "leave this much out of the flatness check (default: a sixth of -duration, at least one period)")
	fs.IntVar(&cfg.users, "users", 200, "demo users, cluster-wide")
	fs.Float64Var(&cfg.rate, "rate", 50, "spawn rate")
	fs.IntVar(&cfg.workers, "workers", 2, "bin/worker processes")
	fs.StringVar(&cfg.bin, "bin", "bin", "directory of the master and worker binaries")
	fs.StringVar(&cfg.csv, "csv", "soak.csv", "where the per-period figures go")
	fs.StringVar(&cfg.profile, "profile", "", "save the master's heap profile (pprof) here every period, heap-001.pb.gz on")
	smoke := fs.Bool("smoke", false, "a quick check that the soak works: 3 s sampled every second")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *smoke {
		cfg.duration, cfg.every, cfg.users, cfg.rate = 3*time.Second, time.Second, 20, 20
	}
	if cfg.warmup == 0 {
		cfg.warmup = max(cfg.every, (cfg.duration / 6).Truncate(cfg.every))
	}
	if cfg.every <= 0 || cfg.duration < cfg.every || cfg.users < 1 || cfg.workers < 1 {
		return errors.New("want -duration >= -every > 0, -users >= 1, -workers >= 1")
	}
	return soak(ctx, cfg, stdout)
}

// proc is one process of the soak.
type proc struct {
	name  string
	cmd   *exec.Cmd
	ticks uint64 // CPU ticks at the last reading
}

// soakRow is one period.
type soakRow struct {
	Minute      float64
	Requests    uint64 // in the period
	RPS         float64
	RSSMiB      []float64 // per process: master, then workers
	AnonMiB     []float64 // the anonymous part of RSSMiB
	CPUPct      []float64 // per process, percent of one core over the period
	Goroutines  []float64 // per process (workers: mean of their telemetry in the period)
	MasterHeap  float64   // the master's Go heap goal, MiB
	MasterState string
}

func soak(ctx context.Context, cfg soakConfig, stdout io.Writer) error {
	master, worker := filepath.Join(cfg.bin, "master"), filepath.Join(cfg.bin, "worker")
	for _, b := range []string{master, worker} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("%s: %w (run make build)", b, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.duration+3*time.Minute)
	defer cancel()
	target := demo.NewTarget(demo.TargetConfig{})
	base, stopTarget, err := target.Start(ctx, "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer stopTarget(context.Background())
	dir, err := os.MkdirTemp("", "bench-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dbPath := filepath.Join(dir, "soak.db")

	m := &proc{name: "master", cmd: exec.Command(master, "--demo", "--host", base, "--local-workers", "0",
		"--expect-workers", fmt.Sprint(cfg.workers), "-u", fmt.Sprint(cfg.users), "-r", fmt.Sprint(cfg.rate),
		"--listen", "127.0.0.1:0", "--web-listen", "127.0.0.1:0", "--db", dbPath, "--log-level", "warn")}
	var pprofAddr string
	if cfg.profile != "" {
		if err := os.MkdirAll(cfg.profile, 0o755); err != nil {
			return err
		}
		if pprofAddr, err = freeLoopbackAddr(); err != nil {
			return err
		}
		m.cmd.Args = append(m.cmd.Args, "--pprof-listen", pprofAddr)
	}
	m.cmd.Stderr = os.Stderr
	out, err := m.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := m.cmd.Start(); err != nil {
		return err
	}
	procs := []*proc{m}
	defer func() {
		for _, p := range procs {
			if p.cmd.ProcessState == nil {
				p.cmd.Process.Kill()
				p.cmd.Wait()
			}
		}
	}()
	// "dashboard on http://ADDR  (workers connect to ADDR; Ctrl-C to quit)"
	re := regexp.MustCompile(`dashboard on (http://\S+)\s+\(workers connect to (\S+);`)
	lines := bufio.NewScanner(out)
	var web, grpcAddr string
	for lines.Scan() {
		if mm := re.FindStringSubmatch(lines.Text()); mm != nil {
			web, grpcAddr = mm[1], mm[2]
			break
		}
	}
	if web == "" {
		return errors.New("the master did not say where it listens")
	}
	go io.Copy(io.Discard, out)
	for i := range cfg.workers {
		w := &proc{name: fmt.Sprintf("worker%d", i+1), cmd: exec.Command(worker, "--master", grpcAddr, "--id", fmt.Sprintf("soak-%d", i+1), "--log-level", "warn")}
		w.cmd.Stderr = os.Stderr
		if err := w.cmd.Start(); err != nil {
			return err
		}
		procs = append(procs, w)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	for {
		var l report.Live
		if err := getJSON(ctx, hc, web+"/api/live", &l); err == nil && len(l.Workers) >= cfg.workers {
			break
		}
		select {
		case <-ctx.Done():
			return errors.New("workers did not join")
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := startRun(ctx, hc, web, cfg); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "soak: %d users (demo classes) on %d bin/worker processes for %v, sampled every %v; master %s; csv %s\n",
		cfg.users, cfg.workers, cfg.duration, cfg.every, web, cfg.csv)
	begin := time.Now()
	for _, p := range procs {
		p.ticks = procTicks(p.cmd.Process.Pid)
	}
	var rows []soakRow
	var lastRequests uint64
	tick := time.NewTicker(cfg.every)
	defer tick.Stop()
	for len(rows) < int(cfg.duration/cfg.every) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		var l report.Live
		if err := getJSON(ctx, hc, web+"/api/live", &l); err != nil {
			return err
		}
		goroutines, heap, err := masterMetrics(ctx, hc, web)
		if err != nil {
			return err
		}
		row := soakRow{Minute: time.Since(begin).Minutes(), MasterHeap: heap, MasterState: l.State}
		if cfg.profile != "" {
			if err := saveHeapProfile(ctx, hc, pprofAddr, filepath.Join(cfg.profile, fmt.Sprintf("heap-%03d.pb.gz", len(rows)+1))); err != nil {
				return err
			}
		}
		row.Requests = l.Total.Requests - lastRequests
		lastRequests = l.Total.Requests
		row.RPS = float64(row.Requests) / cfg.every.Seconds()
		for i, p := range procs {
			pid := p.cmd.Process.Pid
			t := procTicks(pid)
			row.CPUPct = append(row.CPUPct, 100*float64(t-p.ticks)/clockTicks/cfg.every.Seconds())
			p.ticks = t
			rss, anon := procRSS(pid)
			row.RSSMiB = append(row.RSSMiB, float64(rss)/(1<<20))
			row.AnonMiB = append(row.AnonMiB, float64(anon)/(1<<20))
			g := math.NaN()
			if i == 0 {
				g = goroutines
			}
			row.Goroutines = append(row.Goroutines, g)
		}
		rows = append(rows, row)
		fmt.Fprintf(stdout, "  %5.1f min  %8.0f req/s  RSS MiB %v (anonymous %v)  CPU %% %v  master goroutines %.0f  master heap goal MiB %.1f\n",
			row.Minute, row.RPS, fmtFloats(row.RSSMiB), fmtFloats(row.AnonMiB), fmtFloats(row.CPUPct), goroutines, heap)
		if err := writeSoakCSV(cfg.csv, procs, rows); err != nil {
			return err
		}
	}
	// The run stops with the master: SIGINT stops it gracefully and stores it.
	if err := stopRun(ctx, hc, web); err != nil {
		return err
	}
	m.cmd.Process.Signal(os.Interrupt)
	if err := m.cmd.Wait(); err != nil {
		return fmt.Errorf("master: %w", err)
	}
	for _, p := range procs[1:] {
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.cmd.Wait()
	}
	if err := workerGoroutines(dbPath, begin, cfg.every, procs, rows); err != nil {
		return err
	}
	if err := writeSoakCSV(cfg.csv, procs, rows); err != nil {
		return err
	}
	printSoak(stdout, cfg, procs, rows)
	return nil
}

// get fetches url; a status other than 200 is an error. The caller closes the body.
func get(ctx context.Context, hc *http.Client, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return resp.Body, nil
}

func getJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	body, err := get(ctx, hc, url)
	if err != nil {
		return err
	}
	defer body.Close()
	return json.NewDecoder(body).Decode(v)
}

// post sends a control request with the page's CSRF token.
func post(ctx context.Context, hc *http.Client, web, path, body string) error {
	pageBody, err := get(ctx, hc, web+"/")
	if err != nil {
		return err
	}
	page, err := io.ReadAll(pageBody)
	pageBody.Close()
	if err != nil {
		return err
	}
	mm := regexp.MustCompile(`name="csrf-token" content="([0-9a-f]+)"`).FindSubmatch(page)
	if mm == nil {
		return errors.New("no CSRF token in the dashboard page")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, web+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Stampede-CSRF", string(mm[1]))
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("POST %s: %s %s", path, resp.Status, b)
	}
	return nil
}

func startRun(ctx context.Context, hc *http.Client, web string, cfg soakConfig) error {
	// The run outlasts the sampling; the soak stops it.
	body := fmt.Sprintf(`{"users":%d,"spawn_rate":%g,"label":"soak"}`, cfg.users, cfg.rate)
	return post(ctx, hc, web, "/api/start", body)
}

func stopRun(ctx context.Context, hc *http.Client, web string) error {
	return post(ctx, hc, web, "/api/stop", `{}`)
}

// freeLoopbackAddr is a loopback address with a port free now.
func freeLoopbackAddr() (string, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer lis.Close()
	return lis.Addr().String(), nil
}

// saveHeapProfile writes the master's heap profile, taken after a collection, to path.
func saveHeapProfile(ctx context.Context, hc *http.Client, addr, path string) error {
	body, err := get(ctx, hc, "http://"+addr+"/debug/pprof/heap?gc=1")
	if err != nil {
		return err
	}
	defer body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// masterMetrics reads the master's goroutines and Go heap goal (MiB) from its
// /metrics. The goal (go_memstats_next_gc_bytes) is set at each collection from
// the heap then found live, twice it at the default GOGC: unlike the heap in use,
// it does not swing with the garbage made since the last collection.
func masterMetrics(ctx context.Context, hc *http.Client, web string) (goroutines, heapMiB float64, err error) {
	body, err := get(ctx, hc, web+"/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer body.Close()
	found := 0
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			if goroutines, err = strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
				return 0, 0, err
			}
			found++
		}
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_next_gc_bytes "); ok {
			b, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, 0, err
			}
			heapMiB = b / (1 << 20)
			found++
		}
	}
	if found != 2 {
		return 0, 0, errors.New("no go_goroutines or go_memstats_next_gc_bytes in /metrics")
	}
	return goroutines, heapMiB, nil
}

// workerGoroutines fills in each period's mean goroutines of every worker from the
// telemetry stored with the run.
func workerGoroutines(dbPath string, begin time.Time, every time.Duration, procs []*proc, rows []soakRow) error {
	db, err := store.Open(dbPath, store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	runs, err := db.Runs()
	if err != nil || len(runs) == 0 {
		return fmt.Errorf("stored run: %v", err)
	}
	recs, err := db.Telemetry(runs[0].ID)
	if err != nil {
		return err
	}
	sums := make([][2]float64, len(rows)*len(procs))
	for _, rec := range recs {
		var s telemetry.Sample
		if err := json.Unmarshal(rec.Sample, &s); err != nil {
			return err
		}
		period := int(rec.At.Sub(begin) / every)
		if period < 0 || period >= len(rows) {
			continue
		}
		for i, p := range procs[1:] {
			if rec.Host == "soak-"+strings.TrimPrefix(p.name, "worker") {
				sums[period*len(procs)+i+1][0] += float64(s.Process.Goroutines)
				sums[period*len(procs)+i+1][1]++
			}
		}
	}
	for r := range rows {
		for i := 1; i < len(procs); i++ {
			if s := sums[r*len(procs)+i]; s[1] > 0 {
				rows[r].Goroutines[i] = s[0] / s[1]
			}
		}
	}
	return nil
}

func writeSoakCSV(path string, procs []*proc, rows []soakRow) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	head := []string{"minute", "requests", "rps", "master_heap_goal_mib"}
	for _, p := range procs {
		head = append(head, p.name+"_rss_mib", p.name+"_anon_mib", p.name+"_cpu_pct", p.name+"_goroutines")
	}
	w.Write(head)
	for _, r := range rows {
		rec := []string{fmt.Sprintf("%.2f", r.Minute), fmt.Sprint(r.Requests), fmt.Sprintf("%.1f", r.RPS), fmt.Sprintf("%.1f", r.MasterHeap)}
		for i := range procs {
			g := ""
			if !math.IsNaN(r.Goroutines[i]) {
				g = fmt.Sprintf("%.0f", r.Goroutines[i])
			}
			rec = append(rec, fmt.Sprintf("%.1f", r.RSSMiB[i]), fmt.Sprintf("%.1f", r.AnonMiB[i]), fmt.Sprintf("%.1f", r.CPUPct[i]), g)
		}
		w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// flatness is how far a series strays from its median after the warm-up, percent.
func flatness(v []float64) (median, spread float64, ok bool) {
	var s []float64
	for _, x := range v {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return 0, 0, false
	}
	slices.Sort(s)
	median = s[len(s)/2]
	if median == 0 {
		return 0, 0, false
	}
	for _, x := range s {
		spread = max(spread, 100*math.Abs(x-median)/median)
	}
	return median, spread, true
}

func printSoak(w io.Writer, cfg soakConfig, procs []*proc, rows []soakRow) {
	skip := int(cfg.warmup / cfg.every)
	if skip >= len(rows) {
		skip = len(rows) - 1
	}
	after := rows[skip:]
	fmt.Fprintf(w, "\nSoak: %v, %d users, %d workers; flatness over %d periods after a %v warm-up (largest distance from the median)\n",
		cfg.duration, cfg.users, cfg.workers, len(after), cfg.warmup)
	// line prints one series; a non-empty unjudged says why it is shown only.
	line := func(name string, get func(soakRow) float64, unjudged string) {
		v := make([]float64, len(after))
		for i, r := range after {
			v[i] = get(r)
		}
		med, spread, ok := flatness(v)
		if !ok {
			fmt.Fprintf(w, "  %-24s no data\n", name)
			return
		}
		verdict := "flat"
		switch {
		case unjudged != "":
			verdict = "(shown, not judged: " + unjudged + ")"
		case spread > 5:
			verdict = "NOT FLAT"
		}
		fmt.Fprintf(w, "  %-24s median %10.1f  first %10.1f  last %10.1f  max distance %5.1f %%  %s\n",
			name, med, v[0], v[len(v)-1], spread, verdict)
	}
	line("throughput req/s", func(r soakRow) float64 { return r.RPS }, "")
	line("master Go heap goal MiB", func(r soakRow) float64 { return r.MasterHeap }, "where RSS comes from")
	for i, p := range procs {
		line(p.name+" RSS MiB", func(r soakRow) float64 { return r.RSSMiB[i] }, "")
		line(p.name+" anonymous MiB", func(r soakRow) float64 { return r.AnonMiB[i] }, "part of RSS")
		line(p.name+" goroutines", func(r soakRow) float64 { return r.Goroutines[i] }, "")
		line(p.name+" CPU %", func(r soakRow) float64 { return r.CPUPct[i] }, "a few clock ticks")
	}
}

// clockTicks is the kernel's USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// procTicks is a process's CPU (user + system) in clock ticks.
func procTicks(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields count from after its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return u + st
}

// procRSS is a process's resident memory and the anonymous part of it (the rest
// is file-backed: the binary's pages and memory-mapped files such as the store),
// in bytes.
func procRSS(pid int) (rss, anon uint64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return 0, 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	shared, _ := strconv.ParseUint(f[2], 10, 64) // file-backed and shared memory
	page := uint64(os.Getpagesize())
	return pages * page, (pages - min(shared, pages)) * page
}

func fmtFloats(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.1f", x)
	}
	return strings.Join(s, " ")
}
