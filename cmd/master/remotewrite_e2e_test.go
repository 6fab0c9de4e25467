package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// prometheus starts Debian's prometheus (scripts/ensure-debian.sh prometheus) on a
// free loopback port with the remote-write receiver and native histograms on, its
// storage in a temporary folder, and returns its base URL once it is ready.
func prometheus(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("no prometheus on PATH: apt-get install prometheus (make test and .ci/run do, through scripts/ensure-debian.sh), or run go test -short")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte("global:\n  scrape_interval: 1h\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	start(t, bin, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr,
		"--web.enable-remote-write-receiver", "--enable-feature=native-histograms,exemplar-storage", "--log.level=warn")
	base := "http://" + addr
	waitFor(t, 60*time.Second, "prometheus ready", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base
}

// promQuery evaluates query at ts (Prometheus' HTTP API) and returns the single
// value of its result (0 results fail the test).
func promQuery(t *testing.T, base, query string, ts float64) float64 {
	t.Helper()
	v := url.Values{"query": {query}}
	if ts > 0 {
		v.Set("time", strconv.FormatFloat(ts, 'f', 3, 64))
	}
	resp, err := http.Get(base + "/api/v1/query?" + v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "success" || len(r.Data.Result) != 1 {
		t.Fatalf("%s: status %s %s, %d results, want 1", query, r.Status, r.Error, len(r.Data.Result))
	}
	f, err := strconv.ParseFloat(r.Data.Result[0].Value[1].(string), 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// spreadTarget counts requests and answers most within 0..9 ms and every tenth
// after 40 ms, so the latency spans many native-histogram buckets and the p99
// falls in a dense cluster (about 40 ms), not among a few scheduling outliers:
// where neighbouring samples lie far apart, Prometheus' rank (q·count) and the
// HdrHistogram's (rounded) may pick neighbours a few per cent apart.
type spreadTarget struct {
	requestLog
	n atomic.Int64
}

func (s *spreadTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.n.Add(1)
	d := time.Duration(n%10) * time.Millisecond
	if n%10 == 0 {
		d = 40 * time.Millisecond
	}
	time.Sleep(d)
	s.requestLog.ServeHTTP(w, r)
}

// TestRemoteWriteToPrometheus runs the real master headless with --remote-write
// to a real Prometheus, with one in-process worker and with two worker processes,
// then asks Prometheus: the requests counter's increase over the run is the
// run's exact total, which is the target's own count, and histogram_quantile(0.99)
// of the remote-written native histograms is the run's own p99 within 1 %.
func TestRemoteWriteToPrometheus(t *testing.T) {
	masterBin, workerBin := binaries(t)
	prom := prometheus(t)
	for _, workers := range []int{1, 2} {
		name := "one in-process worker"
		if workers > 1 {
			name = fmt.Sprintf("%d worker processes", workers)
		}
		t.Run(name, func(t *testing.T) {
			target := &spreadTarget{}
			ts := httptest.NewServer(target)
			defer ts.Close()
			db := filepath.Join(t.TempDir(), "runs.db")
			testid := fmt.Sprintf("e2e-%d-%d", workers, time.Now().UnixNano())
			args := []string{"--headless", "--stop-timeout", "10s", "-u", "10", "-r", "100", "-t", "5s", "-H", ts.URL + "/x", "--wait", "2ms",
				"--db", db, "--exit-code-on-error", "0", "--remote-write", prom + "/api/v1/write",
				"--remote-write-interval", "1s", "--tag", "testid=" + testid}
			if workers > 1 {
				addr := freePort(t)
				args = append(args, "--expect-workers", strconv.Itoa(workers), "--listen", addr)
				for i := range workers {
					start(t, workerBin, "--master", addr, "--id", fmt.Sprintf("w%d", i+1), "--log-level", "error")
				}
			}
			out, err := exec.Command(masterBin, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("master: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), " 0 dropped") {
				t.Fatalf("pushes were dropped:\n%s", out)
			}
			served, _ := target.read()
			_, run := storedRun(t, db)
			if run.Summary.Requests != uint64(served) || served == 0 {
				t.Fatalf("stored run: %d requests, the target served %d", run.Summary.Requests, served)
			}
			sel := fmt.Sprintf(`{run_id=%q,testid=%q}`, run.ID, testid)
			// Evaluate at the run's last push, over a window that holds the whole run:
			// each series starts with a zero at the run's start, so nothing is extrapolated.
			last := promQuery(t, prom, "max(timestamp(stampede_requests_total"+sel+"))", 0)
			window := fmt.Sprintf("[%ds]", int(run.EndedAt.Sub(run.StartedAt).Seconds())+30)
			total := promQuery(t, prom, "sum(increase(stampede_requests_total"+sel+window+"))", last)
			if total != float64(served) {
				t.Errorf("Prometheus: increase(stampede_requests_total) = %v over the run; the run counted %d, the target served %d",
					total, run.Summary.Requests, served)
			}
			p99 := promQuery(t, prom, "histogram_quantile(0.99, sum(rate(stampede_request_duration_seconds"+sel+window+")))", last)
			own := run.Summary.P99.Seconds()
			raw := promQuery(t, prom, "histogram_quantile(0.99, stampede_request_duration_seconds"+sel+")", last)
			t.Logf("p99 of the last pushed histogram itself: %.6f s", raw)
			if math.Abs(p99-own) > 0.01*own {
				t.Errorf("Prometheus: p99 %.6f s from the native histograms; the run's own p99 is %.6f s (off by %.2f %%, allowed 1 %%)",
					p99, own, 100*math.Abs(p99-own)/own)
			}
			t.Logf("%d requests; p99 %.6f s (Prometheus) vs %.6f s (Stampede)", served, p99, own)
		})
	}
}

// TestRemoteWriteReceiverDownOrSlow pushes to a dead receiver (a closed port) and a
// slow one (it accepts and never answers) during a run: the run's own figures are
// the target's count all the same, the master ends, and it says pushes were dropped.
func TestRemoteWriteReceiverDownOrSlow(t *testing.T) {
	masterBin, _ := binaries(t)
	dead := freePort(t)
	slow, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	go func() { // accept and hold every connection without a word
		var held []net.Conn
		for {
			c, err := slow.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	target := &requestLog{}
	ts := httptest.NewServer(target)
	defer ts.Close()
	db := filepath.Join(t.TempDir(), "runs.db")
	out, err := exec.Command(masterBin, "--headless", "--stop-timeout", "10s", "-u", "10", "-r", "100", "-t", "4s", "-H", ts.URL+"/x", "--wait", "5ms",
		"--db", db, "--exit-code-on-error", "0", "--remote-write", "http://"+dead+"/api/v1/write",
		"--remote-write", "http://"+slow.Addr().String()+"/api/v1/write", "--remote-write-interval", "200ms").CombinedOutput()
	if err != nil {
		t.Fatalf("master: %v\n%s", err, out)
	}
	served, _ := target.read()
	_, run := storedRun(t, db)
	if run.Summary.Requests != uint64(served) || served == 0 {
		t.Errorf("stored run: %d requests, the target served %d", run.Summary.Requests, served)
	}
	if !strings.Contains(string(out), "remote-write: 0 pushes accepted") || !strings.Contains(string(out), "pushes dropped") {
		t.Errorf("the master does not say the pushes were dropped:\n%s", out)
	}
}
