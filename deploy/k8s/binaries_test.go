package k8s_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// binDir holds the master and worker built once per test run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stampede-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// flagSpec is one flag of a binary as its -h output describes it.
type flagSpec struct {
	name   string
	isBool bool   // given without a value
	defval string // "" when the usage shows no default
	usage  string
	env    string // STAMPEDE_<NAME>; "" for one-letter aliases, which are not read from the environment
}

// binary is a built Stampede command and the flags it accepts.
type binary struct {
	name  string // "master" or "worker"
	path  string
	flags map[string]flagSpec
}

// envFlag maps STAMPEDE_SPAWN_RATE to the flag spawn-rate, if the binary has it.
func (b *binary) envFlag(env string) (flagSpec, bool) {
	for _, f := range b.flags {
		if f.env != "" && f.env == env {
			return f, true
		}
	}
	return flagSpec{}, false
}

var (
	buildOnce sync.Once
	builtBins map[string]*binary
	buildErr  error
)

// binaries builds cmd/master and cmd/worker (once per test run) and reads their
// flags from `-h`.
func binaries(t *testing.T) map[string]*binary {
	t.Helper()
	buildOnce.Do(func() { builtBins, buildErr = buildBinaries() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBins
}

func buildBinaries() (map[string]*binary, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("the go command is needed to build the binaries: %w", err)
	}
	bins := map[string]*binary{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, name := range []string{"master", "worker"} {
		wg.Go(func() {
			path := filepath.Join(binDir, name)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, goTool, "build", "-o", path, "./cmd/"+name)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go build ./cmd/%s: %v\n%s", name, err, out)
				return
			}
			flags, err := readFlags(ctx, path)
			if err != nil {
				errs[i] = fmt.Errorf("%s -h: %w", name, err)
				return
			}
			mu.Lock()
			bins[name] = &binary{name: name, path: path, flags: flags}
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return bins, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the stampede module")
	}
	return filepath.Dir(mod), nil
}

var (
	// "  -name type" or "  -x\tusage" as flag.PrintDefaults writes them.
	flagLine = regexp.MustCompile(`^  --?([A-Za-z0-9][A-Za-z0-9_.-]*)(?: ([A-Za-z0-9_.\[\]]+))?(?:\t(.*))?$`)
	// "  -u, --users int   usage" or "      --agent   usage" as pflag (cobra) writes them.
	pflagLine   = regexp.MustCompile(`^  (?:-([A-Za-z0-9]), |    )--([A-Za-z0-9][A-Za-z0-9_.-]*)(?: ([A-Za-z0-9_.\[\]]+))?  +(.*)$`)
	defaultText = regexp.MustCompile(`\(default (.*)\)\s*$`)
)

// readFlags runs `bin -h` and parses the flag usage it prints.
func readFlags(ctx context.Context, bin string) (map[string]flagSpec, error) {
	cmd := exec.CommandContext(ctx, bin, "-h")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // no STAMPEDE_* from the caller
	out, _ := cmd.CombinedOutput()                  // -h exits 0 or 2 depending on the flag package's mood
	flags := parseUsage(string(out))
	if len(flags) < 3 {
		return nil, fmt.Errorf("no flag list in its output:\n%s", out)
	}
	return flags, nil
}

func parseUsage(text string) map[string]flagSpec {
	flags := map[string]flagSpec{}
	var cur *flagSpec
	finish := func() {
		if cur == nil {
			return
		}
		cur.usage = strings.TrimSpace(cur.usage)
		if m := defaultText.FindStringSubmatch(cur.usage); m != nil {
			cur.defval = m[1]
			if s, err := strconv.Unquote(m[1]); err == nil {
				cur.defval = s
			}
		}
		flags[cur.name] = *cur
		cur = nil
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if m := pflagLine.FindStringSubmatch(line); m != nil {
			finish()
			cur = &flagSpec{name: m[2], isBool: m[3] == "", usage: m[4]}
			cur.env = "STAMPEDE_" + strings.ToUpper(strings.ReplaceAll(cur.name, "-", "_"))
			if short := m[1]; short != "" {
				spec := *cur
				finish()
				spec.name, spec.env = short, ""
				cur = &spec
				finish()
				spec.name, spec.env = m[2], "STAMPEDE_"+strings.ToUpper(strings.ReplaceAll(m[2], "-", "_"))
				cur = &spec
			}
			continue
		}
		if m := flagLine.FindStringSubmatch(line); m != nil {
			finish()
			cur = &flagSpec{name: m[1], isBool: m[2] == "", usage: m[3]}
			if len(cur.name) > 1 {
				cur.env = "STAMPEDE_" + strings.ToUpper(strings.ReplaceAll(cur.name, "-", "_"))
			}
			continue
		}
		if cur != nil && strings.HasPrefix(line, "    ") {
			cur.usage += " " + strings.TrimSpace(line)
			continue
		}
		finish()
	}
	finish()
	return flags
}

func TestParseUsage(t *testing.T) {
	text := "Usage of worker:\n" +
		"  -agent\n    \trun on the system under test\n" +
		"  -drain-timeout duration\n    \ton SIGTERM, how long (default 25s)\n" +
		"  -master string\n    \tmaster's worker address (default \"127.0.0.1:5557\")\n" +
		"  -x\tone-letter bool\n"
	text += "Flags:\n" +
		"  -u, --users int            peak number of users (default 1)\n" +
		"      --headless             run without the web UI\n" +
		"      --listen string        address workers connect to (gRPC) (default \"127.0.0.1:5557\")\n"
	got := parseUsage(text)
	want := map[string]flagSpec{
		"agent":         {name: "agent", isBool: true, usage: "run on the system under test", env: "STAMPEDE_AGENT"},
		"drain-timeout": {name: "drain-timeout", defval: "25s", usage: "on SIGTERM, how long (default 25s)", env: "STAMPEDE_DRAIN_TIMEOUT"},
		"master":        {name: "master", defval: "127.0.0.1:5557", usage: "master's worker address (default \"127.0.0.1:5557\")", env: "STAMPEDE_MASTER"},
		"u":             {name: "u", defval: "1", usage: "peak number of users (default 1)"},
		"x":             {name: "x", isBool: true, usage: "one-letter bool"},
		"users":         {name: "users", defval: "1", usage: "peak number of users (default 1)", env: "STAMPEDE_USERS"},
		"headless":      {name: "headless", isBool: true, usage: "run without the web UI", env: "STAMPEDE_HEADLESS"},
		"listen":        {name: "listen", defval: "127.0.0.1:5557", usage: "address workers connect to (gRPC) (default \"127.0.0.1:5557\")", env: "STAMPEDE_LISTEN"},
	}
	if len(got) != len(want) {
		t.Fatalf("parsed %d flags, want %d: %+v", len(got), len(want), got)
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("flag %s: got %+v, want %+v", name, got[name], w)
		}
	}
}
