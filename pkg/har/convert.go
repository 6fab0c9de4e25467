package har

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
)

// DefaultStepGap is the idle time that ends a step when Options.StepGap is 0.
const DefaultStepGap = time.Second

// DefaultClass is the user class name when Options.Class is empty.
const DefaultClass = "Recorded"

// Options steer a conversion. The zero value converts the main host's requests,
// without static assets.
type Options struct {
	Source       string        // the recording's file name, for the script's header comment
	IncludeHosts []string      // further hosts (host or host:port) whose requests are kept, with absolute URLs
	KeepStatic   bool          // keep static assets (styles, scripts, images, fonts, media)
	StepGap      time.Duration // an idle gap this long starts a new step; 0 means DefaultStepGap
	Class        string        // the user class's name; "" means DefaultClass
}

// Summary says what a conversion kept and dropped.
type Summary struct {
	Host         string         // the main host, as scheme://host[:port]: the run's -H
	Requests     int            // requests in the script
	Steps        int            // tasks
	Names        int            // distinct rows (method and name) the requests record under
	Correlations int            // values read from a response and sent back later
	Dropped      map[string]int // requests left out, by reason
}

// Reasons a recorded request is left out.
const (
	DropOtherHost = "other host"
	DropStatic    = "static asset"
	DropNoReply   = "no response"
	DropRedirect  = "followed redirect"
	DropNotHTTP   = "not http(s)"
)

// call is one kept request on its way to the script.
type call struct {
	e       *Entry
	u       *url.URL
	abs     bool // on an included other host: sent with its absolute URL
	method  string
	name    string // the row name, "" when the URL is its own name
	path    []value
	query   []field
	headers []field
	body    body
	sets    []*variable // values this call's response provides that a later call sends
}

// field is a name and a value that may hold correlated variables.
type field struct {
	name string
	val  value
}

// body is a request body as the script sends it.
type body struct {
	kind string  // "", "json", "form" or "raw"
	json any     // kind json: ordered JSON (jsonObject, []any, string, jsonNumber, bool, nil)
	form []field // kind form
	raw  value   // kind raw
}

// step is a task: calls that belong together.
type step struct {
	title string
	calls []*call
}

// Convert turns a recording into a behaviour script. It fails when no request is left
// to replay.
func Convert(f *File, opts Options) (string, Summary, error) {
	if opts.StepGap <= 0 {
		opts.StepGap = DefaultStepGap
	}
	if opts.Class == "" {
		opts.Class = DefaultClass
	}
	sum := Summary{Dropped: map[string]int{}}
	entries := make([]*Entry, len(f.Log.Entries))
	for i := range f.Log.Entries {
		entries[i] = &f.Log.Entries[i]
	}
	slices.SortStableFunc(entries, func(a, b *Entry) int { return a.StartedDateTime.Compare(b.StartedDateTime) })

	main := mainHost(entries)
	if main == nil {
		return "", sum, errors.New("no http(s) request in the recording")
	}
	sum.Host = main.Scheme + "://" + main.Host
	calls := keep(entries, main, opts, sum.Dropped)
	if len(calls) == 0 {
		return "", sum, fmt.Errorf("no request left to convert (%s dropped)", droppedText(sum.Dropped))
	}
	corr := newCorrelator()
	names := map[string]bool{}
	for _, c := range calls {
		corr.request(c)
		corr.response(c)
		names[c.method+" "+c.rowName()] = true
	}
	steps := group(calls, f.Log.Pages, opts.StepGap)
	sum.Requests, sum.Steps, sum.Names, sum.Correlations = len(calls), len(steps), len(names), corr.used
	return render(steps, opts, sum, thinkTime(steps)), sum, nil
}

// mainHost is the first document's URL, else the first http(s) request's.
func mainHost(entries []*Entry) *url.URL {
	var first *url.URL
	for _, e := range entries {
		u, err := url.Parse(e.Request.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			continue
		}
		if strings.HasPrefix(e.Response.Content.MimeType, "text/html") {
			return u
		}
		if first == nil {
			first = u
		}
	}
	return first
}

