package web

import (
	"embed"
	"io/fs"
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
