package main

// The table of `make bench`: every figure measured in this run, repeated, each with
// min/median/max and, where one exists, a ratio against a reference measured in the
// same run. Sections that cannot run here (no root to install wrk and nginx, say)
// are reported as not measured; the table still prints. With -smoke (make test) a
// section that fails to measure fails the command, after the table; so does, always,
// a master run whose stored run differs from what its workers sent.

import (
	"bufio"
	"bytes"
	"context"
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
	"time"
)

// row is one line of the table.
type row struct {
	name, unit string
	values     []float64
	ref        string  // what the ratio is against
	ratio      float64 // median / reference (or as the source printed it); NaN: none
	target     string
	note       string // why it is missing, or how it was measured
	n          int    // runs behind values when they are not one value per run (min/median/max of a script)
}

type tableConfig struct {
	repeats     int
	smoke       bool
	genDuration string
	memUsers    string
	bigUsers    int
	bigWait     [2]string // think time of the many-users check
	master      masterConfig
	spawn       spawnConfig
	skip        map[string]bool
}

func tableCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("table", flag.ContinueOnError)
	var cfg tableConfig
	fs.IntVar(&cfg.repeats, "repeats", 3, "repeats of every figure")
	fs.StringVar(&cfg.genDuration, "gen-duration", "10s", "length of each generator run (BENCH_DURATION of scripts/bench-generator.sh)")
	fs.StringVar(&cfg.memUsers, "mem-users", "1000,10000,50000", "user counts of the idle-memory slope")
	fs.IntVar(&cfg.bigUsers, "big-users", 100000, "users on one worker for the RSS check")
	fs.IntVar(&cfg.master.workers, "master-workers", 1000, "simulated workers of the master capacity run")
	fs.DurationVar(&cfg.master.duration, "master-duration", time.Minute, "length of the master capacity run")
	fs.IntVar(&cfg.spawn.users, "spawn-users", 10000, "users of the spawn run")
	fs.Float64Var(&cfg.spawn.rate, "spawn-rate", 500, "spawn rate of the spawn run")
	skip := fs.String("skip", "", "sections to leave out, comma-separated: generator,grpc,memory,master,spawn,store,push,merge")
	fs.BoolVar(&cfg.smoke, "smoke", false, "every section at its smallest: checks the table still works")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.master.endpoints, cfg.master.samples, cfg.spawn.workers = 50, 20, 4
	cfg.bigWait = [2]string{"20s", "30s"}
	cfg.skip = map[string]bool{}
	for _, s := range strings.Split(*skip, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.skip[s] = true
		}
	}
	if cfg.smoke {
		cfg.repeats, cfg.genDuration, cfg.memUsers, cfg.bigUsers, cfg.bigWait = 1, "1s", "100,300", 1500, [2]string{"1s", "2s"}
		cfg.master.workers, cfg.master.duration = 10, 3*time.Second
		cfg.spawn = spawnConfig{users: 200, rate: 200, workers: 2}
	}
	if cfg.repeats < 1 {
		return errors.New("-repeats must be at least 1")
	}
	begin := time.Now()
	load0 := loadAvg()
	tmp, err := os.MkdirTemp("", "bench-table-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	log := os.Stderr // progress; the table goes to stdout
	rows, err := measureSections(cfg, log, []section{
		{"generator", func() ([]row, error) { return generatorRows(ctx, cfg, log) }},
		{"grpc", func() ([]row, error) { return grpcRows(ctx, cfg, tmp, log) }},
		{"memory", func() ([]row, error) { return memoryRows(ctx, cfg, tmp, log) }},
		{"merge", func() ([]row, error) { return mergeRows(ctx, cfg, log) }},
		{"master", func() ([]row, error) { return masterRows(ctx, cfg, log) }},
		{"spawn", func() ([]row, error) { return spawnRows(ctx, cfg, log) }},
		{"store", func() ([]row, error) { return storeRows(ctx, cfg, log) }},
		{"push", func() ([]row, error) { return pushRows(ctx, cfg, log) }},
	})
	host, _ := os.Hostname()
	fmt.Fprintf(stdout, "\nStampede benchmarks — %s, %d repeats, %s, load average %s at the start and %s at the end, %.0f s\n\n",
		host, cfg.repeats, time.Now().UTC().Format("2006-01-02 15:04 MST"), load0, loadAvg(), time.Since(begin).Seconds())
	writeTable(stdout, rows)
	return err
}

