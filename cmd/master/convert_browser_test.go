package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/stampede-load/stampede/pkg/demo"
	"github.com/stampede-load/stampede/pkg/har"
)

// TestConvertBrowserRecording: headless Chromium browses the demo shop (pages,
// a link click, and the shop's API through fetch: login, cart, checkout); its
// network events are written as a HAR; `master convert` turns that into a script;
// `master check` passes it; its dry run sends exactly the requests the browser
// sent, endpoint by endpoint as the target counts them; and a short headless run of
// it succeeds against the same endpoints.
func TestConvertBrowserRecording(t *testing.T) {
	exe := chromium(t)
	target := demo.NewTarget(demo.TargetConfig{Seed: 7, LatencyScale: -1, ErrorRate: -1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, stop, err := target.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop(context.Background())

	bctx := newBrowser(t, exe, 3*time.Minute)
	if err := chromedp.Do(bctx); err != nil { // open the tab first, so Listen misses nothing
		t.Fatal(err)
	}
	rec := newHARRecorder()
	if err := chromedp.Listen(bctx, rec.event); err != nil {
		t.Fatal(err)
	}
	before := target.Served()
	loaded := func(pathPrefix string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](fmt.Sprintf(`location.pathname.startsWith(%q) && document.readyState == "complete"`, pathPrefix),
				chromedp.WithPollingTimeout(60*time.Second))(ctx, tg)
			return err
		})
	}
	// follow navigates to a link's target, as a click would (a click's navigation
	// races the next step's wait).
	follow := func(sel string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			href, err := chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).href`, sel))(ctx, tg)
			if err != nil {
				return err
			}
			_, err = chromedp.Navigate(href)(ctx, tg)
			return err
		})
	}
	fetches := `(async () => {
		const post = (url, body) => fetch(url, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
		let r = await post("/api/login", {username: "alice", password: "secret"});
		if (!r.ok) return "login " + r.status;
		r = await fetch("/api/items?page=2", {headers: {"Accept": "application/json"}});
		const items = (await r.json()).items;
		r = await post("/api/cart", {item_id: items[3].id, quantity: 2});
		if (!r.ok) return "cart " + r.status;
		r = await fetch("/api/checkout", {method: "POST"});
		return r.ok ? "ok" : "checkout " + r.status;
	})()`
	var outcome string
	err = chromedp.Do(bctx,
		chromedp.Navigate(base+"/"),
		loaded("/"),
		follow(`ul.featured li:nth-child(3) a`),
		loaded("/api/items/"),
		chromedp.Navigate(base+"/"),
		loaded("/"),
		follow(`nav li:nth-child(2) a`),
		loaded("/api/search"),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) (err error) {
			outcome, err = chromedp.Evaluate[string](fetches, chromedp.EvalAwaitPromise)(ctx, tg)
			return err
		}),
	)
	if err != nil || outcome != "ok" {
		t.Fatalf("browsing: %v, fetches: %q", err, outcome)
	}
	waitFor(t, 60*time.Second, "every recorded request to finish", rec.done)
	browsed := diff(target.Served(), before)
	file := rec.har(bctx)

	dir := t.TempDir()
	harPath, star := filepath.Join(dir, "recording.har"), filepath.Join(dir, "load.star")
	data, _ := json.MarshalIndent(file, "", " ")
	os.WriteFile(harPath, data, 0o644)
	os.MkdirAll(filepath.Join("testdata", "output"), 0o755)
	os.WriteFile(filepath.Join("testdata", "output", "recording.har"), data, 0o644)

	master := func(args ...string) (int, string) {
		out := &syncWriter{}
		code := run(context.Background(), args, func(string) string { return "" }, out, out)
		return code, out.String()
	}
	if code, out := master("convert", harPath, "-o", star); code != 0 {
		t.Fatalf("convert exited %d:\n%s", code, out)
	}
	src, _ := os.ReadFile(star)
	os.WriteFile(filepath.Join("testdata", "output", "load.star"), src, 0o644)
	t.Logf("browser hit %v\nscript:\n%s", browsed, src)
	for _, want := range []string{
		`name="/api/items/[id]"`, `name="/api/search?q=[q]"`, `name="/api/items?page=[page]"`,
		`u.http.post("/api/login", json={"username": "alice", "password": "secret"})`,
		`json={"item_id": `, "# page: ",
	} {
		if !strings.Contains(string(src), want) {
			t.Errorf("script lacks %s", want)
		}
	}
	if strings.Contains(string(src), "shop.css") || strings.Contains(string(src), "favicon") || strings.Contains(string(src), "Cookie") {
		t.Error("the script kept a static asset or a cookie")
	}
	if code, out := master("check", star); code != 0 {
		t.Fatalf("check exited %d:\n%s", code, out)
	}

	// The dry run sends each recorded request once: the target counts exactly what it
	// counted while the browser browsed.
	before = target.Served()
	if code, out := master("--headless", "-f", star, "-H", base, "--dry-run", "1"); code != 0 {
		t.Fatalf("dry run exited %d:\n%s", code, out)
	}
	if replayed := diff(target.Served(), before); !maps.Equal(replayed, browsed) {
		t.Errorf("the dry run hit %v, the browser %v", replayed, browsed)
	}

	// A short run of two users: it succeeds, on the endpoints the browser hit and no others.
	before = target.Served()
	jsonOut := filepath.Join(dir, "run.json")
	if code, out := master("--headless", "-f", star, "-H", base, "-u", "2", "-r", "10", "-t", "3s", "--listen", "127.0.0.1:0",
		"--db", filepath.Join(dir, "runs.db"), "--json", jsonOut); code != 0 {
		t.Fatalf("run exited %d:\n%s", code, out)
	}
	ran := diff(target.Served(), before)
	if fmt.Sprint(keys(ran)) != fmt.Sprint(keys(browsed)) {
		t.Errorf("the run hit %v, the browser %v", ran, browsed)
	}
}

// diff is what the target served between two of its counts, endpoints with none left out.
func diff(after, before map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

func keys(m map[string]uint64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// harRecorder turns Chromium's network events into HAR entries, as DevTools' own
// export does: one page per document request, and the requests after it on that page.
type harRecorder struct {
	mu      sync.Mutex
	pages   []har.Page
	entries []*recordedEntry
	byID    map[network.RequestID]*recordedEntry
}

type recordedEntry struct {
	id       network.RequestID
	entry    har.Entry
	sentAt   float64 // monotonic seconds
	finished bool
	body     bool // the body can be asked for
}

func newHARRecorder() *harRecorder {
	return &harRecorder{byID: map[network.RequestID]*recordedEntry{}}
}

// event runs in chromedp's read loop: it only notes what it saw.
func (r *harRecorder) event(ev any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		if e.Request == nil {
			return
		}
		if prev := r.byID[e.RequestID]; prev != nil && e.RedirectResponse != nil {
			prev.entry.Response = response(e.RedirectResponse)
			prev.finished = true
		}
		started := time.Unix(0, int64(e.WallTime.Float64()*float64(time.Second))).UTC()
		if e.Type == network.ResourceTypeDocument {
			r.pages = append(r.pages, har.Page{ID: fmt.Sprintf("page_%d", len(r.pages)+1), Title: e.Request.URL, StartedDateTime: started})
		}
		re := &recordedEntry{id: e.RequestID, sentAt: e.Timestamp.Float64()}
		re.entry.StartedDateTime = started
		if len(r.pages) > 0 {
			re.entry.PageRef = r.pages[len(r.pages)-1].ID
		}
		re.entry.Request = har.Request{Method: e.Request.Method, URL: e.Request.URL, Headers: nameValues(e.Request.Headers)}
		if e.Request.HasPostData {
			var body []byte
			for _, p := range e.Request.PostDataEntries {
				body = append(body, p.Bytes...)
			}
			re.entry.Request.PostData = &har.PostData{MimeType: headerValue(e.Request.Headers, "Content-Type"), Text: string(body)}
		}
		r.entries = append(r.entries, re)
		r.byID[e.RequestID] = re
	case *network.EventResponseReceived:
		if re := r.byID[e.RequestID]; re != nil && e.Response != nil {
			re.entry.Response = response(e.Response)
		}
	case *network.EventLoadingFinished:
		if re := r.byID[e.RequestID]; re != nil {
			re.entry.Time = (e.Timestamp.Float64() - re.sentAt) * 1000
			re.finished, re.body = true, true
		}
	case *network.EventLoadingFailed:
		if re := r.byID[e.RequestID]; re != nil {
			re.entry.Time = (e.Timestamp.Float64() - re.sentAt) * 1000
			re.finished = true
		}
	}
}

// done tells when the last page's requests have all finished. A request of an
// earlier page that the navigation cut short (a stylesheet) may never get an event.
func (r *harRecorder) done() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pages) == 0 {
		return false
	}
	last := r.pages[len(r.pages)-1].ID
	for _, e := range r.entries {
		if e.entry.PageRef == last && !e.finished {
			return false
		}
	}
	return true
}

// har asks the browser for the response bodies and returns the recording.
func (r *harRecorder) har(bctx context.Context) *har.File {
	r.mu.Lock()
	entries := append([]*recordedEntry(nil), r.entries...)
	pages := append([]har.Page(nil), r.pages...)
	r.mu.Unlock()
	f := &har.File{Log: har.Log{Pages: pages}}
	for _, e := range entries {
		if e.body {
			// A body the browser no longer holds stays empty, as in DevTools' export.
			if b, err := chromedp.Call(bctx, network.GetResponseBody, network.GetResponseBodyParams{RequestID: e.id}); err == nil {
				e.entry.Response.Content.Text = string(b.Body)
				if !utf8.Valid(b.Body) {
					e.entry.Response.Content.Text = base64.StdEncoding.EncodeToString(b.Body)
					e.entry.Response.Content.Encoding = "base64"
				}
			}
		}
		f.Log.Entries = append(f.Log.Entries, e.entry)
	}
	return f
}

func response(resp *network.Response) har.Response {
	return har.Response{Status: int(resp.Status), Headers: nameValues(resp.Headers),
		Content: har.Content{MimeType: resp.MimeType}, RedirectURL: headerValue(resp.Headers, "Location")}
}

func nameValues(h network.Headers) []har.NameValue {
	out := make([]har.NameValue, 0, len(h))
	for k, v := range h {
		out = append(out, har.NameValue{Name: k, Value: fmt.Sprint(v)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func headerValue(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}
