package main

import (
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// readCSV reads a whole CSV file.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

// TestCSVLikeLocust: --csv writes the four files real Locust writes, with its
// columns, and their counts are the target's; --only-summary prints no progress;
// two local runs without --listen run side by side (each on a free port).
func TestCSVLikeLocust(t *testing.T) {
	master, _ := binaries(t)
	locust, err := exec.LookPath("locust")
	if err != nil {
		t.Fatal("locust not installed (make test installs python3-locust):", err)
	}
	var hits [3]atomic.Int64 // /a, /b (the two masters), /l (Locust)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/a":
			hits[0].Add(1)
		case "/b":
			hits[1].Add(1)
		case "/l":
			hits[2].Add(1)
		}
		if r.URL.Query().Get("fail") != "" {
			w.WriteHeader(500)
		}
	}))
	defer target.Close()
	dir := t.TempDir()

	// Real Locust's files, for their columns.
	lf := filepath.Join(dir, "locustfile.py")
	os.WriteFile(lf, []byte("from locust import HttpUser, task, constant\n\nclass U(HttpUser):\n    wait_time = constant(0.05)\n\n    @task\n    def t(self):\n        self.client.get(\"/l\")\n"), 0o644)
	cmd := exec.Command(locust, "-f", lf, "--headless", "-u", "1", "-r", "1", "-t", "2s", "--csv", filepath.Join(dir, "locust"),
		"-H", target.URL, "--only-summary", "--loglevel", "ERROR")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("locust: %v\n%s", err, out)
	}

	// Two masters at once, neither given --listen: each takes a free port.
	script := filepath.Join(dir, "hit.star")
	os.WriteFile(script, []byte(`
def ok(u):
    u.http.get("/" + env("P"), name="ok")
def bad(u):
    u.http.get("/" + env("P") + "?fail=1", name="bad")
Hit = user(tasks={ok: 3, bad: 1}, wait=constant(0.02))
`), 0o644)
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i, p := range []string{"a", "b"} {
		args := []string{"--headless", "-f", script, "-H", target.URL, "-u", "3", "-r", "100", "-t", "2s", "--var", "P=" + p,
			"--db", filepath.Join(dir, p+".db"), "--csv", filepath.Join(dir, p), "--only-summary", "--exit-code-on-error", "0",
			"--stop-timeout", "10s"} // users finish their request: every one served is counted
		if p == "a" {
			args = append(args, "--csv-full-history")
		}
		wg.Go(func() { results[i] = runCLI(t, master, args...) })
	}
	wg.Wait()
	for i, p := range []string{"a", "b"} {
		r := results[i]
		r.want(t, 0, "")
		if strings.Contains(r.stdout, "users ") || strings.Contains(r.stdout, "rps ") {
			t.Errorf("run %s: --only-summary printed progress:\n%s", p, r.stdout)
		}
		if !strings.Contains(r.stdout, "Aggregated") {
			t.Errorf("run %s: no summary:\n%s", p, r.stdout)
		}
		for _, suffix := range []string{"_stats.csv", "_stats_history.csv", "_failures.csv", "_exceptions.csv"} {
			ours, theirs := readCSV(t, filepath.Join(dir, p+suffix)), readCSV(t, filepath.Join(dir, "locust"+suffix))
			if !slices.Equal(ours[0], theirs[0]) {
				t.Errorf("%s%s columns:\n%q\nLocust's:\n%q", p, suffix, ours[0], theirs[0])
			}
		}
		served := hits[i].Load()
		stats := readCSV(t, filepath.Join(dir, p+"_stats.csv"))
		col := func(row []string, name string) string { return row[slices.Index(stats[0], name)] }
		var sum int64
		rows := map[string][]string{}
		for _, row := range stats[1:] {
			rows[col(row, "Name")] = row
		}
		total := rows["Aggregated"]
		for _, name := range []string{"ok", "bad"} {
			n, _ := strconv.ParseInt(col(rows[name], "Request Count"), 10, 64)
			sum += n
		}
		if n, _ := strconv.ParseInt(col(total, "Request Count"), 10, 64); n != served || sum != served || served == 0 {
			t.Errorf("run %s: stats.csv counts %d requests (rows add up to %d), the target served %d", p, n, sum, served)
		}
		if col(rows["bad"], "Failure Count") != col(rows["bad"], "Request Count") || col(rows["ok"], "Failure Count") != "0" {
			t.Errorf("run %s: failures %v / %v", p, rows["ok"], rows["bad"])
		}
		failures := readCSV(t, filepath.Join(dir, p+"_failures.csv"))
		if len(failures) != 2 || failures[1][1] != "bad" || failures[1][3] != col(rows["bad"], "Failure Count") {
			t.Errorf("run %s: failures.csv %q, want one row for bad with its %s failures", p, failures, col(rows["bad"], "Failure Count"))
		}
		// The history's last Aggregated row has the run's totals; with full history,
		// each interval has a row per endpoint too.
		history := readCSV(t, filepath.Join(dir, p+"_stats_history.csv"))
		hcol := func(row []string, name string) string { return row[slices.Index(history[0], name)] }
		var last []string
		names := map[string]bool{}
		for _, row := range history[1:] {
			names[hcol(row, "Name")] = true
			if hcol(row, "Name") == "Aggregated" {
				last = row
			}
			if ts, _ := strconv.ParseInt(hcol(row, "Timestamp"), 10, 64); time.Since(time.Unix(ts, 0)) > time.Hour {
				t.Errorf("run %s: history timestamp %s is not a Unix time of this run", p, hcol(row, "Timestamp"))
			}
		}
		if last == nil || hcol(last, "Total Request Count") != strconv.FormatInt(served, 10) {
			t.Errorf("run %s: history's last Aggregated row %q, want %d requests in total", p, last, served)
		}
		if want := p == "a"; names["ok"] != want || names["bad"] != want {
			t.Errorf("run %s: history rows of %v, want endpoint rows %v", p, names, want)
		}
	}
}

// TestDryRunSaysInOrder: --dry-run, like check, says that a tasks list runs in
// order, unlike Locust's, and runs each task the number of times asked.
func TestDryRunSaysInOrder(t *testing.T) {
	var hits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer target.Close()
	dir := t.TempDir()
	script := filepath.Join(dir, "steps.star")
	os.WriteFile(script, []byte("def a(u):\n    u.http.get(\"/a\")\ndef b(u):\n    u.http.get(\"/b\")\nSteps = user(tasks=sequence(a, b))\n"), 0o644)
	var stdout, stderr strings.Builder
	code := run(t.Context(), []string{"--headless", "-f", script, "-H", target.URL, "--dry-run", "2"},
		func(string) string { return "" }, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{orderNote, "tasks in order: a, b x2"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("dry run output lacks %q:\n%s", want, stdout.String())
		}
	}
	if hits.Load() != 4 {
		t.Errorf("the target served %d requests, want 4 (two tasks, twice)", hits.Load())
	}
}
