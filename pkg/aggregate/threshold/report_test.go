package threshold

import (
	"bytes"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// reportResults is one of each: pass, fail, no data, worst host, baseline.
func reportResults(t *testing.T) []Result {
	t.Helper()
	ts, err := ParseAll([]string{
		"p95{name=/login}<1ms",
		"p95<1ms;abort=30s",
		"error_rate<5%",
		`p99{name="/q?a=1,2"}<300ms`,
		"worker.*.cpu<85%",
		"p95<=baseline*1.1",
	})
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Snapshot: runSnapshot(), Elapsed: 11 * time.Second, Users: 50, Telemetry: telemetry()}
	base := &Input{Snapshot: runSnapshot(), Elapsed: 10 * time.Second}
	return EvalAll(ts, in, base)
}

func TestSummary(t *testing.T) {
	var b bytes.Buffer
	if err := Summary(&b, reportResults(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "summary.golden", b.Bytes())
	if !strings.HasPrefix(b.String(), "thresholds: 2 passed, 4 failed\n") {
		t.Errorf("summary does not start with the counts:\n%s", b.String())
	}
}

// The reading side of JUnit, declared apart from the writer's types so the test checks the
// document, not the writer's own structs.
type readSuites struct {
	XMLName  xml.Name    `xml:"testsuites"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Suites   []readSuite `xml:"testsuite"`
}

type readSuite struct {
	Name     string     `xml:"name,attr"`
	Tests    int        `xml:"tests,attr"`
	Failures int        `xml:"failures,attr"`
	Errors   int        `xml:"errors,attr"`
	Time     string     `xml:"time,attr"`
	Cases    []readCase `xml:"testcase"`
}

type readCase struct {
	Name      string `xml:"name,attr"`
	Classname string `xml:"classname,attr"`
	Failure   *struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	} `xml:"failure"`
	SystemOut string `xml:"system-out"`
}

func TestWriteJUnit(t *testing.T) {
	results := reportResults(t)
	var b bytes.Buffer
	if err := WriteJUnit(&b, "checkout", results, 90500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	golden(t, "junit.golden.xml", b.Bytes())

	var doc readSuites
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("the JUnit output does not parse: %v\n%s", err, b.String())
	}
	if doc.Tests != 6 || doc.Failures != 4 || len(doc.Suites) != 1 {
		t.Fatalf("testsuites: tests=%d failures=%d suites=%d; want 6, 4, 1", doc.Tests, doc.Failures, len(doc.Suites))
	}
	s := doc.Suites[0]
	if s.Name != "checkout" || s.Tests != 6 || s.Failures != 4 || s.Errors != 0 || s.Time != "90.500" || len(s.Cases) != 6 {
		t.Fatalf("testsuite = %+v", s)
	}
	for i, c := range s.Cases {
		r := results[i]
		if c.Name != r.Threshold.String() || c.Classname != "checkout.thresholds" {
			t.Errorf("case %d: name %q classname %q, want %q", i, c.Name, c.Classname, r.Threshold.String())
		}
		if (c.Failure != nil) == r.Pass {
			t.Errorf("case %s: failure element %v, pass %v", c.Name, c.Failure != nil, r.Pass)
		}
		if r.Err == "" && !strings.Contains(c.SystemOut, r.ObservedText) {
			t.Errorf("case %s: system-out %q lacks the observed value %q", c.Name, c.SystemOut, r.ObservedText)
		}
		if c.Failure != nil && (c.Failure.Type != "threshold" || c.Failure.Message != r.Verdict() || !strings.Contains(c.Failure.Text, c.Name)) {
			t.Errorf("case %s: failure %+v", c.Name, *c.Failure)
		}
	}
	if got := s.Cases[3].Failure.Message; got != `no data for name="/q?a=1,2"` {
		t.Errorf("no-data failure message = %q", got)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestReportWriteErrors(t *testing.T) {
	if err := WriteJUnit(failingWriter{}, "s", reportResults(t), time.Second); err == nil {
		t.Error("WriteJUnit on a failing writer returned nil")
	}
	if err := Summary(failingWriter{}, reportResults(t)); err == nil {
		t.Error("Summary on a failing writer returned nil")
	}
}
