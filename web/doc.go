// Package web serves the dashboard: the embedded browser assets, a JSON API over the
// live run (start, stop, edit, reset) and over stored runs (list, open, label,
// delete, compare), a Server-Sent Events stream of the live view, downloads (CSV,
// JSON, the self-contained HTML report), and the report generator the CLI uses.
//
// It does not run load or aggregate: it reads report.Live views from a Control (the
// master's controller behind a small interface) and stored runs from package store,
// through a bounded cache.
//
// Concurrency: a Server is safe for concurrent use. Each SSE client has its own
// goroutine, owned by its request; a slow client only delays itself, because the
// controller's notifications are coalesced per subscriber and never block it.
package web
