package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stampede-load/stampede/pkg/store"
)

// TestMasterStopsEveryComponent starts a master with every component on (the
// dashboard with /metrics, the demo target, two local workers, the Locust listener,
// pprof) in this process, starts a run from the dashboard, and cancels the master:
// it must return 0 with every goroutine it started ended, every port it opened
// closed, and the run stored as stopped by the shutdown, not left to be marked
// interrupted.
func TestMasterStopsEveryComponent(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	db := filepath.Join(t.TempDir(), "stampede.db")
	pprofAddr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncWriter{}
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"--demo", "--db", db, "--listen", "127.0.0.1:0", "--web-listen", "127.0.0.1:0",
			"--locust-listen", "127.0.0.1:0", "--local-workers", "2", "--pprof-listen", pprofAddr},
			func(string) string { return "" }, out, out)
	}()
	find := func(re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(out.String())
		if m == nil {
			return ""
		}
		return m[1]
	}
	var web string
	waitFor(t, 60*time.Second, "the dashboard's address", func() bool {
		select {
		case code := <-exited:
			t.Fatalf("master exited with %d:\n%s", code, out)
		default:
		}
		web = find(`dashboard on http://(\S+)`)
		return web != ""
	})
	addrs := map[string]string{
		"dashboard":       web,
		"worker listener": find(`workers connect to ([^;\s]+);`),
		"demo target":     find(`demo target listening on http://(\S+)`),
		"locust listener": find(`Locust and boomer workers on (\S+)`),
		"pprof":           pprofAddr,
	}
	for name, addr := range addrs {
		if addr == "" {
			t.Fatalf("no address for the %s in the master's output:\n%s", name, out)
		}
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	get := func(url string) (int, []byte) {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes()
	}
	for _, url := range []string{"http://" + web + "/metrics", "http://" + pprofAddr + "/debug/pprof/", "http://" + addrs["demo target"] + "/"} {
		if code, _ := get(url); code != http.StatusOK {
			t.Fatalf("GET %s: %d", url, code)
		}
	}
	type live struct {
		State   string            `json:"state"`
		RunID   string            `json:"run_id"`
		Users   int               `json:"users"`
		Workers []json.RawMessage `json:"workers"`
	}
	readLive := func() (l live) {
		_, b := get("http://" + web + "/api/live")
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatalf("/api/live: %v: %s", err, b)
		}
		return l
	}
	waitFor(t, 60*time.Second, "both local workers", func() bool { return len(readLive().Workers) == 2 })
	_, page := get("http://" + web + "/")
	token := regexp.MustCompile(`name="csrf-token" content="([0-9a-f]+)"`).FindSubmatch(page)
	if token == nil {
		t.Fatalf("no CSRF token in the dashboard's page")
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+web+"/api/start", bytes.NewBufferString(`{"users":4,"spawn_rate":4,"run_time":"10m"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Stampede-CSRF", string(token[1]))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("start: %s", resp.Status)
	}
	var runID string
	waitFor(t, 60*time.Second, "the run's users", func() bool {
		l := readLive()
		runID = l.RunID
		return l.State == "running" && l.Users == 4
	})

	cancel()
	select {
	case code := <-exited:
		if code != exitOK {
			t.Fatalf("master exited with %d, want %d:\n%s", code, exitOK, out)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the master did not return within 60 s of its cancel:\n%s", out)
	}
	for name, addr := range addrs {
		if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
			c.Close()
			t.Errorf("the %s's port %s is still open after the master returned", name, addr)
		}
	}
	s, err := store.Open(db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Run(runID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status == store.StatusInterrupted || r.Status == store.StatusRunning {
		t.Errorf("the run was stored %s (%s): the shutdown did not stop it before the workers went", r.Status, r.Reason)
	}
}
