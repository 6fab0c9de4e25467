package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseConfig gives the master a hostile command line, environment and config
// file: parseConfig returns a clear error or a Config that validates and whose
// derived values (headers, vars, worker counts) can be read without a panic.
func FuzzParseConfig(f *testing.F) {
	f.Add("-u 10 -r 2 -t 30s --headless -H http://127.0.0.1:1/", "STAMPEDE_USERS=5", "spawn-rate = 3\n")
	f.Add("--header Accept:\x00--var a=b,c --tags x,,y", "STAMPEDE_RUN_TIME=-1s", "headless = true\nusers=-3\n")
	f.Add("-t 1h2m3s4ms --listen 0.0.0.0:5557 --insecure", "STAMPEDE_EXPECT_WORKERS=1e9", "nope = 1\n= x\n")
	f.Add("-u 99999999999999999999 -r NaN -r +Inf --local-workers -7", "", "\xff\x00=\x00")
	f.Add("--web-listen [::]:0 --web-auth : --header : --var =", "STAMPEDE_HEADER=x", "# only a comment\n")
	f.Fuzz(func(t *testing.T, args, env, file string) {
		path := filepath.Join(t.TempDir(), "master.conf")
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		vars := map[string]string{"STAMPEDE_CONFIG": path}
		for _, line := range strings.Split(env, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok && k != "STAMPEDE_CONFIG" {
				vars[k] = v
			}
		}
		var argv []string
		for _, a := range strings.FieldsFunc(args, func(r rune) bool { return r == ' ' || r == '\x00' }) {
			// The fuzzer's files are the only ones read: no other config, body or
			// script file, no TLS material.
			if strings.Contains(a, "config") || strings.Contains(a, "@") || strings.Contains(a, "tls") {
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
		if cfg.Users < 0 || cfg.SpawnRate < 0 || cfg.RunTime < 0 {
			t.Errorf("accepted negative settings: users %d, rate %g, time %v", cfg.Users, cfg.SpawnRate, cfg.RunTime)
		}
		_, _ = cfg.header()
		_, _ = cfg.vars()
		if n := cfg.expectWorkers(); n < 1 {
			t.Errorf("expects %d workers", n)
		}
	})
}
