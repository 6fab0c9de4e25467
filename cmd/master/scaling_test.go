package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lines collects a process's output line by line, safe to read while it runs.
type lines struct {
	mu  sync.Mutex
	all []string
}

func (l *lines) follow(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l.mu.Lock()
		l.all = append(l.all, sc.Text())
		l.mu.Unlock()
	}
}

// since reports whether a line after index from contains want, and the next index.
func (l *lines) since(from int, want string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := from; i < len(l.all); i++ {
		if strings.Contains(l.all[i], want) {
			return true, len(l.all)
		}
	}
	return false, from
}

func (l *lines) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.all)
}

// TestScalingDuringARun: 2 workers at 300 users, 2 more join, one drains (SIGTERM),
// one dies (kill -9); after each event the cluster is back at 300 users.
func TestScalingDuringARun(t *testing.T) {
	masterBin, workerBin := binaries(t)
	target := &requestLog{}
	ts := httptest.NewServer(target)
	defer ts.Close()
	addr := freePort(t)
	db := filepath.Join(t.TempDir(), "runs.db")
	m := exec.Command(masterBin, "--headless", "-u", "300", "-r", "150", "-t", "30s", "-H", ts.URL+"/x",
		"--wait", "250ms", "--expect-workers", "2", "--listen", addr, "--db", db, "--exit-code-on-error", "0")
	progress := followMaster(t, m)
	worker := func(id string) *exec.Cmd {
		return start(t, workerBin, "--master", addr, "--id", id, "--log-level", "error")
	}
	at := 0
	settled := func(what string, workers int) {
		t.Helper()
		want := fmt.Sprintf("users 300/300  workers %d ", workers)
		waitFor(t, 25*time.Second, what+": "+want, func() bool {
			ok, next := progress.since(at, want)
			if ok {
				at = next
			}
			return ok
		})
	}
	worker("w1")
	worker("w2")
	settled("start", 2)
	w3 := worker("w3")
	w4 := worker("w4")
	settled("two workers joined", 4)
	w4.Process.Signal(syscall.SIGTERM)
	if err := w4.Wait(); err != nil {
		t.Errorf("drained worker exited with %v", err)
	}
	at = progress.len()
	settled("after a drain", 3)
	w3.Process.Signal(syscall.SIGKILL)
	at = progress.len()
	settled("after a kill", 2)
	// The run completes; its exit code and reason say a worker died during it.
	if code := exitCodeOf(t, m.Wait()); code != exitIncomplete {
		t.Fatalf("master exit %d, want %d", code, exitIncomplete)
	}
	s, run := storedRun(t, db)
	events, _ := s.Events(run.ID)
	kinds := map[string]string{}
	for _, e := range events {
		kinds[e.Worker] += string(e.Kind) + " "
	}
	if !strings.Contains(kinds["w4"], "worker_draining") || !strings.Contains(kinds["w3"], "worker_lost") {
		t.Errorf("events per worker: %v", kinds)
	}
	// The killed worker is the run's problem; the drained one is not.
	if !strings.Contains(run.Reason, "worker w3 died or left with an error") || strings.Contains(run.Reason, "w4") {
		t.Errorf("run reason %q", run.Reason)
	}
	// Nothing but the killed worker's last unreported second may be missing.
	served, _ := target.read()
	stored := run.Summary.Requests
	perWorkerSecond := uint64(300 / 4 * 4) // 75 users at 4 req/s each
	if stored > uint64(served) || uint64(served)-stored > 2*perWorkerSecond {
		t.Errorf("stored %d requests of %d served (more than the killed worker's last interval missing)", stored, served)
	}
}

// followMaster starts the master command m, collecting its output lines as they come;
// the master is killed when the test ends, and its output logged if the test failed.
func followMaster(t *testing.T, m *exec.Cmd) *lines {
	t.Helper()
	out, _ := m.StdoutPipe()
	m.Stderr = m.Stdout
	progress := &lines{}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	go progress.follow(out)
	t.Cleanup(func() {
		m.Process.Kill()
		if t.Failed() {
			progress.mu.Lock()
			t.Logf("master output:\n%s", strings.Join(progress.all, "\n"))
			progress.mu.Unlock()
		}
	})
	return progress
}

// serveOn serves h on a listener at addr (a namespace's address, or every
// interface) until the test ends.
func serveOn(t *testing.T, addr string, h http.Handler) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.Listener.Close()
	ts.Listener = l
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}
