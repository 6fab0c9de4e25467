package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runMaster runs the real master binary to its end and returns its exit code and output.
func runMaster(t *testing.T, master string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(master, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), out.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, out.String()
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("master did not finish:\n%s", out.String())
	}
	return -1, ""
}

type junitSuites struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Suites   []struct {
		Cases []struct {
			Name    string    `xml:"name,attr"`
			Failure *struct{} `xml:"failure"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// TestThresholdVerdictsAndExitCodes drives the real binary: thresholds that pass exit
// 0 with a JUnit file of one testcase each; a failed one exits 3 with the summary; an
// ";abort" one stops the run early and exits 4; a baseline is the last run that
// passed; an open-model run counts no drops with a large enough pool.
func TestThresholdVerdictsAndExitCodes(t *testing.T) {
	master, _ := binaries(t)
	target := &requestLog{}
	ts := httptest.NewServer(target)
	defer ts.Close()
	dir := t.TempDir()
	db := filepath.Join(dir, "runs.db")
	common := []string{"--headless", "-H", ts.URL + "/x", "-u", "2", "-r", "100", "--wait", "20ms",
		"--db", db, "--listen", freePort(t)}

	junit := filepath.Join(dir, "junit.xml")
	code, out := runMaster(t, master, append(common, "-t", "2s", "--threshold", "p95<5s",
		"--threshold", "error_rate<1%", "--threshold", "requests>=10", "--junit", junit)...)
	if code != exitOK {
		t.Fatalf("passing thresholds: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "thresholds: 3 passed, 0 failed") || !strings.Contains(out, "PASS  p95<5s") {
		t.Errorf("summary missing:\n%s", out)
	}
	raw, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var js junitSuites
	if err := xml.Unmarshal(raw, &js); err != nil {
		t.Fatalf("junit: %v\n%s", err, raw)
	}
	if js.Tests != 3 || js.Failures != 0 || len(js.Suites) != 1 || len(js.Suites[0].Cases) != 3 || js.Suites[0].Cases[0].Name != "p95<5s" {
		t.Errorf("junit: %+v", js)
	}

	code, out = runMaster(t, master, append(common, "-t", "2s", "--threshold", "p95<5s", "--threshold", "max<1us")...)
	if code != exitThresholds || !strings.Contains(out, "FAIL  max<1us") {
		t.Errorf("failing threshold: exit %d, want %d\n%s", code, exitThresholds, out)
	}

	start := time.Now()
	code, out = runMaster(t, master, append(common, "-t", "60s", "--threshold", "max<1us;abort")...)
	if code != exitAborted || !strings.Contains(out, "threshold max<1us;abort failed") {
		t.Errorf("abort: exit %d, want %d\n%s", code, exitAborted, out)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("an aborting threshold let the run go on for %v", took)
	}

	// The baseline: the last run whose thresholds passed (the first one).
	code, out = runMaster(t, master, append(common, "-t", "2s", "--baseline", "last-passed",
		"--threshold", "requests>=baseline*0.01", "--threshold", "requests>=baseline*100")...)
	if code != exitThresholds || !strings.Contains(out, "PASS  requests>=baseline*0.01") ||
		!strings.Contains(out, "FAIL  requests>=baseline*100") || !strings.Contains(out, "baseline run") {
		t.Errorf("baseline: exit %d\n%s", code, out)
	}

	// Open model: 40 iterations/s for 2 s from a pool that may grow.
	before, _ := target.read()
	code, out = runMaster(t, master, append(common, "-t", "2s", "--rate", "40", "--threshold", "dropped==0",
		"--threshold", "requests==80")...)
	after, _ := target.read()
	if code != exitOK {
		t.Errorf("open model: exit %d\n%s", code, out)
	}
	if after-before != 80 {
		t.Errorf("open model: the target served %d requests, want 80 (40/s for 2 s)", after-before)
	}
	if !strings.Contains(out, "Service time, from sending each request") {
		t.Errorf("open model: no service-time table\n%s", out)
	}
}

// TestTimingRowsOverTheWire: --timings and --server-time-header reach the workers and
// the run's summary carries TTFB and SERVER rows beside the request's own.
func TestTimingRowsOverTheWire(t *testing.T) {
	master, _ := binaries(t)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Process-Time", "7")
	}))
	defer ts.Close()
	dir := t.TempDir()
	out := filepath.Join(dir, "summary.json")
	code, text := runMaster(t, master, "--headless", "-H", ts.URL+"/t", "-u", "1", "-t", "1s", "--wait", "10ms",
		"--timings", "--server-time-header", "X-Process-Time:ms", "--json", out,
		"--db", filepath.Join(dir, "runs.db"), "--listen", freePort(t))
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, text)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Endpoints []struct {
			Method   string  `json:"method"`
			Name     string  `json:"name"`
			Requests uint64  `json:"requests"`
			MedianMs float64 `json:"median_ms"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatal(err)
	}
	rows := map[string]float64{}
	for _, e := range sum.Endpoints {
		if e.Name == "/t" {
			rows[e.Method] = e.MedianMs
		}
	}
	if _, ok := rows["TTFB"]; !ok {
		t.Errorf("no TTFB row: %v", rows)
	}
	if got := rows["SERVER"]; got < 6.99 || got > 7.01 {
		t.Errorf("SERVER median %v ms, want the 7 ms the target reported (rows %v)", got, rows)
	}
}

func TestPprofListenIsLoopbackOnly(t *testing.T) {
	if err := checkPprof("0.0.0.0:6060"); err == nil {
		t.Error("a profile listener beyond loopback was accepted")
	}
	if err := checkPprof("127.0.0.1:6060"); err != nil {
		t.Error(err)
	}
}
