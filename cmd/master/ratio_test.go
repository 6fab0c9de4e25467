package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// ratioScript has two user classes weighted 3:1 with weighted tasks; each user
// announces its class to the target once, as it starts.
const ratioScript = `
def start_shopper(u):
    u.http.get("/start/Shopper")

def start_buyer(u):
    u.http.get("/start/Buyer")

def browse(u):
    u.http.get("/browse")

def item(u):
    u.http.get("/item")

def buy(u):
    u.http.get("/buy")

Shopper = user(weight=3, tasks={browse: 3, item: 5}, wait=constant(0.05), on_start=start_shopper)
Buyer = user(weight=1, tasks={browse: 1, buy: 2}, wait=constant(0.05), on_start=start_buyer)
`

// TestRatioMatchesTheScript starts a run of a two-class script from the
// dashboard's API on two local workers and reads GET /api/ratio (Locust's
// "Current ratio"): the configured shares are the script's own weights, the
// users running per class are the users the target saw start in each class,
// and they add up to the users the workers report.
func TestRatioMatchesTheScript(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a master with workers")
	}
	var mu sync.Mutex
	started := map[string]int{}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if class, ok := strings.CutPrefix(r.URL.Path, "/start/"); ok {
			mu.Lock()
			started[class]++
			mu.Unlock()
		}
		io.WriteString(w, "ok")
	}))
	defer target.Close()
	script := filepath.Join(t.TempDir(), "ratio.star")
	if err := os.WriteFile(script, []byte(ratioScript), 0o644); err != nil {
		t.Fatal(err)
	}

	webAddr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	out := &syncWriter{}
	go func() {
		exited <- run(ctx, []string{"--web-listen", webAddr, "--listen", "127.0.0.1:0", "--local-workers", "2",
			"-f", script, "-H", target.URL, "--db", filepath.Join(t.TempDir(), "runs.db")}, func(string) string { return "" }, out, out)
	}()
	defer func() {
		cancel()
		if code := <-exited; code != 0 {
			t.Errorf("master exited %d:\n%s", code, out.String())
		}
	}()
	base := "http://" + webAddr
	var page []byte
	waitFor(t, 30*time.Second, "the dashboard to listen", func() bool {
		resp, err := http.Get(base + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		page, _ = io.ReadAll(resp.Body)
		return resp.StatusCode == 200
	})
	m := regexp.MustCompile(`name="csrf-token" content="([0-9a-f]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token in the page")
	}
	post := func(path string, body any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Stampede-CSRF", string(m[1]))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 300 {
			msg, _ := io.ReadAll(resp.Body)
			t.Fatalf("POST %s: %d %s\n%s", path, resp.StatusCode, msg, out.String())
		}
	}
	getJSON := func(path string, v any) {
		t.Helper()
		fetchJSON(t, base+path, v)
	}
	type ratio struct {
		Classes []struct {
			Name       string  `json:"name"`
			Weight     int     `json:"weight"`
			Ratio      float64 `json:"ratio"`
			Target     int     `json:"target_users"`
			Users      int     `json:"users"`
			UsersRatio float64 `json:"users_ratio"`
			Tasks      []struct {
				Name       string  `json:"name"`
				Weight     int     `json:"weight"`
				Ratio      float64 `json:"ratio"`
				TotalRatio float64 `json:"total_ratio"`
			} `json:"tasks"`
		} `json:"classes"`
		Users int `json:"users"`
	}

	const users = 8
	post("/api/start", map[string]any{"users": users, "spawn_rate": 100, "host": target.URL, "run_time": "2m"})
	defer post("/api/stop", map[string]any{})
	var r ratio
	var workers int
	waitFor(t, 60*time.Second, "every user to start and be reported", func() bool {
		mu.Lock()
		n := started["Shopper"] + started["Buyer"]
		mu.Unlock()
		var live struct {
			Workers []struct {
				Users int `json:"users"`
			} `json:"workers"`
		}
		getJSON("/api/live", &live)
		workers = 0
		for _, w := range live.Workers {
			workers += w.Users
		}
		getJSON("/api/ratio", &r)
		return n == users && r.Users == users && workers == users
	})

	// Configured: the script's weights. Running: the target's count of users
	// started per class (3:1 of 8 is 6 and 2).
	weights := map[string]int{"Shopper": 3, "Buyer": 1}
	tasks := map[string]map[string]int{"Shopper": {"browse": 3, "item": 5}, "Buyer": {"browse": 1, "buy": 2}}
	mu.Lock()
	defer mu.Unlock()
	if len(r.Classes) != 2 {
		t.Fatalf("ratio: %+v", r)
	}
	for _, c := range r.Classes {
		if c.Weight != weights[c.Name] || math.Abs(c.Ratio-float64(weights[c.Name])/4) > 1e-9 {
			t.Errorf("%s: weight %d, share %.3f; the script says %d of 4", c.Name, c.Weight, c.Ratio, weights[c.Name])
		}
		if c.Users != started[c.Name] || c.Target != started[c.Name] || math.Abs(c.UsersRatio-float64(started[c.Name])/users) > 1e-9 {
			t.Errorf("%s: %d users running (%.3f), %d planned; the target saw %d start", c.Name, c.Users, c.UsersRatio, c.Target, started[c.Name])
		}
		sum := 0
		for _, w := range tasks[c.Name] {
			sum += w
		}
		if len(c.Tasks) != len(tasks[c.Name]) {
			t.Errorf("%s: tasks %+v; the script has %v", c.Name, c.Tasks, tasks[c.Name])
		}
		for _, tk := range c.Tasks {
			w, ok := tasks[c.Name][tk.Name]
			share := float64(w) / float64(sum)
			if !ok || tk.Weight != w || math.Abs(tk.Ratio-share) > 1e-9 || math.Abs(tk.TotalRatio-share*c.UsersRatio) > 1e-9 {
				t.Errorf("%s.%s: weight %d, share %.3f, of all %.3f; the script says %d of %d", c.Name, tk.Name, tk.Weight, tk.Ratio, tk.TotalRatio, w, sum)
			}
		}
	}
	if started["Shopper"] != 6 || started["Buyer"] != 2 {
		t.Errorf("the target saw %v users start; 3:1 of 8 is 6 and 2", started)
	}
}
