// Package layering_test keeps the import rules of docs/architecture.md and STYLE.md
// from rotting: it asks `go list -deps` what each package really imports.
package layering_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/stampede-load/stampede"

// layer is a package's place in the layering.
type layer struct {
	// floor: 1 is the bottom. A package imports (directly or not) only packages of
	// its own floor or lower ones.
	floor int
	// may lists, below the top floor, every package of ours the package may import,
	// directly or not; anything else is forbidden. Top-floor packages (commands,
	// scripts, tests of the whole) wire everything and may import any package below
	// them.
	may []string
}

const top = 5

// layers has one row per package of the module (or per tree of them), floors as in
// docs/architecture.md: a package with no row fails the test, so a new package is
// placed when it is added.
var layers = map[string]layer{
	// 1: numbers, planning, sampling, flags: nothing of ours, save threshold → aggregate.
	"pkg/aggregate":           {1, nil},
	"pkg/aggregate/threshold": {1, []string{"pkg/aggregate"}},
	"pkg/scheduler":           {1, nil},
	"pkg/telemetry":           {1, nil},
	"pkg/flagenv":             {1, nil},
	// 2: users and scripts; the store.
	"pkg/userbehavior":        {2, []string{"pkg/aggregate"}},
	"pkg/userbehavior/script": {2, []string{"pkg/userbehavior", "pkg/aggregate"}},
	"pkg/store":               {2, []string{"pkg/aggregate"}},
	"pkg/har":                 {2, nil}, // HAR recording → script text: nothing of ours
	// 3: the gRPC edge and its generated types; the views; the built-in target and scenarios.
	"proto":         {3, nil},
	"pkg/cluster":   {3, []string{"proto", "pkg/aggregate", "pkg/scheduler", "pkg/userbehavior", "pkg/telemetry"}},
	"pkg/report":    {3, []string{"pkg/aggregate", "pkg/aggregate/threshold", "pkg/store", "pkg/telemetry"}},
	"pkg/demo":      {3, []string{"pkg/userbehavior", "pkg/aggregate"}},
	"pkg/demo/llm":  {3, nil},
	"pkg/scenarios": {3, []string{"pkg/userbehavior", "pkg/userbehavior/script", "pkg/demo", "pkg/aggregate"}},
	"pkg/export":    {3, []string{"pkg/aggregate", "pkg/aggregate/threshold", "pkg/report", "pkg/store", "pkg/telemetry"}},
	// 4: the master's run, the worker's loop, Locust workers, the dashboard.
	"pkg/controller": {4, []string{"pkg/cluster", "proto", "pkg/aggregate", "pkg/aggregate/threshold", "pkg/userbehavior",
		"pkg/scheduler", "pkg/store", "pkg/report", "pkg/telemetry", "pkg/export"}},
	"pkg/agent":  {4, []string{"pkg/cluster", "proto", "pkg/aggregate", "pkg/userbehavior", "pkg/scheduler", "pkg/telemetry"}},
	"pkg/locust": {4, []string{"pkg/cluster", "proto", "pkg/aggregate", "pkg/scheduler", "pkg/userbehavior", "pkg/telemetry"}},
	"web":        {4, []string{"pkg/aggregate", "pkg/aggregate/threshold", "pkg/store", "pkg/report", "pkg/telemetry"}},
	// A real boomer worker for pkg/locust's end-to-end test: boomer only.
	"pkg/locust/internal/boomerworker": {4, nil},
	// 5: commands and their shared packages, scripts, and the tests of the whole
	// repository. A row ending in /... holds every package under it.
	"cmd/...":        {top, nil},
	"scripts/...":    {top, nil},
	"deploy/k8s":     {top, nil},
	"deploy/grafana": {top, nil},
	"examples/...":   {top, nil},
	"pkg":            {top, nil}, // this test
}

// edge is the one package that may import the generated protobuf package directly:
// everything else speaks the domain types it converts to.
const edge = "pkg/cluster"

