package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseConfig gives the worker a hostile command line, environment and config
// file: a clear error or a Config that validates, never a panic.
func FuzzParseConfig(f *testing.F) {
	f.Add("--master 127.0.0.1:5557 --id w1", "STAMPEDE_SILENCE_TIMEOUT=2s", "stop-timeout = 1s\n")
	f.Add("--master :0 --silence-timeout -1s", "STAMPEDE_AGENT=yes", "master = \nid = \x00\n")
	f.Add("--health-listen x --log-level loud", "STAMPEDE_DRAIN_TIMEOUT=1e99h", "= =\nunknown = 1\n")
	f.Fuzz(func(t *testing.T, args, env, file string) {
		path := filepath.Join(t.TempDir(), "worker.conf")
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		vars := map[string]string{"STAMPEDE_CONFIG": path}
		for _, line := range strings.Split(env, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok && k != "STAMPEDE_CONFIG" && !strings.Contains(k, "TLS") {
				vars[k] = v
			}
		}
		var argv []string
		for _, a := range strings.FieldsFunc(args, func(r rune) bool { return r == ' ' || r == '\x00' }) {
			if strings.Contains(a, "config") || strings.Contains(a, "tls") {
				continue
			}
			argv = append(argv, a)
		}
		cfg, err := parseConfig(argv, func(k string) string { return vars[k] })
		if err != nil {
			if err.Error() == "" {
				t.Error("an error without a message")
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parseConfig accepted a Config that does not validate: %v", err)
		}
		if cfg.SilenceTimeout <= 0 {
			t.Errorf("accepted silence timeout %v: a worker that never brakes", cfg.SilenceTimeout)
		}
	})
}
