package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/store"
)

// This file holds the end-to-end tests of what a Locust user must not get wrong:
// the base path of -H, the master's stop (its --stop-timeout, an abort) and the exit
// codes, on the real binaries. The target's own log (what it received, when) is the
// truth they compare with.

// exitCodeOf is the exit code of a finished command (Wait's error).
func exitCodeOf(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// arrivals is a target that answers every request (server-sent events on /events)
// and notes what it received and when, by its own clock.
type arrivals struct {
	mu   sync.Mutex
	uris []string
	at   []time.Time
}

func (a *arrivals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.uris = append(a.uris, r.RequestURI)
	a.at = append(a.at, time.Now())
	a.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/events") {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: one\n\ndata: two\n\n")
		return
	}
	fmt.Fprint(w, "ok")
}

func (a *arrivals) read() ([]string, []time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.uris), slices.Clone(a.at)
}

// writeScript writes a script into a fresh directory and returns its path.
func writeScript(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "main.star")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// summaryRows reads a --json summary's rows: method and name -> requests.
func summaryRows(t *testing.T, path string) map[string]uint64 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Endpoints []struct {
			Method   string `json:"method"`
			Name     string `json:"name"`
			Requests uint64 `json:"requests"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, e := range sum.Endpoints {
		out[e.Method+" "+e.Name] = e.Requests
	}
	return out
}

// TestBasePathOnTheWire: -H http://host/api/v1 and u.http.get("/hello") ask the
// target for /api/v1/hello, as Locust does, with the default client over HTTP/1.1
// and with nethttp over HTTP/2 (TLS), u.http.stream too; an absolute URL in the
// script still wins. The target's log is the truth, and each row counts what it got.
func TestBasePathOnTheWire(t *testing.T) {
	master, _ := binaries(t)
	script := writeScript(t, `
def hello(u):
    u.http.get("/hello")

def events(u):
    n = 0
    for e in u.http.stream("GET", "events", sse=True):
        n += 1
    check(n == 2, "events: %d" % n)

def elsewhere(u):
    u.http.get(env("TARGET") + "/elsewhere")

Api = user(tasks=[hello, events, elsewhere], wait=constant(0.05))
`)
	for _, tc := range []struct {
		name  string
		tls   bool
		flags []string
	}{
		{"fasthttp HTTP/1.1", false, nil},
		{"nethttp HTTP/2", true, []string{"--http-client", "nethttp", "--insecure-target-tls"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := &arrivals{}
			ts := httptest.NewUnstartedServer(target)
			ts.Config.ErrorLog = log.New(io.Discard, "", 0)
			if tc.tls {
				ts.EnableHTTP2 = true
				ts.StartTLS()
			} else {
				ts.Start()
			}
			defer ts.Close()
			dir := t.TempDir()
			sum := filepath.Join(dir, "summary.json")
			args := append([]string{"--headless", "-f", script, "-H", ts.URL + "/api/v1", "--var", "TARGET=" + ts.URL,
				"-u", "2", "-r", "100", "-t", "2s", "--stop-timeout", "10s", "--db", filepath.Join(dir, "runs.db"),
				"--listen", freePort(t), "--json", sum}, tc.flags...)
			code, out := runMaster(t, master, args...)
			if code != exitOK {
				t.Fatalf("exit %d\n%s", code, out)
			}
			uris, _ := target.read()
			got := map[string]uint64{}
			for _, u := range uris {
				got[u]++
			}
			if len(got) != 3 || got["/api/v1/hello"] == 0 || got["/api/v1/events"] == 0 || got["/elsewhere"] == 0 {
				t.Fatalf("the target received %v: want /api/v1/hello, /api/v1/events and /elsewhere only", got)
			}
			rows := summaryRows(t, sum)
			for uri, row := range map[string]string{"/api/v1/hello": "GET /api/v1/hello", "/api/v1/events": "GET /api/v1/events",
				"/elsewhere": "GET /elsewhere"} {
				if rows[row] != got[uri] {
					t.Errorf("row %q counts %d, the target received %d", row, rows[row], got[uri])
				}
			}
		})
	}
}

// TestStopAtTheDeadline: with the master's default --stop-timeout 0, a run of 5 s whose
// users request, sleep 2 s and request again ends within 0.5 s of its 5 s (its stored
// window, on the master's clock), its sleeps cut: the target receives nothing after
// the run's stored end. Nothing is counted as a failure, and every request the target
// received is counted.
func TestStopAtTheDeadline(t *testing.T) {
	nap := runNappers(t, "-t", "5s")
	if nap.code != exitOK {
		t.Fatalf("exit %d\n%s", nap.code, nap.out)
	}
	run, at := nap.run, nap.at
	took := run.EndedAt.Sub(run.StartedAt)
	t.Logf("stored window %v; the target's last request at +%v", took, at[len(at)-1].Sub(run.StartedAt))
	if run.Status != store.StatusCompleted || took < 5*time.Second || took > 5500*time.Millisecond {
		t.Errorf("run %s, window %v: want completed within 0.5 s of 5 s\n%s", run.Status, took, nap.out)
	}
	if run.Summary.Requests != uint64(len(at)) || run.Summary.Failures != 0 {
		t.Errorf("stored %d requests, %d failures; the target received %d", run.Summary.Requests, run.Summary.Failures, len(at))
	}
}

// TestAbortCutsTheLoad: an ";abort" threshold that fails at the first judgement stops
// the load at once although --stop-timeout gives users 30 s: the run is stored
// aborted, within 1 s of the abort, the target receiving nothing after its end, and
// the master exits 4.
func TestAbortCutsTheLoad(t *testing.T) {
	nap := runNappers(t, "-t", "60s", "--stop-timeout", "30s", "--threshold", "max<1us;abort")
	if nap.code != exitAborted {
		t.Fatalf("exit %d, want %d\n%s", nap.code, exitAborted, nap.out)
	}
	run := nap.run
	if run.Status != store.StatusAborted || !strings.Contains(run.Reason, "max<1us;abort") {
		t.Errorf("run %s (%q), want aborted by the threshold", run.Status, run.Reason)
	}
	events, _ := nap.db.Events(run.ID)
	i := slices.IndexFunc(events, func(e store.Event) bool { return e.Kind == "threshold_abort" })
	if i < 0 {
		t.Fatalf("no threshold_abort event: %+v", events)
	}
	if d := run.EndedAt.Sub(events[i].At); d < 0 || d > time.Second {
		t.Errorf("the load ended %v after the abort, want within 1 s", d)
	}
}

// napRun is a headless run of 4 users that request, sleep 2 s and request again.
type napRun struct {
	code int
	out  string
	db   *store.DB
	run  store.Run
	at   []time.Time // when the target received each request
}

// runNappers runs the nappers with the given flags and checks that the target
// received nothing after the run's stored end.
func runNappers(t *testing.T, flags ...string) napRun {
	t.Helper()
	master, _ := binaries(t)
	script := writeScript(t, `
def nap(u):
    u.http.get("/a")
    sleep(2)
    u.http.get("/b")

Napper = user(tasks=[nap])
`)
	target := &arrivals{}
	ts := httptest.NewServer(target)
	defer ts.Close()
	db := filepath.Join(t.TempDir(), "runs.db")
	args := append([]string{"--headless", "-f", script, "-H", ts.URL, "-u", "4", "-r", "100", "--db", db, "--listen", freePort(t)}, flags...)
	var r napRun
	r.code, r.out = runMaster(t, master, args...)
	r.db, r.run = storedRun(t, db)
	var uris []string
	uris, r.at = target.read()
	for i, a := range r.at {
		if a.After(r.run.EndedAt) {
			t.Errorf("the target received %s %v after the run's end", uris[i], a.Sub(r.run.EndedAt))
		}
	}
	return r
}

// TestExitCodes: what a run that did not go right exits with, and why the stored run
// says so: tasks that raised (--exit-code-on-error, as Locust), a dry run whose tasks
// raised, a run that sent no request (5), and a Locust worker whose spawn dies on a
// class it lacks (a misspelled --locust-classes: KeyError) (5).
func TestExitCodes(t *testing.T) {
	master, _ := binaries(t)
	target := &arrivals{}
	ts := httptest.NewServer(target)
	defer ts.Close()
	raising := writeScript(t, `
def boom(u):
    u.http.get("/a")
    fail("boom")

Api = user(tasks=[boom], wait=constant(0.2))
`)
	silent := writeScript(t, `
def nothing(u):
    sleep(0.1)

Idle = user(tasks=[nothing])
`)
	run := func(t *testing.T, args ...string) (int, string, string) {
		db := filepath.Join(t.TempDir(), "runs.db")
		code, out := runMaster(t, master, append([]string{"--headless", "-H", ts.URL, "--db", db, "--listen", freePort(t)}, args...)...)
		return code, out, db
	}
	t.Run("task exceptions", func(t *testing.T) {
		code, out, _ := run(t, "-f", raising, "-u", "1", "-t", "2s")
		if code != 1 || !strings.Contains(out, "boom") {
			t.Errorf("exit %d, want 1\n%s", code, out)
		}
		if code, out, _ := run(t, "-f", raising, "-u", "1", "-t", "2s", "--exit-code-on-error", "7"); code != 7 {
			t.Errorf("--exit-code-on-error 7: exit %d\n%s", code, out)
		}
	})
	t.Run("dry run with exceptions", func(t *testing.T) {
		if code, out, _ := run(t, "-f", raising, "--dry-run", "1"); code != 1 || !strings.Contains(out, "boom") {
			t.Errorf("exit %d, want 1\n%s", code, out)
		}
	})
	t.Run("no request", func(t *testing.T) {
		code, out, db := run(t, "-f", silent, "-u", "2", "-t", "2s")
		if code != exitIncomplete {
			t.Errorf("exit %d, want %d\n%s", code, exitIncomplete, out)
		}
		if _, r := storedRun(t, db); !strings.Contains(r.Reason, "the run sent no request") {
			t.Errorf("stored reason %q", r.Reason)
		}
	})
	t.Run("Locust worker with a class it lacks", func(t *testing.T) {
		locust, err := exec.LookPath("locust")
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("locust is not installed: CI installs python3-locust (scripts/ensure-debian.sh)")
			}
			t.Skip("no locust")
		}
		zaddr := freePort(t)
		_, port, _ := strings.Cut(zaddr, ":")
		db := filepath.Join(t.TempDir(), "runs.db")
		m := exec.Command(master, "--headless", "-H", ts.URL, "-u", "2", "-r", "10", "-t", "10s", "--expect-workers", "1",
			"--expect-workers-max-wait", "60s", "--listen", freePort(t), "--locust-listen", zaddr,
			"--locust-classes", "WebsiteUsr=1", "--db", db)
		var mout strings.Builder
		m.Stdout, m.Stderr = &mout, &mout
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		w := exec.CommandContext(ctx, locust, "-f", "../../pkg/locust/testdata/locustfile.py", "--worker",
			"--master-host", "127.0.0.1", "--master-port", port)
		var wout strings.Builder
		w.Stdout, w.Stderr = &wout, &wout
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { w.Process.Kill(); w.Wait() }()
		done := make(chan error, 1)
		go func() { done <- m.Wait() }()
		var code int
		select {
		case err := <-done:
			code = exitCodeOf(t, err)
		case <-ctx.Done():
			m.Process.Kill()
			t.Fatalf("the master did not finish\n%s", mout.String())
		}
		if code != exitIncomplete {
			t.Errorf("exit %d, want %d\nmaster:\n%s\nworker:\n%s", code, exitIncomplete, mout.String(), wout.String())
		}
		// The Locust worker's spawn dies on the KeyError; the worker lives on, running
		// none of its users, which is what the master can see.
		if _, r := storedRun(t, db); !strings.Contains(r.Reason, "ran none of the users planned for it") {
			t.Errorf("stored reason %q\nmaster:\n%s\nworker:\n%s", r.Reason, mout.String(), wout.String())
		}
	})
}
