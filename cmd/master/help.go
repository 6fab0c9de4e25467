package main

import "github.com/stampede-load/stampede/cmd/internal/cli"

// flagGroups files the run's flags by topic in `master --help` and docs/cli.md. Every
// flag is in exactly one group (cli.SetGroups checks).
var flagGroups = []cli.Group{
	{Name: "load", Title: "Load: how many users, how fast, for how long",
		Example: "master --headless -u 100 -r 10 -t 5m -H http://127.0.0.1:8080/",
		Flags: []string{"headless", "users", "spawn-rate", "run-time", "executor", "rate", "stages", "shape", "max-users",
			"dry-run", "stop-timeout", "stop-wait"}},
	{Name: "scenario", Title: "Scenario: what each user does",
		Example: "master --headless -f examples/shop/main.star -H http://127.0.0.1:8080 -T browse --var SEED=7",
		Flags: []string{"host", "method", "header", "body", "grpc-method", "proto", "wait", "demo", "script", "var", "tags", "exclude-tags",
			"http-client", "timings", "server-time-header", "max-body", "insecure-target-tls", "trace-context", "trace-sample", "trace-url"}},
	{Name: "output", Title: "Output: what is stored, written and judged",
		Example: "master --headless ... --threshold 'p95<300ms' --junit thresholds.xml --html report.html --json summary.json",
		Flags: []string{"db", "label", "json", "csv", "csv-full-history", "only-summary", "html", "junit", "threshold", "baseline", "exit-code-on-error",
			"log-level", "config"}},
	{Name: "export", Title: "Export: push the live run to Prometheus (docs/export.md)",
		Example: "master --headless ... --remote-write http://127.0.0.1:9090/api/v1/write --tag testid=checkout-42",
		Flags: []string{"remote-write", "remote-write-header", "remote-write-auth", "remote-write-ca", "remote-write-cert",
			"remote-write-key", "remote-write-insecure-tls", "remote-write-interval", "tag"}},
	{Name: "cluster", Title: "Cluster: workers, in-process and remote",
		Example: "master --headless --expect-workers 4 --listen 0.0.0.0:5557 ...  (with security flags)",
		Flags: []string{"listen", "expect-workers", "expect-workers-max-wait", "local-workers", "heartbeat-timeout",
			"max-workers", "min-workers", "saturation-cpu", "sched-lag-limit", "locust-listen", "locust-classes"}},
	{Name: "security", Title: "Security: who may join as a worker",
		Example: "STAMPEDE_TOKEN=s3cret master --listen 0.0.0.0:5557 --tls-cert master.crt --tls-key master.key --tls-ca ca.crt",
		Flags:   []string{"token", "tls-cert", "tls-key", "tls-ca", "insecure", "locust-insecure"}},
	{Name: "web", Title: "Web: the dashboard and profiles",
		Example: "master --web-listen 0.0.0.0:8089 --web-auth admin:s3cret",
		Flags:   []string{"web-listen", "web-auth", "web-insecure", "web-cache-runs", "web-cache-ttl", "pprof-listen"}},
}
