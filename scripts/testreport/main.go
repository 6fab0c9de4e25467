// Command testreport reads `go test -json` on its standard input and prints what a
// plain `go test` would: the full output of every test that failed (subtests
// included), the build errors, "ok"/"FAIL" per package; then the slowest tests,
// so that the suite's growth is visible, and one closing count line. It exits 1
// when any test or build failed, or when a package's output ended without a
// result (a test binary that crashed or was killed); 0 otherwise.
//
//	set -o pipefail; go test -race -count=1 -json ./... | go run ./scripts/testreport
//
// -summary FILE writes the closing summary to FILE as well: make test prints it again
// after its later steps.
//
// Input lines that are not JSON (the go command's own messages) are copied as they
// are. A test's output is held until the test ends and shown only when it failed;
// a package's, until the package ends.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

func main() {
	slowest := flag.Int("slowest", 10, "how many of the slowest top-level tests to list")
	summary := flag.String("summary", "", "also write the closing summary (slowest tests, failures, count) to this file, for a later step to print")
	flag.Parse()
	var sum bytes.Buffer
	ok := report(os.Stdin, os.Stdout, *slowest, &sum)
	if *summary != "" {
		if err := os.WriteFile(*summary, sum.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			ok = false
		}
	}
	if !ok {
		os.Exit(1)
	}
}

// event is one line of `go test -json` (cmd/test2json), with the build events of Go 1.24.
type event struct {
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	ImportPath  string // build-output, build-fail
	FailedBuild string
}

// timing is how long one top-level test took.
type timing struct {
	pkg, test string
	seconds   float64
}

// pkgState is what is held of one package until it ends.
type pkgState struct {
	output []string            // package-level output
	tests  map[string][]string // top-level test → its output and its subtests'
	order  []string            // top-level tests as they started
}

// report copies in to out as described in the package comment and reports whether
// everything passed. The closing summary goes to summary too.
func report(in io.Reader, out io.Writer, slowest int, summary io.Writer) bool {
	w := bufio.NewWriter(out)
	defer w.Flush()
	pkgs := map[string]*pkgState{}
	state := func(pkg string) *pkgState {
		p := pkgs[pkg]
		if p == nil {
			p = &pkgState{tests: map[string][]string{}}
			pkgs[pkg] = p
		}
		return p
	}
	var timings []timing
	var failedTests, failedPkgs []string
	passed, failed, skipped := 0, 0, 0
	ok := true
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20) // a test may print long lines
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil || e.Action == "" {
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		top, _, _ := strings.Cut(e.Test, "/")
		switch e.Action {
		case "build-output":
			w.WriteString(e.Output)
		case "build-fail":
			ok = false
		case "start":
			state(e.Package)
		case "output":
			p := state(e.Package)
			if e.Test == "" {
				p.output = append(p.output, e.Output)
				continue
			}
			if _, seen := p.tests[top]; !seen {
				p.order = append(p.order, top)
			}
			p.tests[top] = append(p.tests[top], e.Output)
		case "pass", "fail", "skip":
			if e.Test == "" { // the package ends
				p := state(e.Package)
				endPackage(w, e, p)
				if e.Action == "fail" {
					ok = false
					failedPkgs = append(failedPkgs, e.Package)
				}
				delete(pkgs, e.Package)
				w.Flush() // progress, package by package
				continue
			}
			if e.Test != top { // a subtest: its parent tells
				continue
			}
			p := state(e.Package)
			timings = append(timings, timing{e.Package, e.Test, e.Elapsed})
			switch e.Action {
			case "pass":
				passed++
			case "skip":
				skipped++
			case "fail":
				failed++
				ok = false
				failedTests = append(failedTests, e.Package+" "+e.Test)
				for _, o := range p.tests[top] {
					w.WriteString(o)
				}
				w.Flush()
			}
			delete(p.tests, top)
			p.order = slices.DeleteFunc(p.order, func(t string) bool { return t == top })
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(w, "testreport: reading go test's output: %v\n", err)
		ok = false
	}
	// A package that started and never ended: its test binary died, or go test did.
	for _, pkg := range slices.Sorted(maps.Keys(pkgs)) {
		p := pkgs[pkg]
		for _, t := range p.order {
			for _, o := range p.tests[t] {
				w.WriteString(o)
			}
		}
		for _, o := range p.output {
			w.WriteString(o)
		}
		fmt.Fprintf(w, "FAIL\t%s\t(the output ended without the package's result)\n", pkg)
		failedPkgs = append(failedPkgs, pkg)
		ok = false
	}
	var sum bytes.Buffer
	printSlowest(&sum, timings, slowest)
	if len(failedTests) > 0 || len(failedPkgs) > 0 {
		fmt.Fprintf(&sum, "\nfailed: %d tests, %d packages\n", len(failedTests), len(failedPkgs))
		for _, t := range failedTests {
			fmt.Fprintf(&sum, "  FAIL %s\n", t)
		}
		for _, p := range failedPkgs {
			fmt.Fprintf(&sum, "  FAIL %s\n", p)
		}
	}
	fmt.Fprintf(&sum, "tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	w.Write(sum.Bytes())
	summary.Write(sum.Bytes())
	return ok
}

// endPackage prints the end of a package as plain go test does: its "ok" or "?"
// line when it passed or had no tests, everything it printed when it failed (with
// the output of tests that never ended: a panic, a timeout).
func endPackage(w *bufio.Writer, e event, p *pkgState) {
	if e.Action != "fail" {
		for _, o := range p.output {
			if strings.HasPrefix(o, "ok ") || strings.HasPrefix(o, "?   ") {
				w.WriteString(o)
			}
		}
		return
	}
	for _, t := range p.order {
		for _, o := range p.tests[t] {
			w.WriteString(o)
		}
	}
	for _, o := range p.output {
		w.WriteString(o)
	}
}

func printSlowest(w io.Writer, timings []timing, n int) {
	if n <= 0 || len(timings) == 0 {
		return
	}
	slices.SortStableFunc(timings, func(a, b timing) int { return cmp.Compare(b.seconds, a.seconds) })
	n = min(n, len(timings))
	fmt.Fprintf(w, "\nslowest %d of %d tests:\n", n, len(timings))
	for _, t := range timings[:n] {
		fmt.Fprintf(w, "  %8.2fs  %s %s\n", t.seconds, shortPkg(t.pkg), t.test)
	}
}

// shortPkg drops the module path, which every package of ours shares.
func shortPkg(pkg string) string {
	return strings.TrimPrefix(pkg, "github.com/stampede-load/stampede/")
}
