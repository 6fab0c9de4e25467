package web

import (
	"embed"
	"io/fs"

	"github.com/stampede-load/stampede/pkg/report"
)

// static holds the dashboard's own files; vendor holds third-party browser files the
// Makefile copies from web/node_modules (npm, package-lock.json), never committed.
//
//go:embed static
var staticFS embed.FS

//go:embed all:vendor
var vendorFS embed.FS

// commonScripts are the dashboard's scripts that the HTML report inlines too, in
// the order they load: html.js (escaping by construction) first, each file then
// adding to the global Stampede object.
var commonScripts = []string{"html.js", "format.js", "stats.js", "tables.js", "chartkit.js", "charts.js", "hostcharts.js"}

// dashboardScripts are the live dashboard's scripts, in the order they load.
var dashboardScripts = append(commonScripts[:len(commonScripts):len(commonScripts)],
	"dash.js", "live.js", "runs.js", "compare.js", "ratio.js", "app.js")

// reportScripts are what the HTML report inlines, in order.
var reportScripts = append(commonScripts[:len(commonScripts):len(commonScripts)], "report.js")

// ReportAssets are what the HTML report inlines: the chart library's and the
// dashboard's style sheets, the chart library and reportScripts.
func ReportAssets() report.HTMLAssets {
	read := func(fsys fs.FS, name string) string {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return "" // the chart library before make web: the report shows tables only
		}
		return string(b)
	}
	st, vd := sub(staticFS, "static"), sub(vendorFS, "vendor")
	a := report.HTMLAssets{Styles: []string{read(vd, "uPlot.min.css"), read(st, "app.css")},
		Scripts: []string{read(vd, "uPlot.iife.min.js")}}
	for _, name := range reportScripts {
		a.Scripts = append(a.Scripts, read(st, name))
	}
	return a
}

func sub(f embed.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the embed patterns above guarantee the directories exist
	}
	return s
}

// vendorReady reports whether the chart library was built in (make web).
func vendorReady() bool {
	_, err := fs.Stat(sub(vendorFS, "vendor"), "uPlot.iife.min.js")
	return err == nil
}
