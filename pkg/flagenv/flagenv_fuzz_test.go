package flagenv

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// FuzzParse feeds Parse a hostile config file, environment and command line: it
// returns an error or a filled FlagSet, and never panics.
func FuzzParse(f *testing.F) {
	f.Add("users = 10\n# comment\nrate=2.5\n", "STAMPEDE_RATE=3", "--users\x0012\x00-t=5s")
	f.Add("users\n= 3\nconfig = x\nnope = 1\n", "STAMPEDE_T=1m\nSTAMPEDE_HEADLESS=maybe", "-headless\x00--\x00rest")
	f.Add("", "", "--config")
	f.Add("\xff\xfe=\x00\n\n\r\n   =   \n", "STAMPEDE_USERS=-1\n=\nSTAMPEDE_", "---users=1\x00-=\x00--users=\x00x")
	f.Fuzz(func(t *testing.T, file, env, args string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "stampede.conf")
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
		for _, a := range strings.Split(args, "\x00") {
			if !strings.Contains(a, "config") { // the file is the fuzzed one, never another
				argv = append(argv, a)
			}
		}
		fs := pflag.NewFlagSet("fuzz", pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		users := fs.IntP("users", "u", 1, "")
		fs.Float64("rate", 1, "")
		fs.DurationP("run-time", "t", time.Second, "")
		fs.Bool("headless", false, "")
		fs.String("config", "", "")
		rest, err := Parse(fs, argv, func(k string) string { return vars[k] }, "STAMPEDE_", "config")
		if err != nil {
			if err.Error() == "" {
				t.Error("an error without a message")
			}
			return
		}
		if len(rest) > len(argv) {
			t.Errorf("%d arguments left of %d given", len(rest), len(argv))
		}
		_ = *users
	})
}
