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