// keep filters the entries and prepares a call for each one kept.
func keep(entries []*Entry, main *url.URL, opts Options, dropped map[string]int) []*call {
	var calls []*call
	follow := "" // the URL a recorded redirect pointed to: the browser's GET there is the client's to make
	for _, e := range entries {
		u, err := url.Parse(e.Request.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			dropped[DropNotHTTP]++
			continue
		}
		method := strings.ToUpper(cmp.Or(e.Request.Method, "GET"))
		if follow != "" && method == "GET" && e.Request.URL == follow {
			follow = ""
			dropped[DropRedirect]++
			continue
		}
		follow = ""
		abs := u.Scheme != main.Scheme || u.Host != main.Host
		switch {
		case abs && !slices.ContainsFunc(opts.IncludeHosts, func(h string) bool { return h == u.Host || h == u.Hostname() }):
			dropped[DropOtherHost]++
			continue
		case !opts.KeepStatic && static(u, e.Response.Content.MimeType):
			dropped[DropStatic]++
			continue
		case e.Response.Status == 0:
			dropped[DropNoReply]++
			continue
		}
		if s := e.Response.Status; s >= 300 && s < 400 {
			loc := cmp.Or(e.Response.RedirectURL, header(e.Response.Headers, "Location"))
			if l, err := u.Parse(loc); loc != "" && err == nil {
				follow = l.String()
			}
		}
		calls = append(calls, &call{e: e, u: u, abs: abs, method: method})
	}
	return calls
}

var staticExt = map[string]bool{
	".css": true, ".js": true, ".mjs": true, ".map": true, ".png": true, ".jpg": true, ".jpeg": true, ".gif": true,
	".svg": true, ".ico": true, ".webp": true, ".avif": true, ".bmp": true, ".woff": true, ".woff2": true,
	".ttf": true, ".otf": true, ".eot": true, ".mp4": true, ".webm": true, ".mp3": true, ".ogg": true, ".wav": true,
	".wasm": true,
}

// static tells a static asset by its extension or its response's type.
func static(u *url.URL, mime string) bool {
	if staticExt[strings.ToLower(path.Ext(u.Path))] {
		return true
	}
	mime = strings.ToLower(mime)
	for _, p := range []string{"text/css", "text/javascript", "application/javascript", "application/x-javascript",
		"image/", "font/", "audio/", "video/", "application/font", "application/wasm"} {
		if strings.HasPrefix(mime, p) {
			return true
		}
	}
	return false
}

// group splits the calls into steps: a new page, or an idle gap of at least gap,
// starts a new one.
func group(calls []*call, pages []Page, gap time.Duration) []*step {
	titles := map[string]string{}
	for _, p := range pages {
		titles[p.ID] = p.Title
	}
	var steps []*step
	var lastEnd time.Time
	for i, c := range calls {
		if i == 0 || c.e.PageRef != calls[i-1].e.PageRef || c.e.StartedDateTime.Sub(lastEnd) >= gap {
			steps = append(steps, &step{title: titles[c.e.PageRef]})
		}
		s := steps[len(steps)-1]
		s.calls = append(s.calls, c)
		if end := c.e.End(); i == 0 || end.After(lastEnd) {
			lastEnd = end
		}
	}
	return steps
}

// thinkTime is the recorded gaps between steps: the shortest and the longest, in
// seconds rounded out to tenths; ok is false when there is no gap (one step).
func thinkTime(steps []*step) (w wait) {
	for i := 1; i < len(steps); i++ {
		var end time.Time
		for _, c := range steps[i-1].calls {
			if e := c.e.End(); e.After(end) {
				end = e
			}
		}
		g := max(steps[i].calls[0].e.StartedDateTime.Sub(end).Seconds(), 0)
		if !w.ok || g < w.min {
			w.min = g
		}
		if !w.ok || g > w.max {
			w.max = g
		}
		w.ok = true
	}
	w.min = math.Floor(w.min*10) / 10
	w.max = math.Ceil(w.max*10) / 10
	return w
}

// wait is the class's think time.
type wait struct {
	ok       bool
	min, max float64
}

// rowName is the name the call's request records under.
func (c *call) rowName() string {
	if c.name != "" {
		return c.name
	}
	return c.u.RequestURI()
}

func droppedText(d map[string]int) string {
	if len(d) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", d[k], k)
	}
	return strings.Join(parts, ", ")
}
