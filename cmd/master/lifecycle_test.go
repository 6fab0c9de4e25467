package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lifecycleTarget counts what a setup/teardown script does: setup calls, the users'
// hellos and hits with the right token and with any other, and teardown calls with
// the data setup returned.
type lifecycleTarget struct {
	mu                      sync.Mutex
	token                   string
	setups, teardowns       int
	teardownBad             int
	hellos, hits, badHellos int
	badHits                 int
	users                   map[string]bool
}

func (lt *lifecycleTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	switch r.URL.Path {
	case "/setup":
		lt.setups++
		lt.token = fmt.Sprintf("tok-%d-%d", time.Now().UnixNano(), lt.setups)
		fmt.Fprintf(w, `{"token": %q}`, lt.token)
	case "/hello", "/hit":
		ok := lt.token != "" && r.Header.Get("X-Token") == lt.token
		switch {
		case r.URL.Path == "/hello" && ok:
			lt.hellos++
			lt.users[r.Header.Get("X-User")] = true
		case r.URL.Path == "/hello":
			lt.badHellos++
		case ok:
			lt.hits++
		default:
			lt.badHits++
		}
		if !ok {
			w.WriteHeader(http.StatusForbidden)
		}
	case "/teardown":
		lt.teardowns++
		var body struct {
			Token string `json:"token"`
		}
		b, _ := io.ReadAll(r.Body)
		if json.Unmarshal(b, &body) != nil || body.Token != lt.token {
			lt.teardownBad++
		}
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (lt *lifecycleTarget) read(fn func()) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	fn()
}

const lifecycleScript = `
def setup(ctx):
    r = ctx.http.post("/setup")
    check(r.ok, "no token")
    return {"token": r.json()["token"], "fail": env("FAIL", "")}

def hello(u):
    u.http.post("/hello", headers={"X-Token": u.setup["token"], "X-User": "%d/%d" % (u.worker_index, u.id)})

def hit(u):
    u.http.get("/hit", headers={"X-Token": u.setup["token"]})

def teardown(ctx, data):
    ctx.http.post("/teardown", json={"token": data["token"]})
    if data["fail"] == "teardown":
        fail_here = {}["missing"]

Hitter = user(tasks=[hit], wait=constant(0.05), on_start=hello)
`

// TestSetupTeardownOncePerRun runs the real master with two real worker processes:
// setup runs once before any user (the target's count), every user reads its value
// (each user's hello carries the token), the users' requests alone make the run's
// totals, and teardown runs once with setup's data — after a run that ends by itself,
// after Ctrl-C (SIGINT to the master), and a failing teardown exits 1. A failing
// setup starts no user, prints its traceback and stores the run as failed.
func TestSetupTeardownOncePerRun(t *testing.T) {
	masterBin, workerBin := binaries(t)
	dir := t.TempDir()
	star := filepath.Join(dir, "main.star")
	os.WriteFile(star, []byte(lifecycleScript), 0o644)

	type run struct {
		target *lifecycleTarget
		out    *bytes.Buffer
		code   int
		json   string
		db     string
	}
	start := func(t *testing.T, name, script string, interrupt bool, extra ...string) run {
		lt := &lifecycleTarget{users: map[string]bool{}}
		ts := httptest.NewServer(lt)
		defer ts.Close()
		addr := freePort(t)
		r := run{target: lt, out: &bytes.Buffer{}, json: filepath.Join(dir, name+".json"), db: filepath.Join(dir, name+".db")}
		args := append([]string{"--headless", "-f", script, "-H", ts.URL, "-u", "4", "-r", "20", "--local-workers", "0",
			"--expect-workers", "2", "--listen", addr, "--db", r.db, "--json", r.json}, extra...)
		m := exec.Command(masterBin, args...)
		m.Stdout, m.Stderr = r.out, r.out
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			w := exec.Command(workerBin, "--master", addr, "--id", fmt.Sprintf("w%d", i), "--log-level", "error")
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { w.Process.Kill(); w.Wait() }()
		}
		if interrupt {
			waitFor(t, 60*time.Second, "every user's load", func() (ok bool) {
				lt.read(func() { ok = lt.hits > 40 && len(lt.users) >= 4 })
				return ok
			})
			m.Process.Signal(syscall.SIGINT)
		}
		done := make(chan error, 1)
		go func() { done <- m.Wait() }()
		select {
		case <-done:
		case <-time.After(3 * time.Minute):
			m.Process.Kill()
			<-done
			t.Fatalf("%s: the master did not exit:\n%s", name, r.out)
		}
		r.code = m.ProcessState.ExitCode()
		return r
	}
	total := func(t *testing.T, r run) uint64 {
		var s struct {
			Total struct {
				Requests uint64 `json:"requests"`
			} `json:"total"`
		}
		data, err := os.ReadFile(r.json)
		if err != nil || json.Unmarshal(data, &s) != nil {
			t.Fatalf("summary %s: %v %s", r.json, err, data)
		}
		return s.Total.Requests
	}

	t.Run("ends by itself", func(t *testing.T) {
		r := start(t, "done", star, false, "-t", "3s")
		lt := r.target
		lt.read(func() {
			if r.code != 0 || lt.setups != 1 || lt.teardowns != 1 || lt.teardownBad != 0 || lt.badHellos+lt.badHits != 0 ||
				lt.hellos < 4 || len(lt.users) != lt.hellos {
				t.Errorf("exit %d; setups %d, teardowns %d (%d with other data), hellos %d from %d users, hits %d, bad %d/%d\n%s",
					r.code, lt.setups, lt.teardowns, lt.teardownBad, lt.hellos, len(lt.users), lt.hits, lt.badHellos, lt.badHits, r.out)
			}
			// The run's totals are the users' requests: setup's and teardown's are apart.
			if got := total(t, r); got != uint64(lt.hellos+lt.hits) {
				t.Errorf("run total %d requests, the users sent %d", got, lt.hellos+lt.hits)
			}
		})
		if !strings.Contains(r.out.String(), "setup requests (not in the run's totals)") {
			t.Errorf("no setup table:\n%s", r.out)
		}
	})

	t.Run("Ctrl-C", func(t *testing.T) {
		r := start(t, "sigint", star, true, "-t", "5m")
		lt := r.target
		lt.read(func() {
			if r.code != exitAborted || lt.setups != 1 || lt.teardowns != 1 || lt.teardownBad != 0 || lt.badHits+lt.badHellos != 0 {
				t.Errorf("exit %d (want %d); setups %d, teardowns %d (%d bad), bad requests %d\n%s",
					r.code, exitAborted, lt.setups, lt.teardowns, lt.teardownBad, lt.badHits+lt.badHellos, r.out)
			}
		})
	})

	t.Run("failing teardown", func(t *testing.T) {
		r := start(t, "teardown", star, false, "-t", "2s", "--var", "FAIL=teardown")
		out := r.out.String()
		r.target.read(func() {
			if r.code != exitFailure || r.target.teardowns != 1 || !strings.Contains(out, "teardown failed: ") ||
				!strings.Contains(out, "Traceback") || !strings.Contains(out, "main.star:16") {
				t.Errorf("exit %d (want %d), teardowns %d:\n%s", r.code, exitFailure, r.target.teardowns, out)
			}
		})
		s, stored := storedRun(t, r.db)
		events, _ := s.Events(stored.ID)
		found := false
		for _, e := range events {
			found = found || (e.Kind == "teardown_failed" && strings.Contains(e.Detail, "main.star:16"))
		}
		if !found {
			t.Errorf("no teardown_failed event with the traceback in %+v", events)
		}
	})

	t.Run("failing setup", func(t *testing.T) {
		bad := filepath.Join(dir, "bad")
		os.MkdirAll(bad, 0o755)
		badStar := filepath.Join(bad, "main.star")
		os.WriteFile(badStar, []byte(strings.Replace(lifecycleScript, `r.json()["token"]`, `r.json()["no_such_key"]`, 1)), 0o644)
		r := start(t, "setupfail", badStar, false, "-t", "2s")
		out := r.out.String()
		r.target.read(func() {
			if r.code != exitFailure || r.target.setups != 1 || r.target.hellos+r.target.hits+r.target.badHits+r.target.badHellos != 0 ||
				r.target.teardowns != 0 || !strings.Contains(out, "setup failed: ") || !strings.Contains(out, "Traceback") {
				t.Errorf("exit %d, setups %d, user requests %d, teardowns %d:\n%s", r.code, r.target.setups,
					r.target.hellos+r.target.hits+r.target.badHits+r.target.badHellos, r.target.teardowns, out)
			}
		})
		s, stored := storedRun(t, r.db)
		events, _ := s.Events(stored.ID)
		if stored.Status != "failed" || !strings.Contains(stored.Reason, "setup failed") || len(events) != 1 ||
			!strings.Contains(events[0].Detail, "Traceback") {
			t.Errorf("stored %+v, events %+v", stored, events)
		}
	})
}
