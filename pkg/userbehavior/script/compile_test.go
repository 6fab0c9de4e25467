package script

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// files makes a bundle of name, content pairs; the first file is the main script.
func files(pairs ...string) Bundle {
	b := Bundle{Main: pairs[0], Files: map[string][]byte{}}
	for i := 0; i < len(pairs); i += 2 {
		b.Files[pairs[i]] = []byte(pairs[i+1])
	}
	return b
}

func mustCompile(t testing.TB, opts Options, pairs ...string) *Program {
	t.Helper()
	p, err := Compile(files(pairs...), opts)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

func class(t testing.TB, p *Program, name string) *userbehavior.Class {
	t.Helper()
	for _, c := range p.Classes() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no class %q", name)
	return nil
}

const okTask = "def t(u):\n    pass\n"

func TestCompileRejects(t *testing.T) {
	big := Bundle{Main: "main.star", Files: map[string][]byte{
		"main.star": []byte(okTask + "A = user(tasks=[t])\n"),
		"blob.bin":  make([]byte, MaxBundleBytes),
	}}
	tests := []struct {
		name   string
		bundle Bundle
		opts   Options
		want   []string // every line of the error, in order
	}{
		{"syntax error", files("main.star", "def t(u)\n    pass\n"),
			Options{}, []string{"main.star:1:9: got newline, want ':' (missing ':' after def t(u)?)"}},
		{"missing colon before a comment and a blank line", files("main.star", "def browse(user)  # the home page\n\n    user.get('/')\n"),
			Options{}, []string{"main.star:1:17: got newline, want ':' (missing ':' after def browse(user)?)"}},
		{"missing colon of an if", files("main.star", "x = 1\nif x == 1\n    x = 2\n"),
			Options{}, []string{"main.star:2:10: got newline, want ':' (missing ':' after if x == 1?)"}},
		{"undefined name", files("main.star", okTask+"A = user(tasks=[brwse])\n"),
			Options{}, []string{"main.star:3:17: undefined: brwse"}},
		{"load of a missing file", files("main.star", `load("lib/nope.star", "x")`+"\n"),
			Options{}, []string{"main.star:1:1: cannot load lib/nope.star: no file lib/nope.star in the script bundle"}},
		{"load leaving the bundle", files("main.star", `load("../x.star", "x")`+"\n"),
			Options{}, []string{`main.star:1:1: cannot load ../x.star: load path "../x.star" leaves the script bundle`}},
		{"load cycle", files("main.star", `load("a.star", "x")`+"\n", "a.star", `load("main.star", "y")`+"\nx = 1\n"),
			Options{}, []string{"a.star:1:1: cannot load main.star: load cycle: main.star -> a.star -> main.star"}},
		{"error in a loaded file", files("main.star", `load("lib/a.star", "x")`+"\n", "lib/a.star", "x = 1 +\n"),
			Options{}, []string{"lib/a.star:1:8: got newline, want primary expression"}},
		{"bundle over the cap", big,
			Options{}, []string{"script bundle is 16777255 bytes (16.0 MiB), over the limit of 16777216 bytes (16.0 MiB)"}},
		{"non-UTF-8 file", files("main.star", okTask+"A = user(tasks=[t])\n", "lib.star", "x = 1\ny = '\xff'\n"),
			Options{}, []string{"lib.star:2:6: file is not valid UTF-8"}},
		{"missing main", Bundle{Main: "main.star", Files: map[string][]byte{"x.star": nil}},
			Options{}, []string{`script bundle has no main script "main.star"`}},
		{"wrong types to http.get", files("main.star", "def t(u):\n    u.http.get(42, headers=\"X-A: 1\", timeout=\"5s\", nmae=\"x\")\nA = user(tasks=[t])\n"),
			Options{}, []string{
				"main.star:2:16: http.get: url must be string, got int",
				"main.star:2:28: http.get: headers must be dict, got string",
				"main.star:2:46: http.get: timeout must be int or float, got string",
				"main.star:2:52: http.get: unexpected keyword argument nmae",
			}},
		{"too many arguments to http.post", files("main.star", "def t(u):\n    u.http.post(\"/a\", \"/b\")\nA = user(tasks=[t])\n"),
			Options{}, []string{"main.star:2:23: http.post: got 2 positional arguments, want at most 1 (url)"}},
		{"between(5, 1)", files("main.star", okTask+"A = user(tasks=[t], wait=between(5, 1))\n"),
			Options{}, []string{"main.star:3:33: between: min 5 is greater than max 1"}},
		{"negative constant", files("main.star", okTask+"A = user(tasks=[t], wait=constant(-1))\n"),
			Options{}, []string{"main.star:3:34: constant: negative duration -1"}},
		{"zero throughput", files("main.star", okTask+"A = user(tasks=[t], wait=constant_throughput(0))\n"),
			Options{}, []string{"main.star:3:45: constant_throughput: wait constant_throughput: want tasks per second > 0, got 0"}},
		{"unknown wait", files("main.star", okTask+"A = user(tasks=[t], wait=\"fast\")\n"),
			Options{}, []string{"main.star:3:9: user: wait must be between(...), constant(...), constant_pacing(...), constant_throughput(...) or none, got string"}},
		{"class weight 0", files("main.star", okTask+"A = user(tasks=[t], weight=0)\n"),
			Options{}, []string{"main.star:3:9: user: weight must be >= 1, got 0"}},
		{"task weight 0", files("main.star", okTask+"A = user(tasks={t: 0})\n"),
			Options{}, []string{"main.star:3:9: user: the weight of task t must be >= 1, got 0"}},
		{"negative fixed_count", files("main.star", okTask+"A = user(tasks=[t], fixed_count=-2)\n"),
			Options{}, []string{"main.star:3:9: user: fixed_count must be >= 0, got -2"}},
		{"no tasks", files("main.star", "A = user(tasks={})\n"),
			Options{}, []string{"main.star:1:9: user: no tasks"}},
		{"tasks missing", files("main.star", "A = user(weight=2)\n"),
			Options{}, []string{"main.star:1:9: user: missing argument for tasks"}},
		{"unknown keyword to user()", files("main.star", okTask+"A = user(tasks=[t], wieght=2)\n"),
			Options{}, []string{"main.star:3:9: user: unexpected keyword argument \"wieght\" (did you mean weight?)"}},
		{"task not a function", files("main.star", "A = user(tasks=[\"browse\"])\n"),
			Options{}, []string{"main.star:1:9: user: a task must be a function or task(fn, ...), got string"}},
		{"task without parameters", files("main.star", "def t():\n    pass\nA = user(tasks=[t])\n"),
			Options{}, []string{"main.star:1:1: task t takes 0 parameters; want one, the user: def t(u): ..."}},
		{"task with two parameters", files("main.star", "def t(u, v):\n    pass\nA = user(tasks=[t])\n"),
			Options{}, []string{"main.star:1:1: task t takes 2 parameters; want one, the user: def t(u): ..."}},
		{"on_start not a function", files("main.star", okTask+"A = user(tasks=[t], on_start=1)\n"),
			Options{}, []string{"main.star:3:9: user: on_start must be a function taking the user, got int"}},
		{"no user classes", files("main.star", okTask),
			Options{}, []string{"main.star: no user classes: assign user(...) to a global, e.g. Shop = user(tasks=[browse])"}},
		{"tags leave nothing", files("main.star", okTask+"A = user(tasks=[task(t, tags=[\"read\"])])\n"),
			Options{Tags: []string{"write"}}, []string{`main.star: no user class has a task left after tags ["write"] and exclude-tags []`}},
		{"runtime error at the top level", files("main.star", "x = 1 // 0\n"),
			Options{}, []string{"main.star:1:7: floored division by zero"}},
		{"runaway top level", files("main.star", "while True:\n    pass\n"),
			Options{StepBudget: 1000}, []string{"main.star:1:1: Starlark computation cancelled: step budget of 1000 exceeded (runaway loop?)"}},
		{"env without default", files("main.star", "k = env(\"API_KEY\")\n"),
			Options{}, []string{`main.star:1:8: env: variable API_KEY is not set (give --var API_KEY=VALUE, or a default: env("API_KEY", "..."))`}},
		{"task-only built-in at the top level", files("main.star", "sleep(1)\n"),
			Options{}, []string{"main.star:1:6: sleep() may only be called while a user runs a task"}},
		{"bad feeder slice", files("main.star", okTask+"A = user(tasks=[t])\n"),
			Options{Slice: Slice{Index: 3, Count: 3}}, []string{"feeder slice 3 of 3: want 0 <= index < count"}},
		{"weight given to task()", files("main.star", okTask+"A = user(tasks={task(t, weight=2): 1})\n"),
			Options{}, []string{"main.star:3:21: task: no weight here; give it as the value in the tasks dict: tasks={task(fn, tags=[...]): 2}"}},
		{"every problem at once", files("main.star", okTask+"A = user(tasks=[t], weight=0)\nB = user(tasks=[t], wait=between(2, 1))\nC = user(tasks={})\n"),
			Options{}, []string{
				"main.star:3:9: user: weight must be >= 1, got 0",
				"main.star:4:33: between: min 2 is greater than max 1",
				"main.star:5:9: user: no tasks",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.bundle, tt.opts)
			if err == nil {
				t.Fatalf("Compile succeeded with classes %v, want errors", p.Classes())
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T %q is not Errors", err, err)
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestCompileWaits(t *testing.T) {
	tests := []struct {
		wait string
		want userbehavior.Wait
	}{
		{"between(0.5, 2)", userbehavior.Wait{Kind: userbehavior.WaitBetween, Min: 500 * time.Millisecond, Max: 2 * time.Second}},
		{"between(1, 1)", userbehavior.Wait{Kind: userbehavior.WaitBetween, Min: time.Second, Max: time.Second}},
		{"constant(3)", userbehavior.Wait{Kind: userbehavior.WaitConstant, Min: 3 * time.Second}},
		{"constant(250 * time.millisecond)", userbehavior.Wait{Kind: userbehavior.WaitConstant, Min: 250 * time.Millisecond}},
		{"constant_pacing(2)", userbehavior.Wait{Kind: userbehavior.WaitConstantPacing, Min: 2 * time.Second}},
		{"constant_throughput(4)", userbehavior.Wait{Kind: userbehavior.WaitConstantThroughput, PerSecond: 4}},
		{"constant_throughput(0.5)", userbehavior.Wait{Kind: userbehavior.WaitConstantThroughput, PerSecond: 0.5}},
		{"none", userbehavior.Wait{Kind: userbehavior.WaitNone}},
		{"none()", userbehavior.Wait{Kind: userbehavior.WaitNone}},
		{"None", userbehavior.Wait{Kind: userbehavior.WaitNone}},
	}
	for _, tt := range tests {
		t.Run(tt.wait, func(t *testing.T) {
			p := mustCompile(t, Options{}, "main.star", okTask+"A = user(tasks=[t], wait="+tt.wait+")\n")
			if got := class(t, p, "A").Wait; got != tt.want {
				t.Errorf("wait = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCompileClasses(t *testing.T) {
	src := `
def browse(u):
    pass
def item(u):
    pass
def buy(u):
    pass
def login(u):
    pass

Shop = user(weight=3, tasks={browse: 3, item: 5}, wait=between(0.5, 2), on_start=login, on_stop=login)
Admin = user(fixed_count=1, tasks=[buy, browse, task(item, name="view")])
Plain = user(tasks=(browse,))
Steps = user(tasks=sequence(buy, browse))
`
	p := mustCompile(t, Options{}, "main.star", src)
	var names []string
	for _, c := range p.Classes() {
		names = append(names, c.Name)
	}
	if want := []string{"Admin", "Plain", "Shop", "Steps"}; !slices.Equal(names, want) {
		t.Fatalf("classes %v, want %v", names, want)
	}
	type task struct {
		Name   string
		Weight int
	}
	tasks := func(c *userbehavior.Class) (out []task) {
		for _, t := range c.Tasks {
			out = append(out, task{t.Name, t.Weight})
		}
		return out
	}
	tests := []struct {
		class      string
		weight     int
		fixed      int
		sequential bool
		tasks      []task
		hooks      bool
	}{
		{"Shop", 3, 0, false, []task{{"browse", 3}, {"item", 5}}, true},
		{"Admin", 1, 1, true, []task{{"buy", 1}, {"browse", 1}, {"view", 1}}, false},
		{"Plain", 1, 0, true, []task{{"browse", 1}}, false},
		{"Steps", 1, 0, true, []task{{"buy", 1}, {"browse", 1}}, false},
	}
	for _, tt := range tests {
		c := class(t, p, tt.class)
		if c.Weight != tt.weight || c.FixedCount != tt.fixed || c.Sequential != tt.sequential {
			t.Errorf("%s: weight %d fixed %d sequential %v, want %d %d %v", tt.class, c.Weight, c.FixedCount, c.Sequential, tt.weight, tt.fixed, tt.sequential)
		}
		if got := tasks(c); !slices.Equal(got, tt.tasks) {
			t.Errorf("%s: tasks %v, want %v", tt.class, got, tt.tasks)
		}
		if (c.OnStart != nil) != tt.hooks || (c.OnStop != nil) != tt.hooks || c.Setup == nil {
			t.Errorf("%s: on_start %v on_stop %v setup %v", tt.class, c.OnStart != nil, c.OnStop != nil, c.Setup != nil)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", tt.class, err)
		}
	}
}

func TestCompileTags(t *testing.T) {
	src := `
def browse(u):
    pass
def buy(u):
    pass
def health(u):
    pass
Api = user(tasks={
    task(browse, tags=["read"]): 2,
    task(buy, tags=["write", "slow"]): 1,
    health: 1,
})
Writer = user(tasks=[task(buy, tags=["write"])])
`
	tests := []struct {
		name          string
		tags, exclude []string
		want          map[string][]string // class -> task names; a class absent is dropped
	}{
		{"all", nil, nil, map[string][]string{"Api": {"browse", "buy", "health"}, "Writer": {"buy"}}},
		{"read only", []string{"read"}, nil, map[string][]string{"Api": {"browse"}}},
		{"read or write", []string{"read", "write"}, nil, map[string][]string{"Api": {"browse", "buy"}, "Writer": {"buy"}}},
		{"exclude slow", nil, []string{"slow"}, map[string][]string{"Api": {"browse", "health"}, "Writer": {"buy"}}},
		{"write but not slow", []string{"write"}, []string{"slow"}, map[string][]string{"Writer": {"buy"}}},
		{"unknown tag excluded", nil, []string{"nope"}, map[string][]string{"Api": {"browse", "buy", "health"}, "Writer": {"buy"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, Options{Tags: tt.tags, ExcludeTags: tt.exclude}, "main.star", src)
			got := map[string][]string{}
			for _, c := range p.Classes() {
				for _, task := range c.Tasks {
					got[c.Name] = append(got[c.Name], task.Name)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("classes %v, want %v", got, tt.want)
			}
			for name, want := range tt.want {
				if !slices.Equal(got[name], want) {
					t.Errorf("%s: tasks %v, want %v", name, got[name], want)
				}
			}
		})
	}
}

func TestCompileLoad(t *testing.T) {
	p := mustCompile(t, Options{Vars: map[string]string{"WEIGHT": "4"}},
		"main.star", `load("lib/tasks.star", "browse", W="weight")`+"\nShop = user(tasks=[browse], weight=W)\n",
		"lib/tasks.star", `load("../common.star", "base")`+"\ndef browse(u):\n    pass\nweight = base + int(env(\"WEIGHT\"))\n",
		"common.star", "base = 1\n",
	)
	if c := class(t, p, "Shop"); c.Weight != 5 || len(c.Tasks) != 1 || c.Tasks[0].Name != "browse" {
		t.Errorf("Shop = %+v", c)
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.star", []byte(okTask+"A = user(tasks=[t])\n"))
	write("lib/x.star", []byte("x = 1\n"))
	write("data/items.csv", []byte("id\n1\n"))
	write(".git/config", []byte("skipped"))
	write(".hidden.star", []byte("skipped"))

	b, err := LoadDir(filepath.Join(dir, "main.star"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range b.Files {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"data/items.csv", "lib/x.star", "main.star"}; b.Main != "main.star" || !slices.Equal(names, want) {
		t.Errorf("bundle main %q files %v, want main.star and %v", b.Main, names, want)
	}
	if _, err := Compile(b, Options{}); err != nil {
		t.Errorf("Compile: %v", err)
	}

	write("lib/bad.star", []byte("ok = 1\n\xc3\x28\n"))
	if _, err := LoadDir(filepath.Join(dir, "main.star")); err == nil || err.Error() != "lib/bad.star:2:1: file is not valid UTF-8" {
		t.Errorf("non-UTF-8: got %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "lib/bad.star")); err != nil {
		t.Fatal(err)
	}

	write("data/big.bin", bytes.Repeat([]byte{'x'}, MaxBundleBytes))
	_, err = LoadDir(filepath.Join(dir, "main.star"))
	want := "script bundle " + dir + " is 16777266 bytes (16.0 MiB), over the limit of 16777216 bytes (16.0 MiB); largest files: data/big.bin (16.0 MiB), main.star (39 B), lib/x.star (6 B)"
	if err == nil || err.Error() != want {
		t.Errorf("over the cap:\n got %v\nwant %s", err, want)
	}

	if _, err := LoadDir(filepath.Join(dir, "nope.star")); err == nil {
		t.Error("missing main script: no error")
	}
}