// section is one part of the table: its name (for -skip) and what measures it.
type section struct {
	name    string
	measure func() ([]row, error)
}

// errReportsLost is wrapped by a section whose run lost or mis-merged reports: the
// figures were measured, but the stored run is not what was sent. That is a bug, so
// it fails the table even outside -smoke.
var errReportsLost = errors.New("reports lost")

// measureSections runs every section that cfg does not skip and returns their rows.
// A section that fails to measure leaves a "not measured" note in the table; the
// error returned names every failed section when cfg.smoke is set (a smoke is there
// to fail when a section rots), and every section that lost reports in any mode.
func measureSections(cfg tableConfig, log io.Writer, sections []section) ([]row, error) {
	var rows []row
	var failed []error
	for _, s := range sections {
		if cfg.skip[s.name] {
			continue
		}
		fmt.Fprintf(log, "== %s (load %s)\n", s.name, loadAvg())
		rs, err := s.measure()
		rows = append(rows, rs...)
		if err == nil {
			continue
		}
		fmt.Fprintf(log, "%s: %v\n", s.name, err)
		note := "not measured: "
		if len(rs) > 0 {
			note = "measured in part: "
		}
		if errors.Is(err, errReportsLost) {
			note = ""
		}
		rows = append(rows, row{name: s.name, ratio: nan, note: note + firstLine(err.Error())})
		if cfg.smoke || errors.Is(err, errReportsLost) {
			failed = append(failed, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	if len(failed) > 0 {
		return rows, fmt.Errorf("%d section(s) failed: %w", len(failed), errors.Join(failed...))
	}
	return rows, nil
}

var nan = math.NaN()

func writeTable(w io.Writer, rows []row) {
	fmt.Fprintf(w, "| %-62s | %-10s | %3s | %10s | %10s | %10s | %-22s | %6s | %-18s |\n", "figure", "unit", "n", "min", "median", "max", "ratio against", "ratio", "target")
	fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 64), strings.Repeat("-", 12), "----:", strings.Repeat("-", 11)+":",
		strings.Repeat("-", 11)+":", strings.Repeat("-", 11)+":", strings.Repeat("-", 24), "-------:", strings.Repeat("-", 20))
	var notes []string
	for _, r := range rows {
		if len(r.values) == 0 {
			notes = append(notes, r.name+": "+r.note)
			continue
		}
		s := slices.Clone(r.values)
		slices.Sort(s)
		ratio := ""
		if r.ratio == r.ratio { // not NaN
			ratio = strconv.FormatFloat(r.ratio, 'f', 2, 64)
			if absf(r.ratio) < 0.1 && r.ratio != 0 {
				ratio = strconv.FormatFloat(r.ratio, 'g', 2, 64)
			}
		}
		n := len(s)
		if r.n > 0 {
			n = r.n
		}
		fmt.Fprintf(w, "| %-62s | %-10s | %3d | %10s | %10s | %10s | %-22s | %6s | %-18s |\n", r.name, r.unit, n,
			num(s[0]), num(median(s)), num(s[len(s)-1]), r.ref, ratio, r.target)
		if r.note != "" {
			notes = append(notes, r.name+": "+r.note)
		}
	}
	for _, n := range notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func num(v float64) string {
	switch a := absf(v); {
	case a >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func median(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func medianOf(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return median(s)
}

// --- generator: scripts/bench-generator.sh, read from its stdout ---------------------

// genRow matches a tool's row of the script's table:
// | tool | req/s min | median | max | vs wrk | req/CPU-s | vs wrk |
var genRow = regexp.MustCompile(`^\|\s*([^|]+?)\s*\|\s*([0-9.]+)\s*\|\s*([0-9.]+)\s*\|\s*([0-9.]+)\s*\|\s*([0-9.]+)\s*\|\s*([0-9.]+)\s*\|\s*([0-9.]+)\s*\|$`)

func generatorRows(ctx context.Context, cfg tableConfig, log io.Writer) ([]row, error) {
	cmd := exec.CommandContext(ctx, "./scripts/bench-generator.sh")
	cmd.Env = append(os.Environ(), "BENCH_REPEATS="+strconv.Itoa(cfg.repeats), "BENCH_DURATION="+cfg.genDuration)
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, log)
	cmd.Stderr = log
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("scripts/bench-generator.sh: %w", err)
	}
	var rows []row
	var notes []string
	for _, line := range strings.Split(out.String(), "\n") {
		if n, ok := strings.CutPrefix(line, "note: "); ok {
			notes = append(notes, n)
		}
		m := genRow.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(m[1], "wrk") {
			continue
		}
		f := func(i int) float64 { v, _ := strconv.ParseFloat(m[i], 64); return v }
		// The script prints min/median/max of req/s and the median req/CPU-s.
		rows = append(rows,
			row{name: "generator: " + m[1], unit: "req/s", values: []float64{f(2), f(3), f(4)}, n: cfg.repeats,
				ref: "wrk, same core, median", ratio: f(5), target: genTarget(m[1])},
			row{name: "generator: " + m[1] + " (per CPU-s)", unit: "req/CPU-s", values: []float64{f(6)}, n: cfg.repeats,
				ref: "wrk req/CPU-s, median", ratio: f(7), target: genTarget(m[1]),
				note: "median only (the script prints the median of req/CPU-s)"})
	}
	if len(rows) == 0 {
		return nil, errors.New("no stampede row in scripts/bench-generator.sh's table")
	}
	rows[0].note = "min/median/max are the script's over its runs; " + strings.Join(notes, "; ")
	return rows, nil
}

func genTarget(tool string) string {
	if strings.Contains(strings.ToLower(tool), "script") {
		return ">= 0.5 x wrk"
	}
	return ">= 0.7 x wrk"
}

// --- memory: scripts/usermem ---------------------------------------------------------

func memoryRows(ctx context.Context, cfg tableConfig, tmp string, log io.Writer) ([]row, error) {
	bin := filepath.Join(tmp, "usermem")
	if err := goCmd(ctx, log, nil, "build", "-o", bin, "./scripts/usermem"); err != nil {
		return nil, err
	}
	out, err := capture(ctx, log, bin, "-users", cfg.memUsers, "-repeat", strconv.Itoa(cfg.repeats))
	if err != nil {
		return nil, err
	}
	// Each child prints "== class script, run 1", then "RSS_AT users bytes tasks/s expected"
	// per step: the slope from the first step to each later one, per class.
	type point struct{ users, bytes, rate, expected float64 }
	type key struct {
		class string
		users float64
	}
	slopes := map[key][]float64{}
	served := map[key][]float64{} // tasks/s served / expected
	var first *point
	class := ""
	for _, line := range strings.Split(out, "\n") {
		if c, ok := strings.CutPrefix(line, "== class "); ok {
			class, _, _ = strings.Cut(c, ",")
			first = nil
		}
		f := strings.Fields(line)
		if len(f) != 5 || f[0] != "RSS_AT" || class == "" {
			continue
		}
		var p point
		for i, v := range []*float64{&p.users, &p.bytes, &p.rate, &p.expected} {
			*v, _ = strconv.ParseFloat(f[i+1], 64)
		}
		if first == nil {
			first = &p
			continue
		}
		k := key{class, p.users}
		slopes[k] = append(slopes[k], (p.bytes-first.bytes)/(p.users-first.users)/1024)
		served[k] = append(served[k], p.rate/p.expected)
	}
	var rows []row
	steps := strings.Split(cfg.memUsers, ",")
	for _, c := range []string{"script", "go"} {
		for _, st := range steps[1:] {
			n, _ := strconv.ParseFloat(st, 64)
			k := key{c, n}
			vals := slopes[k]
			if len(vals) == 0 {
				continue
			}
			name := map[string]string{"script": "scripted", "go": "Go-defined"}[c]
			note := fmt.Sprintf("think time 1-2 s; RSS slope after a forced GC; tasks served %.0f %% of expected", 100*medianOf(served[k]))
			if medianOf(served[k]) < 0.9 {
				note += ": users queued inside tasks, so this is not idle memory alone"
			}
			rows = append(rows, row{name: fmt.Sprintf("idle user RSS, %s, %s→%s users", name, steps[0], st), unit: "KiB/user",
				values: vals, ref: "boomer 6.1 KiB (DESIGN)", ratio: medianOf(vals) / 6.1, target: "<= 4 KiB", note: note})
		}
	}
	if len(rows) == 0 {
		return nil, errors.New("usermem printed no slope")
	}
	// Many users on one worker: the target in this process, so the child's RSS is the
	// generator's alone. Think time 20-30 s: an idle user is idle however long it
	// waits, and this machine cannot serve 100,000 users every 1.5 s.
	url, stop, err := serveOK()
	if err != nil {
		return rows, err
	}
	defer stop()
	out, err = capture(ctx, log, bin, "-class", "script", "-users", fmt.Sprintf("1000,%d", cfg.bigUsers), "-rate", "5000",
		"-wait-min", cfg.bigWait[0], "-wait-max", cfg.bigWait[1], "-target", url)
	if err != nil {
		return rows, err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 5 && f[0] == "RSS_AT" && f[1] == strconv.Itoa(cfg.bigUsers) {
			b, _ := strconv.ParseFloat(f[2], 64)
			rows = append(rows, row{name: fmt.Sprintf("RSS of one worker with %d scripted users", cfg.bigUsers), unit: "MiB",
				values: []float64{b / (1 << 20)}, ref: "1 GiB target", ratio: b / (1 << 30), target: "< 1024 MiB",
				note: fmt.Sprintf("one run; think time %s-%s; tasks/s %s of %s expected", cfg.bigWait[0], cfg.bigWait[1], f[3], f[4])})
		}
	}
	return rows, nil
}

// serveOK starts a loopback target that answers "ok".
func serveOK() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// --- master -------------------------------------------------------------------------

// mergeRows is how many 50-endpoint reports one core decodes and merges per second
// (aggregate.BenchmarkDecodeMergeReport), against the 1,000 a second of 1,000 workers.
func mergeRows(ctx context.Context, cfg tableConfig, log io.Writer) ([]row, error) {
	res, err := goBench(ctx, cfg, log, "./pkg/aggregate", "^BenchmarkDecodeMergeReport$")
	if err != nil {
		return nil, err
	}
	var per []float64
	for _, r := range res["BenchmarkDecodeMergeReport"] {
		per = append(per, 1e9/r["ns/op"])
	}
	if len(per) == 0 {
		return nil, errors.New("no BenchmarkDecodeMergeReport result")
	}
	return []row{{name: "decode + merge of 50-endpoint reports, one core", unit: "reports/s", values: per,
		ref: "1,000 workers x 1/s", ratio: medianOf(per) / 1000, target: "ratio >= 1"}}, nil
}

func masterRows(ctx context.Context, cfg tableConfig, log io.Writer) ([]row, error) {
	var cores, lag, delay, stall, rss []float64
	var inexact []string
	for i := range cfg.repeats {
		f, err := measureMaster(ctx, cfg.master, log)
		if err != nil {
			return nil, err
		}
		printMaster(log, cfg.master, f)
		cores = append(cores, f.CPUS/f.WallS)
		lag = append(lag, f.LagMaxMs/1000)
		delay = append(delay, f.DelayMaxMs/1000)
		stall = append(stall, f.StallMaxMs/1000)
		rss = append(rss, f.MaxRSSMiB)
		if !f.Exact {
			inexact = append(inexact, fmt.Sprintf("run %d: %s", i+1, firstLine(f.Detail)))
		}
	}
	name := fmt.Sprintf("master, %d workers x 50 endpoints, %v", cfg.master.workers, cfg.master.duration)
	exact := "every stored run equals what the workers sent"
	var lost error
	if len(inexact) > 0 {
		exact = "REPORTS LOST: " + strings.Join(inexact, "; ")
		lost = fmt.Errorf("%w: the stored run is not what the workers sent: %s", errReportsLost, strings.Join(inexact, "; "))
	}
	return []row{
		{name: name + ": CPU", unit: "cores", values: cores, ref: "1 core", ratio: medianOf(cores), target: "<= 1 core", note: exact},
		{name: name + ": report delay, max", unit: "s", values: delay, ref: "1 s interval", ratio: medianOf(delay), target: "<= 1 s"},
		{name: name + ": dashboard lag, max", unit: "s", values: lag, ref: "2 s", ratio: medianOf(lag) / 2, target: "<= 2 s"},
		{name: name + ": longest controller stall", unit: "s", values: stall, ratio: nan},
		{name: name + ": max RSS", unit: "MiB", values: rss, ratio: nan},
	}, lost
}

// --- spawn --------------------------------------------------------------------------

func spawnRows(ctx context.Context, cfg tableConfig, log io.Writer) ([]row, error) {
	var worst, first []float64
	for range cfg.repeats {
		f, err := measureSpawn(ctx, cfg.spawn, log)
		if err != nil {
			return nil, err
		}
		printSpawn(log, cfg.spawn, f)
		worst = append(worst, f.WorstPct)
		first = append(first, f.FirstMs)
	}
	name := fmt.Sprintf("spawn %d users at %g/s over %d workers", cfg.spawn.users, cfg.spawn.rate, cfg.spawn.workers)
	return []row{
		{name: name + ": worst deviation", unit: "%", values: worst, ref: "the line rate x t", ratio: nan, target: "<= 2 %",
			note: "users started by each whole second of the run vs rate x t"},
		{name: name + ": first user after start", unit: "ms", values: first, ratio: nan},
	}, nil
}

// --- store and dashboard: Go benchmarks ------------------------------------------------

func storeRows(ctx context.Context, cfg tableConfig, log io.Writer) ([]row, error) {
	res, err := goBench(ctx, cfg, log, "./pkg/store", "^BenchmarkAppendInterval$")
	if err != nil {
		return nil, err
	}
	var rows []row
	for _, mode := range []string{"fsync", "nosync"} {
		var ivs, mbs []float64
		for _, r := range res["BenchmarkAppendInterval/"+mode] {
			per := 1e9 / r["ns/op"]
			ivs = append(ivs, per)
			mbs = append(mbs, per*r["snapshot-bytes"]/1e6)
		}
		if len(ivs) == 0 {
			return nil, errors.New("no BenchmarkAppendInterval result")
		}
		rows = append(rows,
			row{name: "store append, 50-endpoint interval, " + mode, unit: "intervals/s", values: ivs, ref: "1 interval/s per run", ratio: medianOf(ivs), target: ""},
			row{name: "store append, " + mode, unit: "MB/s", values: mbs, ratio: nan, note: "snapshot bytes x intervals/s"})
	}
	return rows, nil
}

func pushRows(ctx context.Context, cfg tableConfig, log io.Writer) ([]row, error) {
	res, err := goBench(ctx, cfg, log, "./web", "^BenchmarkSSEPush$")
	if err != nil {
		return nil, err
	}
	var rows []row
	for _, n := range []int{1, 10, 100} {
		rs := res[fmt.Sprintf("BenchmarkSSEPush/subscribers=%d", n)]
		var cpu, size []float64
		for _, r := range rs {
			cpu = append(cpu, r["cpu-ns/push"]/1e3)
			size = append(size, r["bytes/push"]/1024)
		}
		if len(cpu) == 0 {
			return nil, errors.New("no BenchmarkSSEPush result")
		}
		// The controller publishes at most 4 views a second (PublishEvery 250 ms).
		rows = append(rows, row{name: fmt.Sprintf("dashboard push, %d subscribers: CPU", n), unit: "µs/push", values: cpu,
			ref: "cores at 4 pushes/s", ratio: medianOf(cpu) * 4 / 1e6, target: "",
			note: "clients' reading included"})
		if n == 1 {
			rows = append(rows, row{name: "dashboard push: bytes per push per client", unit: "KiB", values: size, ratio: nan})
		}
	}
	return rows, nil
}

// goBench runs `go test -bench` and returns, per benchmark, one map of unit → value per run.
func goBench(ctx context.Context, cfg tableConfig, log io.Writer, pkg, pattern string) (map[string][]map[string]float64, error) {
	args := []string{"test", "-run", "^$", "-bench", pattern, "-count", strconv.Itoa(cfg.repeats)}
	if cfg.smoke {
		args = append(args, "-benchtime", "5x")
	}
	var out bytes.Buffer
	if err := goCmd(ctx, log, &out, append(args, pkg)...); err != nil {
		return nil, err
	}
	res := map[string][]map[string]float64{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i] // the GOMAXPROCS suffix
		}
		m := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				m[f[i+1]] = v
			}
		}
		res[name] = append(res[name], m)
	}
	return res, nil
}

func goCmd(ctx context.Context, log io.Writer, out io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Stderr = log
	cmd.Stdout = log
	if out != nil {
		cmd.Stdout = io.MultiWriter(out, log)
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

func capture(ctx context.Context, log io.Writer, name string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = io.MultiWriter(&out, log)
	cmd.Stderr = log
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %w", filepath.Base(name), err)
	}
	return out.String(), nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func absf(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
