package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium finds Debian's chromium (installed by .ci/run and make test).
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: apt-get install chromium (make test and .ci/run do), or run go test -short")
	return ""
}

// TestDashboardInBrowser drives the real dashboard in headless Chromium against a
// master with a local worker and a counting target.
func TestDashboardInBrowser(t *testing.T) {
	exe := chromium(t)
	var served atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		io.WriteString(w, "ok")
	}))
	defer target.Close()

	webAddr := freePort(t)
	db := filepath.Join(t.TempDir(), "runs.db")
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	out := &syncWriter{}
	go func() {
		exited <- run(ctx, []string{"--web-listen", webAddr, "--listen", "127.0.0.1:0", "--local-workers", "1",
			"-H", target.URL + "/hello", "--wait", "20ms", "--db", db}, func(string) string { return "" }, out, out)
	}()
	defer func() {
		cancel()
		if code := <-exited; code != 0 {
			t.Errorf("master exited %d:\n%s", code, out.String())
		}
	}()
	base := "http://" + webAddr
	waitFor(t, 15*time.Second, "the dashboard to listen", func() bool {
		resp, err := http.Get(base + "/api/live")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})

	artefacts := filepath.Join("testdata", "output")
	os.MkdirAll(artefacts, 0o755)
	bctx := newBrowser(t, exe, 90*time.Second)

	type step = chromedp.Action[chromedp.Void]
	wait := func(expr string) step {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			if _, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))(ctx, t); err != nil {
				return fmt.Errorf("waiting for %s: %w", expr, err)
			}
			return nil
		})
	}
	eval := func(expr string) int {
		t.Helper()
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return n
	}
	shot := func(name string) step {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, t)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(artefacts, name+".png"), png, 0o644)
		})
	}
	startRun := func(users, label string) step {
		return chromedp.Steps(
			chromedp.Click("#btn-new"),
			chromedp.WaitVisible("#form-start"),
			chromedp.SetValue("#f-users", users),
			chromedp.SetValue("#f-rate", "50"),
			chromedp.SetValue("#f-host", target.URL+"/hello"),
			chromedp.SetValue("#f-label", label),
			chromedp.Click("#f-submit"),
		)
	}
	stateIs := func(want string) step {
		return wait(fmt.Sprintf(`document.querySelector("#state").textContent.trim().toLowerCase().includes(%q)`, want))
	}
	fail := func(what string, err error) {
		t.Helper()
		if err != nil {
			chromedp.Do(bctx, shot("failure"))
			t.Fatalf("%s: %v\nmaster output:\n%s", what, err, out.String())
		}
	}

	fail("start a run from the form", chromedp.Do(bctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible("#btn-new"),
		startRun("4", "first"),
		stateIs("running"),
		// The table fills from the live stream.
		wait(`document.querySelectorAll("#stats-table tr.row").length > 0 &&
			parseInt(document.querySelector("#stats-table tr.row td:nth-child(3)").textContent.replace(/\D/g, "")) > 20`),
	))
	rows := eval(`document.querySelectorAll("#stats-table tr.row").length`)
	firstRow, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector("#stats-table tr.row").dataset.name`))
	fail("read the table", err)
	fail("see the charts", chromedp.Do(bctx,
		chromedp.Click("#tab-charts"),
		wait(`document.querySelectorAll("#charts canvas").length >= 3`),
		shot("running"),
	))
	canvases := eval(`document.querySelectorAll("#charts canvas").length`)
	// The ratio tab: the plain user's one class runs every user the header counts.
	fail("see the ratio", chromedp.Do(bctx,
		chromedp.Click("#tab-ratio"),
		wait(`(r => !!r && r.dataset.name === "http" && r.cells[2].textContent === "100.0%" &&
			r.cells[4].textContent === document.querySelector("#users").dataset.current)(document.querySelector("#ratio-classes tr.ratio-class"))`),
	))
	fail("edit the users, stop, run again, compare", chromedp.Do(bctx,
		chromedp.Click("#btn-edit"),
		chromedp.WaitVisible("#form-edit"),
		chromedp.SetValue("#e-users", "6"),
		chromedp.SetValue("#e-rate", "50"),
		chromedp.Click("#e-submit"),
		wait(`/\b6\b/.test(document.querySelector("#users").textContent)`),
		chromedp.Click("#btn-stop"),
		stateIs("stopped"),
		// A second run, so there are two to compare. Its label is markup: every
		// view must show it as text (html.js escapes by construction).
		startRun("3", xssLabel),
		stateIs("running"),
		wait(`document.querySelectorAll("#stats-table tr.row").length > 0`),
		chromedp.Click("#btn-stop"),
		stateIs("stopped"),
		chromedp.Click("#tab-runs"),
		wait(`document.querySelectorAll("#runs-table .run-row").length >= 2`),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`document.querySelectorAll("#runs-table .pick").forEach((c, i) => { if (i < 2) c.click() }), true`)(ctx, t)
			return err
		}),
		chromedp.Click("#btn-compare"),
		wait(`document.querySelectorAll("#compare-table tr").length >= 3`),
		shot("compare"),
	))
	listed := eval(`document.querySelectorAll("#runs-table .run-row").length`)
	// The label is shown as its text, in the runs list and in Compare, and no
	// element came of it.
	var shown struct {
		Runs, Compare []string
		Injected      bool
	}
	labels, err := chromedp.Run(bctx, chromedp.Evaluate[string](`JSON.stringify({
		Runs: Array.from(document.querySelectorAll("#runs-table .label-col")).map((td) => td.textContent),
		Compare: Array.from(document.querySelectorAll("#compare-runs .compare-run td:nth-child(3)")).map((td) => td.textContent),
		Injected: document.querySelector("#xss") !== null || window.xssRan === true})`))
	fail("read the labels", err)
	if err := json.Unmarshal([]byte(labels), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.Injected || !slices.Contains(shown.Runs, xssLabel) || !slices.Contains(shown.Compare, xssLabel) {
		t.Errorf("a label of markup %q: runs list %q, compare %q, became markup: %v", xssLabel, shown.Runs, shown.Compare, shown.Injected)
	}
	if rows != 1 || firstRow != "/hello" {
		t.Errorf("stats table: %d rows, first %q; want 1 row /hello", rows, firstRow)
	}
	if canvases < 3 {
		t.Errorf("%d chart canvases, want 3", canvases)
	}
	if listed < 2 {
		t.Errorf("runs page lists %d runs, want 2", listed)
	}
	// The report link downloads the self-contained HTML report.
	attr, err := chromedp.Run(bctx, chromedp.AttributeValue("#download-report", "href"))
	fail("read the report link", err)
	href := attr.Value
	if !strings.HasPrefix(href, "http") {
		href = base + href
	}
	resp, err := http.Get(href)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `id="report-data"`) {
		t.Errorf("report download: %d, %d bytes", resp.StatusCode, len(page))
	}
	// The report is self-contained: opened from a file, with no server, it draws
	// its tables and charts, and the run's label of markup is text in it.
	file := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(file, page, 0o644); err != nil {
		t.Fatal(err)
	}
	fail("open the report from a file", chromedp.Do(bctx,
		chromedp.Navigate("file://"+file),
		wait(`document.querySelectorAll("#stats-table tr.row").length === 1 && document.querySelectorAll("#charts canvas").length >= 3 &&
			document.querySelectorAll("#events-table tr.event-row").length > 0`),
		wait(fmt.Sprintf(`document.querySelector("h1").textContent.includes(%q) && document.querySelector("#xss") === null && window.xssRan !== true`, xssLabel)),
		shot("report"),
	))
	if served.Load() == 0 {
		t.Error("the target saw no request")
	}
}

// xssLabel is a run label made of markup that would run a script if a view
// built HTML from it unescaped.
const xssLabel = `<b id="xss">second</b><img src=x onerror="window.xssRan=true">`

// fetchJSON GETs url and decodes its JSON into v; anything but 200 fails the test.
func fetchJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// syncWriter collects the master's output from several goroutines.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newBrowser starts headless Chromium (exe) for a test, with the flags this
// machine's closed network needs, and returns its context, cancelled when the
// test ends or after limit.
func newBrowser(t *testing.T, exe string, limit time.Duration) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("headless", true), chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	bctx, tcancel := context.WithTimeout(bctx, limit)
	t.Cleanup(func() { tcancel(); bcancel(); acancel() })
	// A script error anywhere on the page fails the test: a view that throws
	// shows stale or no data.
	var mu sync.Mutex
	var thrown []string
	if err := chromedp.Listen(bctx, func(ev any) {
		var d *cdpruntime.ExceptionDetails
		switch e := ev.(type) {
		case *cdpruntime.EventExceptionThrown:
			d = e.ExceptionDetails
		case cdpruntime.EventExceptionThrown:
			d = e.ExceptionDetails
		}
		if d == nil {
			return
		}
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg = d.Exception.Description
		}
		mu.Lock()
		thrown = append(thrown, fmt.Sprintf("%s:%d: %s", d.URL, d.LineNumber+1, msg))
		mu.Unlock()
	}); err != nil {
		t.Fatalf("listen to the page: %v", err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range thrown {
			t.Errorf("uncaught script error: %s", e)
		}
	})
	return bctx
}
