package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stampede-load/stampede/cmd/internal/clidoc"
)

var update = flag.Bool("update", false, "rewrite docs/cli.md from the command tree")

// TestCLIReference fails when docs/cli.md's master section is not what the command
// tree generates; -update rewrites it.
func TestCLIReference(t *testing.T) {
	if err := clidoc.Update("../../docs/cli.md", newRootCommand(io.Discard, io.Discard), *update); err != nil {
		t.Fatal(err)
	}
}

// flagToken is a long flag as the docs write it: --spawn-rate, --db=FILE.
var flagToken = regexp.MustCompile("(?:^|[\\s`(\"'\\[])--([a-z][a-z0-9-]*[a-z0-9])")

// foreignFlags are flags of other programs the docs show: locust, kubectl, docker,
// stress-ng, prometheus. Add one here only for another program's command line.
var foreignFlags = []string{"master-host", "master-port", "from-file", "from-literal", "replicas", "target", "cpu",
	"storage", "web", "enable-feature"} // prometheus --storage.tsdb.path, --web.listen-address, ... (docs/export.md)

// TestDocsNameRealFlags: every --flag the README and docs/*.md mention exists in
// the generated reference (the command trees), or is another program's.
func TestDocsNameRealFlags(t *testing.T) {
	ref, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, m := range flagToken.FindAllStringSubmatch(string(ref), -1) {
		known[m[1]] = true
	}
	for _, name := range []string{"users", "db", "master", "token"} { // a few of each binary
		if !known[name] {
			t.Fatalf("docs/cli.md does not list --%s: the reference is incomplete", name)
		}
	}
	docs, _ := filepath.Glob("../../docs/*.md")
	docs = append(docs, "../../README.md")
	for _, path := range docs {
		if filepath.Base(path) == "cli.md" {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for n, line := range strings.Split(string(data), "\n") {
			for _, m := range flagToken.FindAllStringSubmatch(line, -1) {
				if !known[m[1]] && !slices.Contains(foreignFlags, m[1]) {
					t.Errorf("%s:%d: --%s is no flag of master or worker (docs/cli.md)", filepath.Base(path), n+1, m[1])
				}
			}
		}
	}
}

// TestReadmeIsAGuide: the README stays short (references live in docs/) and its
// links into the repository lead somewhere.
func TestReadmeIsAGuide(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 15<<10 {
		t.Errorf("README.md is %d bytes, over 15 KiB: move references into docs/", len(data))
	}
	for _, m := range regexp.MustCompile(`\]\(([^)#:]+)\)`).FindAllStringSubmatch(string(data), -1) {
		if _, err := os.Stat(filepath.Join("../..", m[1])); err != nil {
			t.Errorf("README links %s: %v", m[1], err)
		}
	}
}
