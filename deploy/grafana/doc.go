// Package grafana holds no code: deploy/grafana is two Grafana dashboards, one for
// the series master --remote-write pushes (stampede-remote-write.json) and one for
// the master's scrape endpoint (stampede-scrape.json); docs/export.md says how to
// use them. Its test parses every panel's PromQL with Prometheus' own parser and
// checks each metric it names against what Stampede really exports: a push decoded
// from pkg/export, and a scrape of web's /metrics.
package grafana
