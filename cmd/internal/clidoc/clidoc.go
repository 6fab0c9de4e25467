// Package clidoc writes docs/cli.md, the command-line reference, from the command
// trees of the binaries (cobra/doc), and says when the file is stale. Only tests
// import it, so the binaries do not carry the Markdown generator.
//
// Concurrency: plain functions; one writer of the file at a time.
package clidoc

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// referenceHead opens docs/cli.md; each binary's tree fills its own section.
const referenceHead = `# Command-line reference

Generated from the command trees of ` + "`master`" + ` and ` + "`worker`" + ` (cobra/doc); do not edit by hand.
Refresh it with ` + "`go test ./cmd/master ./cmd/worker -run TestCLIReference -update`" + `; the same tests fail
while it is stale.

Every flag can also be set in the environment as ` + "`STAMPEDE_NAME`" + ` (` + "`--spawn-rate`" + ` is
` + "`STAMPEDE_SPAWN_RATE`" + `), and the flags of ` + "`master`" + ` and ` + "`worker`" + ` in a ` + "`--config`" + ` file of
` + "`name = value`" + ` lines; the command line wins over the environment, which wins over the file.
Exit codes: 0 done, 1 failure, 2 usage error; a headless run adds 3 (a threshold failed),
4 (aborted), 5 (it sent no request, or a worker died or left with an error: the stored run says
why), and ` + "`--exit-code-on-error`" + ` (default 1) when requests failed or tasks raised (a dry run too).

- [master](#master)
- [worker](#worker)
`

// Markdown is the Markdown of root and every command below it, one "##" section
// each, linked by anchors, for a section of docs/cli.md.
func Markdown(root *cobra.Command) ([]byte, error) {
	root.InitDefaultCompletionCmd()
	root.DisableAutoGenTag = true
	var out bytes.Buffer
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		if !c.IsAvailableCommand() && c != root {
			return nil
		}
		c.DisableAutoGenTag = true
		if err := doc.GenMarkdownCustom(c, &out, anchor); err != nil {
			return err
		}
		for _, sub := range c.Commands() {
			if err := walk(sub); err != nil {
				return err
			}
		}
		return nil
	}
	err := walk(root)
	return out.Bytes(), err
}

// anchor turns cobra/doc's per-command file link (master_runs_compare.md) into the
// anchor of that command's section in the one reference page (#master-runs-compare).
func anchor(file string) string {
	return "#" + strings.ReplaceAll(strings.TrimSuffix(file, ".md"), "_", "-")
}

// Update writes root's section of the reference file at path (when update
// is true) or returns an error when the file's section differs from the tree.
func Update(path string, root *cobra.Command, update bool) error {
	body, err := Markdown(root)
	if err != nil {
		return err
	}
	old, err := os.ReadFile(path)
	if err != nil && !(update && os.IsNotExist(err)) {
		return err
	}
	name := root.Name()
	begin, end := "<!-- BEGIN "+name+" -->\n", "<!-- END "+name+" -->\n"
	section := begin + string(body) + end
	doc := string(old)
	if !strings.HasPrefix(doc, referenceHead) {
		doc = referenceHead + sectionsOf(doc)
	}
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	var next string
	if i >= 0 && j > i {
		next = doc[:i] + section + doc[j+len(end):]
	} else {
		next = doc + "\n" + section
	}
	if next == string(old) {
		return nil
	}
	if !update {
		return fmt.Errorf("%s is stale for %s: run go test ./cmd/%s -run TestCLIReference -update", path, name, name)
	}
	return os.WriteFile(path, []byte(next), 0o644)
}

// sectionsOf keeps the generated sections of an older file (from its first BEGIN).
func sectionsOf(doc string) string {
	if i := strings.Index(doc, "<!-- BEGIN "); i >= 0 {
		return "\n" + doc[i:]
	}
	return ""
}
