package main

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// httpFlags are the run's HTTP measurement settings, sent to every worker.
type httpFlags struct {
	Timings          bool
	ServerTimeHeader string
	MaxBody          string
	InsecureTLS      bool
	TraceContext     bool
	TraceSample      float64
	TraceURL         string // the master's only: links in the views, not sent to workers
}

func (h *httpFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&h.Timings, "timings", h.Timings, "also record CONNECT, TLS, TTFB and SERVER rows per request name")
	fs.StringVar(&h.ServerTimeHeader, "server-time-header", h.ServerTimeHeader, "response header with the target's own time, recorded as SERVER rows: X-Process-Time (seconds), X-Process-Time:ms, ...; Server-Timing is read too")
	fs.StringVar(&h.MaxBody, "max-body", h.MaxBody, "cap on each response body read: bytes, or with KiB/MiB/GiB; -1: no cap (default 10MiB)")
	fs.BoolVar(&h.InsecureTLS, "insecure-target-tls", h.InsecureTLS, "accept any TLS certificate from the target (self-signed test environments)")
	fs.BoolVar(&h.TraceContext, "trace-context", h.TraceContext, "add a W3C traceparent with a fresh trace id to every HTTP request; the slowest requests show theirs (docs/export.md)")
	fs.Float64Var(&h.TraceSample, "trace-sample", h.TraceSample, "with --trace-context, the share of requests (0..1) whose traceparent says sampled")
	fs.StringVar(&h.TraceURL, "trace-url", h.TraceURL, "link each slow request's trace id to this URL, {trace_id} replaced: https://tempo.example/trace/{trace_id}")
}

// options returns what the flags ask of every worker.
func (h *httpFlags) options() (userbehavior.HTTPOptions, error) {
	o := userbehavior.HTTPOptions{Timings: h.Timings, ServerTimeHeader: h.ServerTimeHeader, InsecureSkipVerify: h.InsecureTLS,
		TraceContext: h.TraceContext, TraceSample: h.TraceSample}
	if !(h.TraceSample >= 0 && h.TraceSample <= 1) || (h.TraceSample > 0 && !h.TraceContext) {
		return o, fmt.Errorf("--trace-sample %v: want 0..1, with --trace-context", h.TraceSample)
	}
	if h.MaxBody != "" {
		n, err := parseBytes(h.MaxBody)
		if err != nil {
			return o, fmt.Errorf("--max-body %q: %w", h.MaxBody, err)
		}
		o.MaxBody = n
	}
	if h.TraceURL != "" {
		u, err := url.Parse(strings.ReplaceAll(h.TraceURL, report.TraceIDPlaceholder, "x"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.Contains(h.TraceURL, report.TraceIDPlaceholder) {
			return o, fmt.Errorf("--trace-url %q: want an http(s) URL with %s in it", h.TraceURL, report.TraceIDPlaceholder)
		}
	}
	if len(h.ServerTimeHeader) > 256 || strings.ContainsAny(h.ServerTimeHeader, " \t\r\n") {
		return o, fmt.Errorf("--server-time-header %q: want a header name such as X-Process-Time", h.ServerTimeHeader)
	}
	return o, nil
}

// parseBytes reads 1048576, 512KiB, 10MiB, 1GiB or -1 (no cap).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "-1" {
		return -1, nil
	}
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(v), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, errors.New("want a size such as 10MiB, 512KiB or 1048576 (bytes), or -1 for no cap")
	}
	return n * mult, nil
}
