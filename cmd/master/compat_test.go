package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
)

// storeFixture is a store written by main at commit 82f1a9d (two headless --demo
// runs) with what that commit's binary printed for it, TZ=UTC: `runs list`,
// `runs show RUN` and the data embedded in `report RUN` (its report-data JSON).
const storeFixture = "../../pkg/store/testdata/main-82f1a9d"

var fixtureRunIDs = []string{"20261208-005813-315d", "20261208-005821-8358"}

// TestShowsStoreOfPreviousMain: today's binary opens a store written by the previous
// main and shows its runs exactly as that main did: the list, each run's settings,
// table, thresholds and events, and its report's summary, interval series, host
// telemetry, warnings and events.
func TestShowsStoreOfPreviousMain(t *testing.T) {
	master, _ := binaries(t)
	b, err := os.ReadFile(filepath.Join(storeFixture, "stampede.bbolt"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "stampede.db") // a copy: the fixture stays as written
	if err := os.WriteFile(db, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(master, append(args, "--db", db)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TZ=UTC"}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("master %q: %v\n%s", args, err, out)
		}
		return string(out)
	}
	golden := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(storeFixture, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	if got, want := cli("runs", "list"), golden("runs-list.txt"); got != want {
		t.Errorf("runs list:\n%s\nthe previous main printed:\n%s", got, want)
	}
	reportData := regexp.MustCompile(`(?s)<script type="application/json" id="report-data">(.*?)</script>`)
	for _, id := range fixtureRunIDs {
		if got, want := cli("runs", "show", id), golden("runs-show-"+id+".txt"); got != want {
			t.Errorf("runs show %s:\n%s\nthe previous main printed:\n%s", id, got, want)
		}
		out := filepath.Join(dir, id+".html")
		cli("report", id, "-o", out)
		html, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		m := reportData.FindSubmatch(html)
		if m == nil {
			t.Fatalf("report %s: no report-data", id)
		}
		var got, want map[string]any
		if err := json.Unmarshal(m[1], &got); err != nil {
			t.Fatalf("report %s: %v", id, err)
		}
		if err := json.Unmarshal([]byte(golden("report-data-"+id+".json")), &want); err != nil {
			t.Fatal(err)
		}
		for k := range want {
			if !reflect.DeepEqual(got[k], want[k]) {
				t.Errorf("report %s: %q differs from the previous main's\n got: %v\nwant: %v", id, k, got[k], want[k])
			}
		}
		if len(got) != len(want) {
			t.Errorf("report %s: keys %d, the previous main's %d", id, len(got), len(want))
		}
	}
}
