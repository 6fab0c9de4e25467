package threshold

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Verdict describes r in one line: what was observed against what limit, or why there is no
// verdict: "observed 523.1ms, limit 100ms", "observed 91% on w2, limit 85%",
// "observed 2ms, limit 2.2ms (baseline 2ms × 1.1)", "no data for name=/login".
func (r Result) Verdict() string {
	if r.Err != "" {
		return r.Err
	}
	var b strings.Builder
	b.WriteString("observed " + r.ObservedText)
	if r.Threshold.Host == "*" && r.Host != "" {
		b.WriteString(" on " + r.Host)
	}
	b.WriteString(", limit " + r.LimitText)
	if r.Threshold.Baseline {
		b.WriteString(" (baseline " + r.BaselineText + " × " + formatNumber(r.Threshold.Number) + ")")
	}
	return b.String()
}

// JUnit document (the common subset of the Ant/Surefire schema that CI systems read).
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes results as JUnit XML: one testsuite named suite with one testcase per
// threshold (named by the threshold in canonical form). A failing threshold, with or without
// data, has a <failure> whose message is its Verdict; every testcase carries the observed value
// in its text. elapsed is the run's duration.
func WriteJUnit(w io.Writer, suite string, results []Result, elapsed time.Duration) error {
	secs := strconv.FormatFloat(elapsed.Seconds(), 'f', 3, 64)
	s := junitSuite{Name: suite, Tests: len(results), Time: secs}
	for _, r := range results {
		c := junitCase{Name: r.Threshold.String(), Classname: suite + ".thresholds", Time: "0", SystemOut: r.Verdict()}
		if !r.Pass {
			s.Failures++
			c.Failure = &junitFailure{Message: r.Verdict(), Type: "threshold", Text: "threshold " + r.Threshold.String() + " failed: " + r.Verdict()}
		}
		s.Cases = append(s.Cases, c)
	}
	doc := junitSuites{Name: suite, Tests: s.Tests, Failures: s.Failures, Time: secs, Suites: []junitSuite{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	return nil
}

// Summary writes a plain-text block for the terminal: a count line, then one line per
// threshold with PASS or FAIL, the threshold and its verdict.
//
//	thresholds: 1 passed, 1 failed
//	  PASS  p95<100ms         observed 52.3ms, limit 100ms
//	  FAIL  error_rate<1%     observed 2.4%, limit 1%
func Summary(w io.Writer, results []Result) error {
	passed := 0
	for _, r := range results {
		if r.Pass {
			passed++
		}
	}
	if _, err := fmt.Fprintf(w, "thresholds: %d passed, %d failed\n", passed, len(results)-passed); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range results {
		mark := "PASS"
		if !r.Pass {
			mark = "FAIL"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", mark, oneLine(r.Threshold.String()), oneLine(r.Verdict()))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// oneLine keeps a cell on its line and in its column.
func oneLine(s string) string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", " ").Replace(s)
}
