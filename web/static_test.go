package web

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The dashboard's scripts stay small and escape by construction: no file over
// 500 lines, and markup reaches the page only through html.js's setHTML, which
// takes html`...` results (every interpolation escaped unless itself built by
// html`...`). Any other innerHTML, outerHTML or insertAdjacentHTML write, or
// document.write, is a place where data could become markup.
func TestScriptsEscapeByConstruction(t *testing.T) {
	const maxLines = 500
	st := sub(staticFS, "static")
	names, err := fs.Glob(st, "*.js")
	if err != nil || len(names) == 0 {
		t.Fatalf("no scripts in web/static: %v", err)
	}
	sink := regexp.MustCompile(`\.(innerHTML|outerHTML)\s*\+?=\s*(.*)`)
	other := regexp.MustCompile(`insertAdjacentHTML|document\.write|\.outerHTML\s*=|createContextualFragment|DOMParser`)
	for _, name := range names {
		b, err := fs.ReadFile(st, name)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		lines := strings.Split(strings.TrimRight(src, "\n"), "\n")
		if len(lines) > maxLines {
			t.Errorf("%s: %d lines; split it by view (at most %d)", name, len(lines), maxLines)
		}
		for i, line := range lines {
			where := func(why string) { t.Errorf("%s:%d: %s\n\t%s", name, i+1, why, strings.TrimSpace(line)) }
			if other.MatchString(line) {
				where("markup written without html.js's setHTML")
			}
			m := sink.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			rhs := strings.TrimSpace(m[2])
			switch {
			case rhs == "'';" || rhs == `"";`:
				// emptying an element
			case name == "html.js" && rhs == "h.s; // the one innerHTML sink (web/static_test.go)":
				// setHTML: h is a SafeHTML built by the html tag
			default:
				where("innerHTML set from something not built by html`...`: use Stampede.setHTML(el, html`...`)")
			}
		}
		// The report inlines these files into script elements.
		if strings.Contains(strings.ToLower(src), "</script") {
			t.Errorf("%s contains a closing script tag: it would end the report's inlined script", name)
		}
	}
	// Every script is loaded by the dashboard or the report, and every script they
	// load exists.
	for _, name := range names {
		if !slices.Contains(dashboardScripts, name) && !slices.Contains(reportScripts, name) {
			t.Errorf("%s is neither in dashboardScripts nor in reportScripts (web/assets.go)", name)
		}
	}
	for _, name := range append(slices.Clone(dashboardScripts), reportScripts...) {
		if !slices.Contains(names, name) {
			t.Errorf("web/assets.go loads %s, which is not in web/static", name)
		}
	}
}