// pkgImports is what `go list` says of one package: its direct imports and every
// package it depends on, both as paths inside the module (others left out).
type pkgImports struct {
	imports, deps []string
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports " "}}|{{join .Deps " "}}`, module+"/...").Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go list: %v\n%s", err, msg)
	}
	pkgs := map[string]pkgImports{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 3 {
			t.Fatalf("go list printed %q", line)
		}
		pkgs[ours(f[0])] = pkgImports{imports: oursOnly(f[1]), deps: oursOnly(f[2])}
	}
	if len(pkgs) < len(layers)/2 {
		t.Fatalf("go list found %d packages, the table has %d rows", len(pkgs), len(layers))
	}
	for _, p := range checkLayers(pkgs, layers) {
		t.Error(p)
	}
}

// TestCheckLayers shows that checkLayers fails each rule it encodes.
func TestCheckLayers(t *testing.T) {
	rows := map[string]layer{
		"pkg/aggregate": {1, nil},
		"pkg/store":     {2, []string{"pkg/aggregate"}},
		"proto":         {3, nil},
		"pkg/cluster":   {3, []string{"proto", "pkg/aggregate"}},
		"pkg/report":    {3, []string{"pkg/aggregate", "pkg/store"}},
		"cmd/...":       {top, nil},
	}
	tests := []struct {
		name string
		pkgs map[string]pkgImports
		want []string // substrings of the problems, in order
	}{
		{"as layered", map[string]pkgImports{
			"pkg/aggregate": {},
			"pkg/store":     {imports: []string{"pkg/aggregate"}, deps: []string{"pkg/aggregate"}},
			"proto":         {},
			"pkg/cluster":   {imports: []string{"proto"}, deps: []string{"proto"}},
			"pkg/report":    {imports: []string{"pkg/store"}, deps: []string{"pkg/aggregate", "pkg/store"}},
			"cmd/master":    {imports: []string{"pkg/cluster", "pkg/report"}, deps: []string{"pkg/aggregate", "pkg/cluster", "pkg/report", "pkg/store", "proto"}},
		}, nil},
		{"a new package without a row", map[string]pkgImports{
			"pkg/aggregate": {}, "pkg/store": {}, "proto": {}, "pkg/cluster": {}, "pkg/report": {}, "cmd/master": {},
			"pkg/grpcuser": {},
		}, []string{"pkg/grpcuser has no row"}},
		{"a row without a package", map[string]pkgImports{
			"pkg/aggregate": {}, "pkg/store": {}, "proto": {}, "pkg/cluster": {}, "cmd/master": {},
		}, []string{"row for pkg/report, which does not exist"}},
		{"a floor imports a higher one", map[string]pkgImports{
			"pkg/aggregate": {imports: []string{"pkg/store"}, deps: []string{"pkg/store"}},
			"pkg/store":     {}, "proto": {}, "pkg/cluster": {}, "pkg/report": {}, "cmd/master": {},
		}, []string{"pkg/aggregate (floor 1) imports pkg/store (floor 2)", "pkg/aggregate imports pkg/store, which its row does not allow"}},
		{"a package imports one its row does not name", map[string]pkgImports{
			"pkg/aggregate": {}, "pkg/store": {}, "proto": {}, "pkg/cluster": {}, "cmd/master": {},
			"pkg/report": {imports: []string{"proto"}, deps: []string{"proto"}},
		}, []string{"pkg/report imports proto, which its row does not allow", "pkg/report imports the generated protobuf package"}},
		{"something imports cmd/", map[string]pkgImports{
			"pkg/aggregate": {}, "pkg/store": {}, "proto": {}, "pkg/cluster": {}, "cmd/master": {},
			"pkg/report": {imports: []string{"cmd/master"}, deps: []string{"cmd/master"}},
		}, []string{"pkg/report (floor 3) imports cmd/master (floor 5)", "pkg/report imports cmd/master, which its row does not allow", "pkg/report imports cmd/master: nothing outside cmd/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkLayers(tt.pkgs, rows)
			if len(got) != len(tt.want) {
				t.Fatalf("problems:\n%s\nwant %d: %q", strings.Join(got, "\n"), len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
	// The table itself must keep the rule it encodes.
	for pkg, l := range layers {
		for _, m := range l.may {
			if ml, ok := layers[m]; !ok || ml.floor > l.floor {
				t.Errorf("row %s (floor %d) allows %s, which is on a higher floor or has no row", pkg, l.floor, m)
			}
		}
	}
}

// checkLayers returns every breach of rows by pkgs, sorted by package.
func checkLayers(pkgs map[string]pkgImports, rows map[string]layer) []string {
	var problems []string
	for _, pkg := range slices.Sorted(maps.Keys(pkgs)) {
		l, ok := rowOf(rows, pkg)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s has no row in layers: give it its floor (docs/architecture.md) and what it may import", pkg))
			continue
		}
		for _, d := range pkgs[pkg].deps {
			dl, ok := rowOf(rows, d)
			if ok && dl.floor > l.floor {
				problems = append(problems, fmt.Sprintf("%s (floor %d) imports %s (floor %d): a floor never imports a higher one", pkg, l.floor, d, dl.floor))
			}
			if l.floor < top && !slices.Contains(l.may, d) {
				problems = append(problems, fmt.Sprintf("%s imports %s, which its row does not allow", pkg, d))
			}
			if strings.HasPrefix(d, "cmd/") && !strings.HasPrefix(pkg, "cmd/") {
				problems = append(problems, fmt.Sprintf("%s imports %s: nothing outside cmd/ imports cmd/", pkg, d))
			}
		}
		if pkg != edge && slices.Contains(pkgs[pkg].imports, "proto") {
			problems = append(problems, fmt.Sprintf("%s imports the generated protobuf package; only %s (the edge) may", pkg, edge))
		}
	}
	for _, row := range slices.Sorted(maps.Keys(rows)) {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(pkgs)), func(pkg string) bool { return matches(row, pkg) }) {
			problems = append(problems, fmt.Sprintf("row for %s, which does not exist: update the table", row))
		}
	}
	return problems
}

// views are packages that may use the store's types but never read it: views are
// computed from values the caller read (store.DB.LoadRun), so they are pure.
var views = []string{"report"}

// TestViewsReadNoStore fails when a view package names the store's handle or
// opens the store: the query belongs next to the store, the view in pkg/report.
func TestViewsReadNoStore(t *testing.T) {
	for _, dir := range views {
		fset := token.NewFileSet()
		names, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		parsed := 0
		for _, name := range names {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			parsed++
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "store" && (sel.Sel.Name == "DB" || sel.Sel.Name == "Open") {
					t.Errorf("%s: %s.%s: a view reads no store; take the values store.DB.LoadRun read", fset.Position(sel.Pos()), x.Name, sel.Sel.Name)
				}
				return true
			})
		}
		if parsed == 0 {
			t.Fatalf("no Go files in pkg/%s", dir)
		}
	}
}

// rowOf returns the row of pkg: its own, or that of the tree it is in.
func rowOf(rows map[string]layer, pkg string) (layer, bool) {
	if l, ok := rows[pkg]; ok {
		return l, true
	}
	for row, l := range rows {
		if strings.HasSuffix(row, "/...") && matches(row, pkg) {
			return l, true
		}
	}
	return layer{}, false
}

// matches reports whether row names pkg, or a tree (dir/...) that holds it.
func matches(row, pkg string) bool {
	if dir, ok := strings.CutSuffix(row, "/..."); ok {
		return pkg == dir || strings.HasPrefix(pkg, dir+"/")
	}
	return row == pkg
}

// ours turns an import path of the module into its path inside it ("" for others).
func ours(path string) string {
	if path == module {
		return "."
	}
	p, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return ""
	}
	return p
}

func oursOnly(list string) []string {
	var out []string
	for _, p := range strings.Fields(list) {
		if o := ours(p); o != "" {
			out = append(out, o)
		}
	}
	return out
}
