// Package layering_test keeps the import rules of DESIGN.md and STYLE.md from rotting:
// it asks `go list -deps` what each package really imports.
package layering_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/stampede-load/stampede"

// allowed lists, per package, the packages of ours it may import (directly or not).
// A package missing here may import nothing of ours except what its row says.
var allowed = map[string][]string{
	"pkg/aggregate":           {},
	"pkg/aggregate/threshold": {"pkg/aggregate"},
	"pkg/scheduler":           {},
	"pkg/telemetry":           {},
	"pkg/flagenv":             {},
	"pkg/store":               {"pkg/aggregate"},
	"pkg/userbehavior":        {"pkg/aggregate"},
	"pkg/report":              {"pkg/aggregate", "pkg/aggregate/threshold", "pkg/store", "pkg/telemetry"},
	"pkg/demo":                {"pkg/userbehavior", "pkg/aggregate"},
	"pkg/userbehavior/script": {"pkg/userbehavior", "pkg/aggregate"},
	"web":                     {"pkg/aggregate", "pkg/aggregate/threshold", "pkg/store", "pkg/report", "pkg/telemetry"},
	"pkg/scenarios":           {"pkg/userbehavior", "pkg/userbehavior/script", "pkg/demo", "pkg/aggregate"},
	"pkg/cluster":             {"proto", "pkg/aggregate", "pkg/userbehavior", "pkg/telemetry"},
	"pkg/agent":               {"pkg/cluster", "proto", "pkg/aggregate", "pkg/userbehavior", "pkg/scheduler", "pkg/telemetry"},
	"pkg/locust":              {"pkg/cluster", "proto", "pkg/aggregate", "pkg/userbehavior", "pkg/telemetry"},
	"pkg/controller": {"pkg/cluster", "proto", "pkg/aggregate", "pkg/aggregate/threshold", "pkg/userbehavior", "pkg/scheduler",
		"pkg/store", "pkg/report", "pkg/telemetry"},
	// The benchmark driver drives the master's pieces directly (and the demo target).
	"scripts/bench": {"pkg/agent", "pkg/cluster", "proto", "pkg/controller", "pkg/aggregate", "pkg/aggregate/threshold",
		"pkg/userbehavior", "pkg/scheduler", "pkg/store", "pkg/report", "pkg/telemetry", "pkg/demo"},
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		seen[pkg] = true
		ok := map[string]bool{}
		rules, ruled := allowed[pkg]
		for _, a := range rules {
			ok[a] = true
		}
		for _, dep := range fields[1:] {
			if !strings.HasPrefix(dep, module+"/") {
				continue
			}
			d := strings.TrimPrefix(dep, module+"/")
			switch {
			case ruled && !ok[d]:
				t.Errorf("%s imports %s, which the layering forbids", pkg, d)
			case !ruled && d == "proto" && !strings.HasPrefix(pkg, "cmd/"):
				t.Errorf("%s imports the generated protobuf package; only pkg/cluster (the edge) may", pkg)
			}
		}
	}
	for pkg := range allowed {
		if !seen[pkg] {
			t.Errorf("rule for %s, which does not exist: update the table", pkg)
		}
	}
}
