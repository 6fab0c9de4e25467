package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// TestDashboardTellsTheTruth drives two runs from one master's dashboard in
// headless Chromium and checks what issue 16 found wrong: the start form and the
// header carry the master's flags; the badge says "spawning" while users ramp up;
// host charts are full width, live to the last second and follow the window to
// 800 px with their legend whole; the plotted RPS series adds up to the run's
// exact total (Σ rps × span); the slowest requests show their URL; a stopped
// worker is not late; no run reports report_missing; clicking an endpoint
// charts it.
func TestDashboardTellsTheTruth(t *testing.T) {
	exe := chromium(t)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer target.Close()

	webAddr := freePort(t)
	db := filepath.Join(t.TempDir(), "runs.db")
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	out := &syncWriter{}
	host := target.URL + "/hello?q=1"
	go func() {
		exited <- run(ctx, []string{"--web-listen", webAddr, "--listen", "127.0.0.1:0", "--local-workers", "1",
			"-H", host, "-u", "7", "-r", "20", "--wait", "20ms", "--db", db}, func(string) string { return "" }, out, out)
	}()
	defer func() {
		cancel()
		if code := <-exited; code != 0 {
			t.Errorf("master exited %d:\n%s", code, out.String())
		}
	}()
	base := "http://" + webAddr
	waitFor(t, 30*time.Second, "the dashboard to listen", func() bool {
		resp, err := http.Get(base + "/api/live")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	getJSON := func(path string, v any) {
		t.Helper()
		fetchJSON(t, base+path, v)
	}

	artefacts := filepath.Join("testdata", "output")
	os.MkdirAll(artefacts, 0o755)
	bctx := newBrowser(t, exe, 3*time.Minute)

	type step = chromedp.Action[chromedp.Void]
	// Deadlines are generous: the machine may be busy; nothing waits a fixed time.
	wait := func(expr string) step {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			if _, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(60*time.Second))(ctx, t); err != nil {
				return fmt.Errorf("waiting for %s: %w", expr, err)
			}
			return nil
		})
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
	fail := func(what string, err error) {
		t.Helper()
		if err != nil {
			chromedp.Do(bctx, shot("truth-failure"))
			t.Fatalf("%s: %v\nmaster output:\n%s", what, err, out.String())
		}
	}
	evalJSON := func(expr string, v any) {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string]("JSON.stringify("+expr+")"))
		fail("evaluate "+expr, err)
		if err := json.Unmarshal([]byte(s), v); err != nil {
			t.Fatalf("%s: %v: %s", expr, err, s)
		}
	}
	stateIs := func(want string) step {
		return wait(fmt.Sprintf(`document.querySelector("#state").dataset.state === %q`, want))
	}

	// The form and the header carry the master's flags.
	fail("open the dashboard", chromedp.Do(bctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible("#btn-new"),
		chromedp.Click("#btn-new"),
		chromedp.WaitVisible("#form-start"),
	))
	var form struct{ Users, Rate, Host, Header string }
	evalJSON(`{Users: document.querySelector("#f-users").value, Rate: document.querySelector("#f-rate").value,
		Host: document.querySelector("#f-host").value, Header: document.querySelector("#host").textContent}`, &form)
	if form.Users != "7" || form.Rate != "20" || form.Host != host || form.Header != host {
		t.Errorf("form pre-filled with %+v; want 7 users, rate 20, host and header %s", form, host)
	}

	// Run 1: bounded, ends by itself. Its charts must end with its last second.
	fail("run 1", chromedp.Do(bctx,
		chromedp.SetValue("#f-users", "3"),
		chromedp.SetValue("#f-rate", "50"),
		chromedp.SetValue("#f-runtime", "6s"),
		chromedp.SetValue("#f-label", "truth-1"),
		chromedp.Click("#f-submit"),
		wait(`["running", "spawning"].includes(document.querySelector("#state").dataset.state)`),
		chromedp.Click("#tab-charts"),
		wait(`document.querySelectorAll("#host-charts canvas").length >= 2`),
		shot("truth-running"),
		stateIs("stopped"),
	))
	var live struct {
		RunID    string  `json:"run_id"`
		ElapsedS float64 `json:"elapsed_s"`
	}
	getJSON("/api/live", &live)
	run1 := live.RunID
	var stored struct {
		Run struct {
			Requests  uint64  `json:"requests"`
			Failures  uint64  `json:"failures"`
			DurationS float64 `json:"duration_s"`
		} `json:"run"`
	}
	getJSON("/api/runs/"+run1, &stored)
	if stored.Run.Requests == 0 {
		t.Fatalf("run %s stored no requests", run1)
	}

	// Host charts: every one as wide as the panel, with points up to the run's
	// last second (they are read again after the stop).
	type hostChart struct {
		Title string      `json:"title"`
		Width float64     `json:"width"`
		Data  [][]float64 `json:"data"`
	}
	hostsUpToEnd := fmt.Sprintf(`window.stampedeDashboard.hosts().length >= 2 &&
		window.stampedeDashboard.hosts().every((c) => c.data[0].length > 0 && c.data[0][c.data[0].length - 1] >= %f)`, live.ElapsedS-2)
	fail("host charts to the last second", chromedp.Do(bctx, wait(hostsUpToEnd), shot("truth-stopped")))
	var hosts []hostChart
	evalJSON(`window.stampedeDashboard.hosts()`, &hosts)
	var panel float64
	evalJSON(`document.querySelector("#host-charts").clientWidth`, &panel)
	for _, c := range hosts {
		if c.Width < 0.95*panel-4 {
			t.Errorf("host chart %q is %.0f px wide in a %.0f px panel: want full width", c.Title, c.Width, panel)
		}
	}

	// The plotted RPS series, read from the page: Σ rps × span = the run's total.
	var series struct {
		T     []float64  `json:"t"`
		SpanS []*float64 `json:"span_s"`
		RPS   []*float64 `json:"rps"`
		Fail  []*float64 `json:"fail_per_s"`
	}
	fail("the whole series", chromedp.Do(bctx, wait(fmt.Sprintf(
		`(s => s && s.t.length > 0 && s.t[s.t.length - 1] >= %f)(window.stampedeDashboard.series())`, stored.Run.DurationS-1.5))))
	evalJSON(`window.stampedeDashboard.series()`, &series)
	sum := func(rates []*float64) float64 {
		total := 0.0
		for i, r := range rates {
			if r == nil {
				continue // a gap
			}
			span := 0.0
			switch {
			case series.SpanS[i] != nil:
				span = *series.SpanS[i]
			case i > 0:
				span = series.T[i] - series.T[i-1]
			default:
				span = series.T[0]
			}
			total += *r * span
		}
		return total
	}
	if got := sum(series.RPS); math.Abs(got-float64(stored.Run.Requests)) > 1 {
		pts := ""
		for i := range series.T {
			pts += fmt.Sprintf(" [t %.2f span %v rps %v]", series.T[i], deref(series.SpanS[i]), deref(series.RPS[i]))
		}
		var full struct {
			Series []struct {
				T     float64 `json:"t"`
				SpanS float64 `json:"span_s"`
				RPS   float64 `json:"rps"`
			} `json:"series"`
		}
		getJSON("/api/runs/"+run1, &full)
		t.Errorf("plotted RPS series: Σ rps × span = %.1f requests over %d points; the run's total is %d:%s\nstored series: %+v",
			got, len(series.T), stored.Run.Requests, pts, full.Series)
	}
	if got := sum(series.Fail); math.Abs(got-float64(stored.Run.Failures)) > 1 {
		t.Errorf("plotted failures/s: Σ = %.1f, the run's failures %d", got, stored.Run.Failures)
	}

	// Drag to zoom: a drag across the middle of the RPS chart zooms every chart
	// of the set to that span; Reset zoom shows the whole run again.
	type span struct{ Min, Max float64 }
	var whole, zoomed, reset []span
	evalJSON(`window.stampedeDashboard.scales()`, &whole)
	var box struct{ X, Y, W, H float64 }
	evalJSON(`(el => { el.scrollIntoView({block: "center"}); const r = el.getBoundingClientRect();
		return {X: r.left, Y: r.top, W: r.width, H: r.height}; })(document.querySelector("#charts .u-over"))`, &box)
	held := func(p *input.DispatchMouseEventParams) { p.Button, p.Buttons = input.MouseButtonLeft, 1 }
	x0, x1, y := box.X+box.W/4, box.X+3*box.W/4, box.Y+box.H/2
	fail("drag to zoom", chromedp.Do(bctx,
		chromedp.MouseEvent(chromedp.MouseMoved, x0, y),
		chromedp.MouseEvent(chromedp.MousePressed, x0, y, held, chromedp.ClickCount(1)),
		chromedp.MouseEvent(chromedp.MouseMoved, (x0+x1)/2, y, held),
		chromedp.MouseEvent(chromedp.MouseMoved, x1, y, held),
		chromedp.MouseEvent(chromedp.MouseReleased, x1, y, held, chromedp.ClickCount(1)),
		wait(`!document.querySelector("#charts .chart-reset").hidden`),
	))
	evalJSON(`window.stampedeDashboard.scales()`, &zoomed)
	if len(whole) < 3 || len(zoomed) != len(whole) {
		t.Fatalf("chart ranges: %d before the zoom, %d after; want 3 each", len(whole), len(zoomed))
	}
	// The drag covered the middle half of the plot: the range is about half of
	// it, inside it, the same on every chart.
	full := whole[0].Max - whole[0].Min
	for i, z := range zoomed {
		if z != zoomed[0] || z.Min <= whole[i].Min || z.Max >= whole[i].Max || math.Abs((z.Max-z.Min)-full/2) > full/10 {
			t.Errorf("chart %d zoomed to %+v; want the middle half of %+v, as chart 0 (%+v)", i, z, whole[i], zoomed[0])
		}
	}
	fail("reset zoom", chromedp.Do(bctx,
		chromedp.Click("#charts .chart-reset"),
		wait(`document.querySelector("#charts .chart-reset").hidden`),
	))
	evalJSON(`window.stampedeDashboard.scales()`, &reset)
	if !slices.Equal(reset, whole) {
		t.Errorf("after Reset zoom the charts show %+v; before the zoom %+v", reset, whole)
	}

	// PNG: the RPS chart's button downloads a PNG as wide as the chart's canvas,
	// taller (its title and legend are added).
	downloads := t.TempDir()
	var canvas struct{ W, H int }
	evalJSON(`(c => ({W: c.width, H: c.height}))(document.querySelector("#charts canvas"))`, &canvas)
	fail("download a chart as PNG", chromedp.Do(bctx,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
			return err
		}),
		chromedp.Click("#charts .chart-png"),
	))
	file := filepath.Join(downloads, "stampede-requests-per-second.png")
	waitFor(t, 60*time.Second, "the PNG download", func() bool {
		_, err := os.Stat(file)
		return err == nil
	})
	var img image.Config
	waitFor(t, 30*time.Second, "the PNG to be whole", func() bool {
		f, err := os.Open(file)
		if err != nil {
			return false
		}
		defer f.Close()
		img, err = png.DecodeConfig(f)
		return err == nil
	})
	if img.Width != canvas.W || img.Height <= canvas.H {
		t.Errorf("the chart's PNG is %dx%d; its canvas %dx%d: want as wide, taller", img.Width, img.Height, canvas.W, canvas.H)
	}

	// At 800 px the charts follow the window and no legend is cut.
	fail("800 px", chromedp.Do(bctx,
		chromedp.EmulateViewport(800, 1000),
		wait(`window.stampedeDashboard.hosts().every((c) => c.width <= 800)`),
		wait(`Array.from(document.querySelectorAll("#panel-charts .u-legend")).every((l) => l.scrollWidth <= l.clientWidth + 1)`),
		shot("truth-800px"),
		chromedp.EmulateViewport(1400, 1000),
	))

	// The slowest requests name the URL asked for, query included.
	fail("slowest", chromedp.Do(bctx,
		chromedp.Click("#tab-slowest"),
		wait(fmt.Sprintf(`document.querySelectorAll("#slowest-table tr.slow-row").length > 0 &&
			Array.from(document.querySelectorAll("#slowest-table tr.slow-row td:nth-child(4)")).every((td) => td.textContent === %q)`, host)),
	))

	// A stopped worker is "stopped", never late, however old its last report.
	fail("workers after the stop", chromedp.Do(bctx, chromedp.Click("#tab-workers")))
	waitFor(t, 60*time.Second, "the worker's last report to be older than 6 s", func() bool {
		var l struct {
			Workers []struct {
				Age float64 `json:"last_report_age_s"`
			} `json:"workers"`
		}
		getJSON("/api/live", &l)
		return len(l.Workers) > 0 && l.Workers[0].Age > 6
	})
	fail("worker row", chromedp.Do(bctx,
		wait(`document.querySelectorAll("#workers-table tr.worker-row").length === 1 &&
			document.querySelector("#workers-table tr.worker-row .badge").textContent === "stopped" &&
			parseFloat(document.querySelector("#workers-table tr.worker-row td:last-child").textContent) > 6`),
	))
	var staleRows int
	evalJSON(`document.querySelectorAll("#workers-table tr.stale").length`, &staleRows)
	if staleRows != 0 {
		t.Errorf("%d worker rows drawn late after a normal stop", staleRows)
	}

	// Run 2 from the same master: spawning while ramping, then running.
	fail("run 2", chromedp.Do(bctx,
		chromedp.Click("#tab-stats"),
		chromedp.Click("#btn-new"),
		chromedp.WaitVisible("#form-start"),
		chromedp.SetValue("#f-users", "4"),
		chromedp.SetValue("#f-rate", "2"),
		chromedp.SetValue("#f-runtime", "8s"),
		chromedp.SetValue("#f-label", "truth-2"),
		chromedp.Click("#f-submit"),
		stateIs("spawning"),
		stateIs("running"),
		// Clicking the endpoint's row charts it.
		wait(`document.querySelectorAll("#stats-table tr.row").length > 0`),
		chromedp.Click("#stats-table tr.row td.name"),
		wait(`document.querySelectorAll("#endpoint-charts canvas").length >= 2`),
		stateIs("stopped"),
		shot("truth-run2"),
	))
	getJSON("/api/live", &live)
	run2 := live.RunID
	if run2 == run1 {
		t.Fatalf("the second run has the first one's id %s", run1)
	}
	var ep struct {
		Series []struct {
			RPS float64 `json:"rps"`
		} `json:"series"`
	}
	getJSON("/api/runs/"+run2+"/endpoint?method=GET&name="+url.QueryEscape("/hello?q=1"), &ep)
	if len(ep.Series) < 3 {
		t.Errorf("endpoint series of run 2: %d points", len(ep.Series))
	}

	// Neither run reports missing reports, nor a recovery from a saturation it
	// never had.
	for _, id := range []string{run1, run2} {
		var evs []struct{ Kind, Worker, Detail string }
		getJSON("/api/runs/"+id+"/events", &evs)
		hot := map[string]bool{}
		for _, e := range evs {
			switch e.Kind {
			case "report_missing":
				t.Errorf("run %s: %s %s %s", id, e.Kind, e.Worker, e.Detail)
			case "generator_saturated", "generator_lagging":
				hot[e.Worker] = true
			case "generator_recovered":
				if !hot[e.Worker] {
					t.Errorf("run %s: %s %s %s without a saturation before it", id, e.Kind, e.Worker, e.Detail)
				}
				delete(hot, e.Worker)
			}
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
