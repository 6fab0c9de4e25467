package flagenv

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "a.conf")
	os.WriteFile(conf, []byte("# team defaults\nusers = 10\nhost = http://file\n\nrate=2\n"), 0o644)
	tests := []struct {
		name        string
		args        []string
		env         map[string]string
		users, rate int
		host        string
	}{
		{"defaults", nil, nil, 1, 1, "default"},
		{"file", []string{"--config", conf}, nil, 10, 2, "http://file"},
		{"env over file", []string{"--config=" + conf}, map[string]string{"STAMPEDE_USERS": "20"}, 20, 2, "http://file"},
		{"flag over env", []string{"--config", conf, "--users", "30"}, map[string]string{"STAMPEDE_USERS": "20"}, 30, 2, "http://file"},
		{"short flag", []string{"-u", "5"}, nil, 5, 1, "default"},
		{"config from env", nil, map[string]string{"STAMPEDE_CONFIG": conf}, 10, 2, "http://file"},
		{"single letters not from env", nil, map[string]string{"STAMPEDE_U": "9"}, 1, 1, "default"},
		{"flag over file", []string{"--rate=4", "--config", conf}, nil, 10, 4, "http://file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
			fs.SetOutput(io.Discard)
			users := fs.IntP("users", "u", 1, "")
			rate := fs.Int("rate", 1, "")
			host := fs.String("host", "default", "")
			fs.String("config", "", "")
			if _, err := Parse(fs, tt.args, func(k string) string { return tt.env[k] }, "STAMPEDE_", "config"); err != nil {
				t.Fatal(err)
			}
			if *users != tt.users || *rate != tt.rate || *host != tt.host {
				t.Errorf("got users %d rate %d host %q", *users, *rate, *host)
			}
		})
	}
}

func TestErrorsAllAtOnce(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "bad.conf")
	os.WriteFile(conf, []byte("users = many\nnope = 1\njust a line\n"), 0o644)
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Int("users", 1, "")
	fs.Int("rate", 1, "")
	fs.String("config", "", "")
	_, err := Parse(fs, []string{"--config", conf}, func(k string) string {
		if k == "STAMPEDE_RATE" {
			return "fast"
		}
		return ""
	}, "STAMPEDE_", "config")
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"bad.conf:1", "bad.conf:2: unknown setting", "bad.conf:3: want name = value", "STAMPEDE_RATE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	missing := pflag.NewFlagSet("y", pflag.ContinueOnError)
	missing.String("config", "", "")
	if _, err := Parse(missing, []string{"--config", filepath.Join(dir, "missing")},
		func(string) string { return "" }, "STAMPEDE_", "config"); err == nil {
		t.Error("missing config file accepted")
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("STAMPEDE_", "spawn-rate"); got != "STAMPEDE_SPAWN_RATE" {
		t.Errorf("got %s", got)
	}
}

func TestListFromEnvReplacesFile(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "a.conf")
	os.WriteFile(conf, []byte("tags = a\ntags = b\n"), 0o644)
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	tags := fs.StringSlice("tags", nil, "")
	fs.String("config", "", "")
	env := map[string]string{"STAMPEDE_CONFIG": conf}
	if _, err := Parse(fs, nil, func(k string) string { return env[k] }, "STAMPEDE_", "config"); err != nil || !slices.Equal(*tags, []string{"a", "b"}) {
		t.Fatalf("from the file: %v (%v), want [a b]", *tags, err)
	}
	fs = pflag.NewFlagSet("x", pflag.ContinueOnError)
	tags = fs.StringSlice("tags", nil, "")
	fs.String("config", "", "")
	env["STAMPEDE_TAGS"] = "c"
	if _, err := Parse(fs, nil, func(k string) string { return env[k] }, "STAMPEDE_", "config"); err != nil || !slices.Equal(*tags, []string{"c"}) {
		t.Fatalf("file and env: %v (%v), want [c]", *tags, err)
	}
}

func TestLongDashes(t *testing.T) {
	long := func(n string) bool { return n == "users" || n == "db" }
	got := LongDashes([]string{"-users", "5", "-db=x", "-u", "3", "-ux", "--users", "-", "--", "-db"}, long)
	want := []string{"--users", "5", "--db=x", "-u", "3", "-ux", "--users", "-", "--", "-db"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
