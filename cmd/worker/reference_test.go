package main

import (
	"flag"
	"io"
	"testing"

	"github.com/stampede-load/stampede/cmd/internal/clidoc"
)

var update = flag.Bool("update", false, "rewrite docs/cli.md from the command tree")

// TestCLIReference fails when docs/cli.md's worker section is not what the command
// tree generates; -update rewrites it.
func TestCLIReference(t *testing.T) {
	if err := clidoc.Update("../../docs/cli.md", newRootCommand(io.Discard, io.Discard, nil), *update); err != nil {
		t.Fatal(err)
	}
}
